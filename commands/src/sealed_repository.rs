//! The event repository every write goes through: personal fields are sealed on the way in and
//! opened on the way out, so aggregates never see a sealed payload and nothing reaches the
//! store in clear text (see `pika_domain::personal_data`).

use std::collections::HashMap;
use std::sync::Arc;

use cqrs_es::Aggregate;
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use pika_domain::personal_data::{
    CachedOpeningKeys, SealedRecord, event_owner, open_records, open_snapshot, seal_event,
    seal_snapshot, sealed_key_id, snapshot_owner,
};
use pika_domain::{DataKey, DataKeyStore, KeyScope, KeyStoreError, SealingKey, UnstoredDataKey};
use serde_json::Value;
use uuid::Uuid;

const REPLAY_CHANNEL_SIZE: usize = 200;

/// How long a process keeps a data key it read. Each command would otherwise read its keys
/// again (a job loads and commits several times), which cost a sixth of the scaled-out job
/// rate.
const KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(300);
const KEY_CACHE_CAPACITY: u64 = 100_000;

/// Data keys this process read, shared by every repository of one write model.
///
/// Safe to keep because the store refuses a commit sealed with a destroyed key (the
/// `events_refuse_destroyed_key` trigger): a sealing key kept after its user was forgotten
/// fails that commit as a conflict, the entry is dropped, and the retry reads a live key.
/// Opening keys are kept for `UserMemory` only: reading a forgotten user's old facts with a
/// kept key changes nothing (`UserForgotten` empties the memory), whereas a job's
/// conversation is always opened with a fresh read, so a job of a forgotten user is seen
/// shredded and skipped.
#[derive(Debug, Clone)]
pub struct KeyCache {
    sealing: moka::sync::Cache<(String, KeyScope), (Uuid, DataKey)>,
    opening: CachedOpeningKeys,
}

impl KeyCache {
    pub fn new(store: Arc<dyn DataKeyStore>) -> Self {
        Self {
            sealing: moka::sync::Cache::builder()
                .max_capacity(KEY_CACHE_CAPACITY)
                .time_to_live(KEY_CACHE_TTL)
                .build(),
            opening: CachedOpeningKeys::new(store),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SealedRepository<R> {
    inner: R,
    keys: Arc<dyn DataKeyStore>,
    cache: KeyCache,
}

/// An event store that may write a new data key's row in the transaction of the first events
/// sealed with it (see [`DataKeyStore::sealing_key_for_commit`]).
pub trait KeyRowsInCommit: PersistedEventRepository {
    /// False: new keys are stored by the key store before the commit.
    const STORES_KEY_ROWS: bool;

    /// `persist`, writing `key_rows` first in the same transaction; a row clashing with a key
    /// stored meanwhile fails the commit as a conflict.
    fn persist_with_key_rows<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
        key_rows: &[UnstoredDataKey],
    ) -> impl std::future::Future<Output = Result<(), PersistenceError>> + Send;
}

impl<R> SealedRepository<R> {
    pub fn new(inner: R, keys: Arc<dyn DataKeyStore>, cache: KeyCache) -> Self {
        Self { inner, keys, cache }
    }
}

fn key_error(error: KeyStoreError) -> PersistenceError {
    match error {
        KeyStoreError::Unavailable(_) => PersistenceError::ConnectionError(Box::new(error)),
        KeyStoreError::Seal(_) => PersistenceError::UnknownError(Box::new(error)),
    }
}

/// The sealing keys one commit needs, fetched once each (or found in the process's cache).
struct CommitKeys<'a> {
    store: &'a dyn DataKeyStore,
    cache: &'a KeyCache,
    stores_key_rows: bool,
    fetched: HashMap<(String, KeyScope), (Uuid, DataKey)>,
    /// Keys made for this commit, cached only once it stored them.
    unstored: Vec<((String, KeyScope), UnstoredDataKey)>,
}

impl CommitKeys<'_> {
    async fn get(
        &mut self,
        owner: String,
        scope: KeyScope,
    ) -> Result<&(Uuid, DataKey), PersistenceError> {
        let slot = (owner, scope);
        if !self.fetched.contains_key(&slot) {
            let key = match self.cache.sealing.get(&slot) {
                Some(key) => key,
                None if self.stores_key_rows => {
                    match self
                        .store
                        .sealing_key_for_commit(&slot.0, &slot.1)
                        .await
                        .map_err(key_error)?
                    {
                        SealingKey::Stored(id, key) => {
                            self.cache.sealing.insert(slot.clone(), (id, key.clone()));
                            (id, key)
                        }
                        SealingKey::Unstored(row) => {
                            let key = (row.id, row.key.clone());
                            self.unstored.push((slot.clone(), row));
                            key
                        }
                    }
                }
                None => {
                    let key = self
                        .store
                        .sealing_key(&slot.0, &slot.1)
                        .await
                        .map_err(key_error)?;
                    self.cache.sealing.insert(slot.clone(), key.clone());
                    key
                }
            };
            self.fetched.insert(slot.clone(), key);
        }
        Ok(&self.fetched[&slot])
    }
}

