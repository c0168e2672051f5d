//! Personal data in the append-only log, sealed so that forgetting a user can make it unreadable
//! everywhere at once (crypto-shredding).
//!
//! The log is never rewritten, and backups keep it for years; deleting rows cannot honour an
//! erasure request. So every personal field of an event (what was said, fact values and texts,
//! notes, client metadata) is encrypted with a data key of its owner, and the data key is kept
//! only wrapped by the master key. Destroying the data key makes every copy of those fields
//! unreadable, while ids, fact keys, kinds and times stay clear for operations and audits.
//!
//! This module is the pure part: which fields are personal, the sealed format, and AES-256-GCM
//! with the event's identity as associated data (a sealed field moved to another event does not
//! open). Where keys live is the [`DataKeyStore`] port.

use std::collections::HashMap;

mod keys;
mod text;
pub use keys::{DataKey, MasterKey};
pub use text::SealedText;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The field that carries a payload's sealed fields, beside the fields left clear.
pub const SEALED_FIELD: &str = "sealed";

/// What a shredded text reads as: events stay decodable (sequences and shapes intact) while
/// the words are gone.
pub const FORGOTTEN_TEXT: &str = "[forgotten]";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("bad key: {0}")]
    BadKey(String),
    /// A sealed field was altered, moved to another event, or sealed with another key.
    #[error("a sealed payload does not open: altered, moved or sealed under another key")]
    Tampered,
    #[error("a data key does not open with this master key")]
    WrongMasterKey,
    #[error("a sealed payload is malformed: {0}")]
    Malformed(String),
}

/// Which key of an owner seals a payload: facts live as long as the user, conversations are
/// sealed by the day they were stored so retention can shred old days and keep the facts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyScope {
    Facts,
    ConversationsOf(chrono::NaiveDate),
}

impl KeyScope {
    pub fn conversations_at(at: DateTime<Utc>) -> Self {
        Self::ConversationsOf(at.date_naive())
    }

