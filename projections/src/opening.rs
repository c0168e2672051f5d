//! Opening sealed events on the read side: every reader of the log (the daemon, the embedded
//! projector, a rebuild, history and "as of" queries) goes through here, so a shredded event
//! is handled the same way everywhere — skipped by projections, absent from answers.

use std::collections::HashMap;
use std::sync::Arc;

use pika_domain::personal_data::{
    EventIdentity, SealedRecord, SealedText, open_event, open_records,
};
use pika_domain::{DataKey, DataKeyStore, Opened};
use serde_json::Value;
use uuid::Uuid;

use crate::ProjectionError;
use crate::event_log::RecordedEvent;

impl SealedRecord for RecordedEvent {
    fn parts(&mut self) -> (EventIdentity<'_>, &str, &mut Value) {
        (
            EventIdentity {
                aggregate_type: &self.aggregate_type,
                aggregate_id: &self.aggregate_id,
                sequence: self.sequence,
            },
            &self.event_type,
            &mut self.payload,
        )
    }
}

/// Opens a batch in place (one key read for the batch) and marks the events whose key was
/// destroyed, which every projection then skips.
pub async fn open_recorded(
    keys: &dyn DataKeyStore,
    events: &mut [RecordedEvent],
) -> Result<(), ProjectionError> {
    let outcomes = open_records(keys, events).await?;
    for (event, outcome) in events.iter_mut().zip(outcomes) {
        event.shredded = outcome == Opened::Shredded;
    }
    Ok(())
}

/// Opens a long stream (a rebuild) chunk by chunk: the keys a chunk needs are fetched in one
/// read and remembered, or their absence, for the rest of the stream. For a projection that
/// reads no personal data nothing is fetched or decrypted: the fields become placeholders.
#[derive(Debug)]
pub struct StreamOpener {
    store: Arc<dyn DataKeyStore>,
    known: HashMap<Uuid, DataKey>,
    destroyed: std::collections::HashSet<Uuid>,
    personal: bool,
}

impl StreamOpener {
    pub fn new(store: Arc<dyn DataKeyStore>, personal: bool) -> Self {
        Self {
            store,
            known: HashMap::new(),
            destroyed: std::collections::HashSet::new(),
            personal,
        }
    }

    /// Fetches, in one read, those of `key_ids` not seen before.
    pub async fn prefetch(
        &mut self,
        key_ids: impl Iterator<Item = Uuid>,
    ) -> Result<(), ProjectionError> {
        if !self.personal {
            return Ok(());
        }
        let mut wanted: Vec<Uuid> = key_ids
            .filter(|id| !self.known.contains_key(id) && !self.destroyed.contains(id))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        wanted.sort_unstable();
        wanted.dedup();
        let found = self.store.opening_keys(&wanted).await?;
        for id in wanted {
            if !found.contains_key(&id) {
                self.destroyed.insert(id);
            }
        }
        self.known.extend(found);
        Ok(())
    }

    /// [`Self::open`] on a payload's text: the opened text, or `None` when the projection
    /// must skip the event.
    pub fn open_text(
        &self,
        identity: EventIdentity<'_>,
        sealed: SealedText<'_>,
    ) -> Result<Option<String>, ProjectionError> {
        let none = HashMap::new();
        let keys = if self.personal { &self.known } else { &none };
        let (opened, text) = sealed
            .open(identity, keys)
            .map_err(pika_domain::KeyStoreError::from)?;
        Ok((!self.personal || opened != Opened::Shredded).then_some(text))
    }

    /// Opens `payload` in place with the prefetched keys (or puts placeholders in for a
    /// projection that reads no personal data); `false` when its key was destroyed and the
    /// projection reads personal data, so it must skip the event.
    pub fn open(
        &self,
        identity: EventIdentity<'_>,
        event_type: &str,
        payload: &mut Value,
    ) -> Result<bool, ProjectionError> {
        let none = HashMap::new();
        let keys = if self.personal { &self.known } else { &none };
        let opened = open_event(identity, event_type, payload, keys)
            .map_err(pika_domain::KeyStoreError::from)?;
        Ok(!self.personal || opened != Opened::Shredded)
    }
}

/// Opens events read for an answer (history, "as of") and drops the shredded ones: what a
/// forgotten user said is never served.
pub async fn readable(
    keys: &dyn DataKeyStore,
    mut events: Vec<RecordedEvent>,
) -> Result<Vec<RecordedEvent>, ProjectionError> {
    open_recorded(keys, &mut events).await?;
    events.retain(|event| !event.shredded);
    Ok(events)
}

/// Opens a user's log entries in place (shredded ones keep their placeholders, so a commit's
/// events still all decode).
pub async fn open_user_log(
    keys: &dyn DataKeyStore,
    aggregate_id: &str,
    entries: Vec<crate::read_store::UserLogEntry>,
) -> Result<Vec<crate::read_store::UserLogEntry>, ProjectionError> {
    let mut events: Vec<RecordedEvent> = entries
        .into_iter()
        .map(|entry| RecordedEvent {
            position: crate::event_log::LogPosition {
                transaction_id: 0,
                global_position: entry.position,
            },
            aggregate_type: "UserMemory".to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            sequence: entry.sequence,
            event_type: entry
                .payload
                .as_object()
                .and_then(|object| object.keys().next().cloned())
                .unwrap_or_default(),
            event_version: String::new(),
            payload: entry.payload,
            metadata: serde_json::json!({ "correlation_id": entry.correlation_id }),
            shredded: false,
        })
        .collect();
    open_recorded(keys, &mut events).await?;
    Ok(events
        .into_iter()
        .map(|event| crate::read_store::UserLogEntry {
            sequence: event.sequence,
            position: event.position.global_position,
            correlation_id: event
                .metadata
                .get("correlation_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            payload: event.payload,
        })
        .collect())
}