impl<R: KeyRowsInCommit> SealedRepository<R> {
    async fn opened<A: Aggregate>(
        &self,
        mut events: Vec<SerializedEvent>,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        if A::TYPE == "UserMemory" {
            open_records(&self.cache.opening, &mut events).await
        } else {
            open_records(self.keys.as_ref(), &mut events).await
        }
        .map_err(key_error)?;
        Ok(events)
    }
}

impl<R: KeyRowsInCommit> PersistedEventRepository for SealedRepository<R> {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let events = self.inner.get_events::<A>(aggregate_id).await?;
        self.opened::<A>(events).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let events = self
            .inner
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await?;
        self.opened::<A>(events).await
    }

    /// A snapshot whose key was destroyed reads as the empty state at its sequence: a key is
    /// destroyed only by `UserForgotten`, which empties the memory, and it comes at or after
    /// the snapshot, so what follows the snapshot ends in that same state.
    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        let Some(mut snapshot) = self.inner.get_snapshot::<A>(aggregate_id).await? else {
            return Ok(None);
        };
        let keys = match sealed_key_id(&snapshot.aggregate) {
            Some(id) => self.keys.opening_keys(&[id]).await.map_err(key_error)?,
            None => HashMap::new(),
        };
        snapshot.aggregate = match open_snapshot(A::TYPE, aggregate_id, &snapshot.aggregate, &keys)
            .map_err(|e| key_error(e.into()))?
        {
            Some(state) => state,
            None => serde_json::to_value(A::default())
                .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?,
        };
        Ok(Some(snapshot))
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let now = chrono::Utc::now();
        let mut keys = CommitKeys {
            store: self.keys.as_ref(),
            cache: &self.cache,
            stores_key_rows: R::STORES_KEY_ROWS,
            fetched: HashMap::new(),
            unstored: Vec::new(),
        };
        let mut sealed = events.to_vec();
        for event in &mut sealed {
            let Some((owner, scope)) = event_owner(
                &event.aggregate_type,
                &event.aggregate_id,
                &event.event_type,
                &event.payload,
                now,
            ) else {
                continue;
            };
            let (key_id, key) = keys.get(owner, scope).await?;
            let (identity, event_type, payload) = event.parts();
            let event_type = event_type.to_owned();
            seal_event(identity, &event_type, payload, *key_id, key);
        }
        let snapshot_update = match snapshot_update {
            Some((aggregate_id, state, number)) => {
                let state = match snapshot_owner(A::TYPE, &aggregate_id) {
                    Some((owner, scope)) => {
                        let (key_id, key) = keys.get(owner, scope).await?;
                        seal_snapshot(A::TYPE, &aggregate_id, &state, *key_id, key)
                    }
                    None => state,
                };
                Some((aggregate_id, state, number))
            }
            None => None,
        };
        let rows: Vec<UnstoredDataKey> = keys.unstored.iter().map(|(_, row)| row.clone()).collect();
        let persisted = self
            .inner
            .persist_with_key_rows::<A>(&sealed, snapshot_update, &rows)
            .await;
        if persisted.is_err() {
            // A destroyed key refuses the commit as a conflict: read the keys again on retry.
            for slot in keys.fetched.into_keys() {
                self.cache.sealing.invalidate(&slot);
            }
        } else {
            for (slot, row) in keys.unstored {
                self.cache.sealing.insert(slot, (row.id, row.key));
            }
        }
        persisted
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        let events = self.get_events::<A>(aggregate_id).await?;
        let (mut feed, stream) = ReplayStream::new(REPLAY_CHANNEL_SIZE);
        tokio::spawn(async move {
            for event in events {
                if feed.push(Ok(event)).await.is_err() {
                    return;
                }
            }
        });
        Ok(stream)
    }

    /// Not offered: cqrs-es' replay of a whole aggregate type would hand out sealed payloads.
    /// The log is read in order by the projection daemon, which opens what it reads.
    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        Err(PersistenceError::UnknownError(
            "replaying a whole aggregate type is not offered; the projection daemon reads the log"
                .into(),
        ))
    }
}