    /// As stored: `facts` or `conversations/2026-11-27` (sorts by day).
    pub fn as_text(&self) -> String {
        match self {
            Self::Facts => "facts".to_owned(),
            Self::ConversationsOf(day) => format!("conversations/{day}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyStoreError {
    #[error("key store unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// Where data keys live (wrapped), one adapter per storage backend. Destroying a user's keys
/// is done by the store itself in the transaction that records `UserForgotten`.
#[async_trait]
pub trait DataKeyStore: Send + Sync + std::fmt::Debug {
    /// The key new personal data of `owner` (a `tenant/user` id) in `scope` is sealed with,
    /// created on first use.
    async fn sealing_key(
        &self,
        owner: &str,
        scope: &KeyScope,
    ) -> Result<(Uuid, DataKey), KeyStoreError>;

    /// Like [`Self::sealing_key`], for a commit that can store a new key's row in its own
    /// transaction: a missing key comes back unstored, so a new user's first commit costs no
    /// separate write. Stores whose event log cannot take the row store it at once.
    async fn sealing_key_for_commit(
        &self,
        owner: &str,
        scope: &KeyScope,
    ) -> Result<SealingKey, KeyStoreError> {
        let (id, key) = self.sealing_key(owner, scope).await?;
        Ok(SealingKey::Stored(id, key))
    }

    /// Those of `ids` whose keys still exist; an absent id was destroyed (shredded).
    async fn opening_keys(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, DataKey>, KeyStoreError>;
}

/// A sealing key as a commit receives it.
#[derive(Debug, Clone)]
pub enum SealingKey {
    Stored(Uuid, DataKey),
    /// Made for this commit; the commit stores the row or the key never existed. Two commits
    /// making one owner's key at once clash on `(owner, scope)` and the loser is retried.
    Unstored(UnstoredDataKey),
}

/// The row of a data key not yet stored, its key already wrapped by the master key.
#[derive(Debug, Clone)]
pub struct UnstoredDataKey {
    pub id: Uuid,
    pub key: DataKey,
    pub owner: String,
    pub scope: String,
    pub wrapped: Vec<u8>,
}

/// A key store seen through a process-local cache of the keys it opened, for readers that
/// may keep a key for a while after it is destroyed (the aggregate of a user's memory, the
/// live projection daemon: what such a key still opens came before the `UserForgotten` that
/// destroyed it, and that event empties what it fed). Never for answers or job conversations.
#[derive(Debug, Clone)]
pub struct CachedOpeningKeys {
    store: std::sync::Arc<dyn DataKeyStore>,
    cache: moka::sync::Cache<Uuid, DataKey>,
}

impl CachedOpeningKeys {
    const CAPACITY: u64 = 100_000;
    const TIME_TO_LIVE: std::time::Duration = std::time::Duration::from_secs(300);

    pub fn new(store: std::sync::Arc<dyn DataKeyStore>) -> Self {
        Self {
            store,
            cache: moka::sync::Cache::builder()
                .max_capacity(Self::CAPACITY)
                .time_to_live(Self::TIME_TO_LIVE)
                .build(),
        }
    }

    /// The store behind the cache, for readers that must see a destruction at once.
    pub fn store(&self) -> &std::sync::Arc<dyn DataKeyStore> {
        &self.store
    }
}

#[async_trait]
impl DataKeyStore for CachedOpeningKeys {
    async fn sealing_key(
        &self,
        owner: &str,
        scope: &KeyScope,
    ) -> Result<(Uuid, DataKey), KeyStoreError> {
        self.store.sealing_key(owner, scope).await
    }

    async fn sealing_key_for_commit(
        &self,
        owner: &str,
        scope: &KeyScope,
    ) -> Result<SealingKey, KeyStoreError> {
        self.store.sealing_key_for_commit(owner, scope).await
    }

    async fn opening_keys(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, DataKey>, KeyStoreError> {
        let mut found: HashMap<Uuid, DataKey> = ids
            .iter()
            .filter_map(|id| self.cache.get(id).map(|key| (*id, key)))
            .collect();
        let missing: Vec<Uuid> = ids
            .iter()
            .filter(|id| !found.contains_key(id))
            .copied()
            .collect();
        if !missing.is_empty() {
            for (id, key) in self.store.opening_keys(&missing).await? {
                self.cache.insert(id, key.clone());
                found.insert(id, key);
            }
        }
        Ok(found)
    }
}

/// Where an event sits in the log: what a sealed payload is bound to.
#[derive(Debug, Clone, Copy)]
pub struct EventIdentity<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
}

impl EventIdentity<'_> {
    fn aad(&self) -> Vec<u8> {
        format!(
            "{}/{}/{}",
            self.aggregate_type, self.aggregate_id, self.sequence
        )
        .into_bytes()
    }
}

/// The event types that carry personal fields (see [`personal_fields`]).
pub const PERSONAL_EVENT_TYPES: [&str; 4] =
    ["FactAdded", "FactUpdated", "FactRetracted", "Submitted"];

/// The personal fields of each event type (paths inside the event's object), and what each
/// reads as once shredded.
/// A personal field's path and what it reads as once shredded.
type PersonalField = (&'static str, fn() -> Value);

fn personal_fields(event_type: &str) -> &'static [PersonalField] {
    fn text() -> Value {
        Value::from(FORGOTTEN_TEXT)
    }
    fn conversation() -> Value {
        json!([{ "role": "system", "content": FORGOTTEN_TEXT }])
    }
    fn object() -> Value {
        json!({})
    }
    fn none() -> Value {
        Value::Null
    }
    match event_type {
        "FactAdded" => &[("value", text), ("text", text)],
        "FactUpdated" => &[("old_value", text), ("new_value", text), ("text", text)],
        "FactRetracted" => &[("value", text), ("reason/note", none)],
        "Submitted" => &[("conversation", conversation), ("metadata", object)],
        _ => &[],
    }
}

/// Whose key seals an event: the user of a `UserMemory` aggregate, or the user a job was
/// submitted for. `None` for events with nothing personal.
pub fn event_owner(
    aggregate_type: &str,
    aggregate_id: &str,
    event_type: &str,
    payload: &Value,
    at: DateTime<Utc>,
) -> Option<(String, KeyScope)> {
    if personal_fields(event_type).is_empty() {
        return None;
    }
    if aggregate_type == "UserMemory" {
        return Some((aggregate_id.to_owned(), KeyScope::Facts));
    }
    let body = payload.get(event_type)?;
    let tenant = body.get("tenant")?.as_str()?;
    let user = body.get("user_id")?.as_str()?;
    Some((format!("{tenant}/{user}"), KeyScope::conversations_at(at)))
}

/// The object holding the field at `path` (`reason/note`), and the field's name.
fn parent_of<'v>(
    body: &'v mut Value,
    path: &'v str,
) -> Option<(&'v mut Map<String, Value>, &'v str)> {
    let (parent, leaf) = match path.rsplit_once('/') {
        Some((parent, leaf)) => (body.pointer_mut(&format!("/{parent}"))?, leaf),
        None => (body, path),
    };
    parent.as_object_mut().map(|object| (object, leaf))
}

/// Moves the personal fields of `payload` (`{"<EventType>": {...}}`) into one sealed field.
/// Returns whether anything was sealed.
pub fn seal_event(
    identity: EventIdentity<'_>,
    event_type: &str,
    payload: &mut Value,
    key_id: Uuid,
    key: &DataKey,
) -> bool {
    let Some(body) = payload.get_mut(event_type) else {
        return false;
    };
    let mut plain = Map::new();
    for (path, _) in personal_fields(event_type) {
        if let Some((parent, leaf)) = parent_of(body, path)
            && let Some(value) = parent.remove(leaf)
        {
            plain.insert((*path).to_owned(), value);
        }
    }
    if plain.is_empty() {
        return false;
    }
    let fields: Vec<&String> = plain.keys().collect();
    let fields = json!(fields);
    let bytes = serde_json::to_vec(&plain).unwrap_or_default();
    let mut sealed = envelope(key_id, &key.seal(&bytes, &identity.aad()));
    sealed["fields"] = fields;
    if let Some(object) = body.as_object_mut() {
        object.insert(SEALED_FIELD.to_owned(), sealed);
    }
    true
}

fn envelope(key_id: Uuid, sealed: &[u8]) -> Value {
    json!({ "key": key_id.to_string(), "data": BASE64.encode(sealed) })
}

fn parse_envelope(envelope: &Value) -> Result<(Uuid, Vec<u8>), SealError> {
    let malformed = |what: &str| SealError::Malformed(what.to_owned());
    let key = envelope
        .get("key")
        .and_then(Value::as_str)
        .and_then(|k| k.parse().ok())
        .ok_or_else(|| malformed("no key id"))?;
    let data = envelope
        .get("data")
        .and_then(Value::as_str)
        .and_then(|d| BASE64.decode(d).ok())
        .ok_or_else(|| malformed("no data"))?;
    Ok((key, data))
}

/// The key a sealed event or snapshot needs, if it is sealed.
pub fn sealed_key_id(payload: &Value) -> Option<Uuid> {
    let envelope = match payload.get(SEALED_FIELD) {
        Some(envelope) => envelope,
        None => payload
            .as_object()
            .filter(|object| object.len() == 1)?
            .values()
            .next()?
            .get(SEALED_FIELD)?,
    };
    parse_envelope(envelope).ok().map(|(key, _)| key)
}

/// What opening found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// Nothing was sealed (an event with nothing personal, or written before sealing).
    Clear,
    /// The personal fields are back in place.
    Opened,
    /// The key was destroyed: the personal fields read as [`FORGOTTEN_TEXT`] and kin.
    Shredded,
}

/// Puts the personal fields back into `payload`, or placeholders when the key is gone.
pub fn open_event(
    identity: EventIdentity<'_>,
    event_type: &str,
    payload: &mut Value,
    keys: &HashMap<Uuid, DataKey>,
) -> Result<Opened, SealError> {
    let Some(body) = payload.get_mut(event_type).and_then(Value::as_object_mut) else {
        return Ok(Opened::Clear);
    };
    let Some(envelope) = body.remove(SEALED_FIELD) else {
        return Ok(Opened::Clear);
    };
    let (key_id, sealed) = parse_envelope(&envelope)?;
    let mut body = Value::Object(std::mem::take(body));
    let outcome = match keys.get(&key_id) {
        Some(key) => {
            let plain = key.open(&sealed, &identity.aad())?;
            let fields: Map<String, Value> =
                serde_json::from_slice(&plain).map_err(|e| SealError::Malformed(e.to_string()))?;
            for (path, value) in fields {
                if let Some((parent, leaf)) = parent_of(&mut body, &path) {
                    parent.insert(leaf.to_owned(), value);
                }
            }
            Opened::Opened
        }
        None => {
            let sealed_paths: Vec<&str> = envelope
                .get("fields")
                .and_then(Value::as_array)
                .map(|fields| fields.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for (path, placeholder) in personal_fields(event_type) {
                if sealed_paths.contains(path)
                    && let Some((parent, leaf)) = parent_of(&mut body, path)
                {
                    parent.insert(leaf.to_owned(), placeholder());
                }
            }
            Opened::Shredded
        }
    };
    payload[event_type] = body;
    Ok(outcome)
}

fn snapshot_aad(aggregate_type: &str, aggregate_id: &str) -> Vec<u8> {
    format!("{aggregate_type}/{aggregate_id}/snapshot").into_bytes()
}

/// An aggregate's snapshot sealed whole: its state is made of the events' personal fields.
pub fn seal_snapshot(
    aggregate_type: &str,
    aggregate_id: &str,
    state: &Value,
    key_id: Uuid,
    key: &DataKey,
) -> Value {
    let bytes = serde_json::to_vec(state).unwrap_or_default();
    let sealed = key.seal(&bytes, &snapshot_aad(aggregate_type, aggregate_id));
    json!({ SEALED_FIELD: envelope(key_id, &sealed) })
}

/// The state inside a sealed snapshot; `Ok(None)` when its key was destroyed, and the state
/// as it is when it was never sealed.
pub fn open_snapshot(
    aggregate_type: &str,
    aggregate_id: &str,
    snapshot: &Value,
    keys: &HashMap<Uuid, DataKey>,
) -> Result<Option<Value>, SealError> {
    let Some(envelope) = snapshot.get(SEALED_FIELD) else {
        return Ok(Some(snapshot.clone()));
    };
    let (key_id, sealed) = parse_envelope(envelope)?;
    let Some(key) = keys.get(&key_id) else {
        return Ok(None);
    };
    let plain = key.open(&sealed, &snapshot_aad(aggregate_type, aggregate_id))?;
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|e| SealError::Malformed(e.to_string()))
}

/// Whose key seals an aggregate's snapshot: a user's memory is made of their facts. Job
/// aggregates take no snapshots.
pub fn snapshot_owner(aggregate_type: &str, aggregate_id: &str) -> Option<(String, KeyScope)> {
    (aggregate_type == "UserMemory").then(|| (aggregate_id.to_owned(), KeyScope::Facts))
}

/// A stored event as each reader holds it (cqrs-es' serialized event, the projections' record),
/// so one opening routine serves every reader of the log.
pub trait SealedRecord {
    /// The event's identity and type, and its payload to open in place.
    fn parts(&mut self) -> (EventIdentity<'_>, &str, &mut Value);
}

impl SealedRecord for cqrs_es::persist::SerializedEvent {
    fn parts(&mut self) -> (EventIdentity<'_>, &str, &mut Value) {
        (
            EventIdentity {
                aggregate_type: &self.aggregate_type,
                aggregate_id: &self.aggregate_id,
                sequence: i64::try_from(self.sequence).unwrap_or(i64::MAX),
            },
            &self.event_type,
            &mut self.payload,
        )
    }
}

/// Opens every record in place with one key-store read for the whole batch; the outcome of
/// each, in order.
pub async fn open_records<R: SealedRecord + Send>(
    store: &dyn DataKeyStore,
    records: &mut [R],
) -> Result<Vec<Opened>, KeyStoreError> {
    let mut ids: Vec<Uuid> = records
        .iter_mut()
        .filter_map(|record| sealed_key_id(record.parts().2))
        .collect();
    if ids.is_empty() {
        return Ok(vec![Opened::Clear; records.len()]);
    }
    ids.sort_unstable();
    ids.dedup();
    let keys = store.opening_keys(&ids).await?;
    records
        .iter_mut()
        .map(|record| {
            let (identity, event_type, payload) = record.parts();
            let event_type = event_type.to_owned();
            open_event(identity, &event_type, payload, &keys).map_err(KeyStoreError::from)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(sequence: i64) -> EventIdentity<'static> {
        EventIdentity {
            aggregate_type: "UserMemory",
            aggregate_id: "acme/kid-1",
            sequence,
        }
    }

    fn fact_added() -> Value {
        json!({"FactAdded": {"fact_id": "f1", "key": "pet.dog", "kind": "relationship",
            "value": "Mực", "text": "Em có con chó tên Mực", "confidence": 0.9}})
    }

    #[test]
    fn given_a_sealed_fact_when_opened_with_its_key_then_it_reads_as_written() {
        let (id, key) = (Uuid::now_v7(), DataKey::generate());
        let mut payload = fact_added();
        assert!(seal_event(identity(3), "FactAdded", &mut payload, id, &key));
        let stored = payload.to_string();
        assert!(
            !stored.contains("Mực") && stored.contains("pet.dog"),
            "{stored}"
        );
        assert_eq!(sealed_key_id(&payload), Some(id));
        let keys = HashMap::from([(id, key)]);
        let opened = open_event(identity(3), "FactAdded", &mut payload, &keys).unwrap();
        assert_eq!((opened, payload), (Opened::Opened, fact_added()));
    }

    #[test]
    fn given_a_sealed_fact_when_its_key_is_gone_then_it_reads_as_forgotten() {
        let (id, key) = (Uuid::now_v7(), DataKey::generate());
        let mut payload = fact_added();
        seal_event(identity(3), "FactAdded", &mut payload, id, &key);
        let opened = open_event(identity(3), "FactAdded", &mut payload, &HashMap::new()).unwrap();
        assert_eq!(opened, Opened::Shredded);
        assert_eq!(payload["FactAdded"]["value"], FORGOTTEN_TEXT);
        assert_eq!(payload["FactAdded"]["key"], "pet.dog");
        assert!(payload["FactAdded"].get(SEALED_FIELD).is_none());
    }

    #[test]
    fn given_a_sealed_field_moved_to_another_event_when_opened_then_it_is_refused() {
        let (id, key) = (Uuid::now_v7(), DataKey::generate());
        let mut payload = fact_added();
        seal_event(identity(3), "FactAdded", &mut payload, id, &key);
        let keys = HashMap::from([(id, key)]);
        let moved = open_event(identity(4), "FactAdded", &mut payload, &keys);
        assert_eq!(moved, Err(SealError::Tampered));
    }

    #[test]
    fn given_a_retraction_with_a_note_then_only_the_note_and_value_are_sealed() {
        let (id, key) = (Uuid::now_v7(), DataKey::generate());
        let original = json!({"FactRetracted": {"fact_id": "f1", "key": "name", "value": "Lan",
            "reason": {"type": "requested", "note": "Lan moved away"}}});
        let mut payload = original.clone();
        seal_event(identity(1), "FactRetracted", &mut payload, id, &key);
        assert!(!payload.to_string().contains("Lan"), "{payload}");
        assert_eq!(payload["FactRetracted"]["reason"]["type"], "requested");
        let mut shredded = payload.clone();
        open_event(identity(1), "FactRetracted", &mut shredded, &HashMap::new()).unwrap();
        assert_eq!(shredded["FactRetracted"]["reason"]["note"], Value::Null);
        let keys = HashMap::from([(id, key)]);
        open_event(identity(1), "FactRetracted", &mut payload, &keys).unwrap();
        assert_eq!(payload, original);
    }

    #[test]
    fn given_a_retraction_without_a_note_when_shredded_then_it_still_has_no_note() {
        let (id, key) = (Uuid::now_v7(), DataKey::generate());
        let mut payload = json!({"FactRetracted": {"fact_id": "f1", "key": "name",
            "value": "Lan", "reason": {"type": "negated"}}});
        seal_event(identity(1), "FactRetracted", &mut payload, id, &key);
        open_event(identity(1), "FactRetracted", &mut payload, &HashMap::new()).unwrap();
        assert_eq!(
            payload["FactRetracted"]["reason"],
            json!({"type": "negated"})
        );
    }

    #[test]
    fn given_an_event_with_nothing_personal_then_it_stays_clear() {
        let (id, key) = (Uuid::now_v7(), DataKey::generate());
        let original = json!({"UserForgotten": {"facts_retracted": 2}});
        let mut payload = original.clone();
        assert!(!seal_event(
            identity(9),
            "UserForgotten",
            &mut payload,
            id,
            &key
        ));
        assert_eq!(payload, original);
        assert_eq!(
            open_event(identity(9), "UserForgotten", &mut payload, &HashMap::new()),
            Ok(Opened::Clear)
        );
    }

    #[test]
    fn a_submitted_job_is_owned_by_its_user_and_sealed_by_day() {
        let payload = json!({"Submitted": {"tenant": "acme", "user_id": "kid-1",
            "conversation": [{"role": "user", "content": "hi"}], "metadata": {}}});
        let at = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .unwrap()
            .to_utc();
        let (owner, scope) =
            event_owner("ExtractionJob", "acme/0190", "Submitted", &payload, at).unwrap();
        assert_eq!(owner, "acme/kid-1");
        assert_eq!(scope.as_text(), "conversations/2026-11-27");
        assert_eq!(
            event_owner("ExtractionJob", "acme/0190", "Started", &json!({}), at),
            None
        );
    }

    #[test]
    fn a_snapshot_opens_with_its_key_and_reads_as_gone_without_it() {
        let (id, key) = (Uuid::now_v7(), DataKey::generate());
        let state = json!({"live": {"f1": {"value": "Mực"}}});
        let sealed = seal_snapshot("UserMemory", "acme/kid-1", &state, id, &key);
        assert!(!sealed.to_string().contains("Mực"));
        assert_eq!(sealed_key_id(&sealed), Some(id));
        let keys = HashMap::from([(id, key)]);
        assert_eq!(
            open_snapshot("UserMemory", "acme/kid-1", &sealed, &keys),
            Ok(Some(state))
        );
        assert_eq!(
            open_snapshot("UserMemory", "acme/kid-1", &sealed, &HashMap::new()),
            Ok(None)
        );
    }

    #[test]
    fn a_master_key_wraps_data_keys_and_a_wrong_one_is_told_apart() {
        let master = MasterKey::generate();
        let (id, key) = (Uuid::now_v7(), DataKey::generate());
        let wrapped = master.wrap(id, &key);
        assert_eq!(master.unwrap(id, &wrapped), Ok(key));
        let other = MasterKey::generate();
        assert_eq!(other.unwrap(id, &wrapped), Err(SealError::WrongMasterKey));
        assert!(master.opens_check_value(&master.check_value()));
        assert!(!other.opens_check_value(&master.check_value()));
    }

    #[test]
    fn a_master_key_reads_from_base64_or_hex_and_nothing_else() {
        let master = MasterKey::generate();
        assert_eq!(MasterKey::parse(&master.to_text()), Ok(master));
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        for bad in ["", "short", &"ab".repeat(16), "not base64 at all!!"] {
            assert!(MasterKey::parse(bad).is_err(), "{bad}");
        }
    }
}
