//! Data keys in the embedded SQLite file. Ids are stored as text, like every id there.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use pika_domain::{
    DataKey, DataKeyStore, KeyScope, KeyStoreError, MasterKey, SealError, SealingKey,
    UnstoredDataKey,
};
use sqlx::SqlitePool;
use uuid::Uuid;

use chrono::NaiveDate;
use pika_domain::personal_data::PERSONAL_EVENT_TYPES;
use serde_json::Value;

use super::admin::{ClearEvent, ClearSnapshot, PersonalDataAdmin};
use super::{MasterKeyCheck, unavailable, unwrap_row};
use crate::ProjectionError;

#[derive(Debug, Clone)]
pub struct SqliteDataKeys {
    pool: SqlitePool,
    master: Arc<MasterKey>,
}

fn stored_key(
    master: &MasterKey,
    id: &str,
    wrapped: &[u8],
) -> Result<(Uuid, DataKey), KeyStoreError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| KeyStoreError::Seal(SealError::Malformed(format!("key id {id}"))))?;
    Ok((id, unwrap_row(master, id, wrapped)?))
}

impl SqliteDataKeys {
    pub fn new(pool: SqlitePool, master: Arc<MasterKey>) -> Self {
        Self { pool, master }
    }

    async fn stored_sealing_key(
        &self,
        owner: &str,
        scope: &str,
    ) -> Result<Option<(Uuid, DataKey)>, KeyStoreError> {
        let stored: Option<(String, Vec<u8>)> =
            sqlx::query_as("SELECT key_id, wrapped FROM data_keys WHERE owner = ? AND scope = ?")
                .bind(owner)
                .bind(scope)
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        stored
            .map(|(id, wrapped)| stored_key(&self.master, &id, &wrapped))
            .transpose()
    }

    /// See [`super::PostgresDataKeys::check_master_key`]. One process owns the embedded file,
    /// so no lock is needed around the first check.
    pub async fn check_master_key(&self) -> Result<MasterKeyCheck, KeyStoreError> {
        let check: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT sealed FROM master_key_check WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        match check {
            Some(check) if self.master.opens_check_value(&check) => Ok(MasterKeyCheck::Matches),
            Some(_) => Err(SealError::WrongMasterKey.into()),
            None => {
                let stored: Option<(String, Vec<u8>)> =
                    sqlx::query_as("SELECT key_id, wrapped FROM data_keys LIMIT 1")
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(unavailable)?;
                if let Some((id, wrapped)) = stored {
                    stored_key(&self.master, &id, &wrapped)?;
                }
                sqlx::query("INSERT OR IGNORE INTO master_key_check (id, sealed) VALUES (1, ?)")
                    .bind(self.master.check_value())
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(MasterKeyCheck::Adopted)
            }
        }
    }
}

#[async_trait]
impl DataKeyStore for SqliteDataKeys {
    async fn sealing_key(
        &self,
        owner: &str,
        scope: &KeyScope,
    ) -> Result<(Uuid, DataKey), KeyStoreError> {
        let scope = scope.as_text();
        if let Some(stored) = self.stored_sealing_key(owner, &scope).await? {
            return Ok(stored);
        }
        let (id, key) = (Uuid::now_v7(), DataKey::generate());
        sqlx::query(
            "INSERT INTO data_keys (key_id, owner, scope, wrapped) VALUES (?, ?, ?, ?)
             ON CONFLICT (owner, scope) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(owner)
        .bind(&scope)
        .bind(self.master.wrap(id, &key))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        self.stored_sealing_key(owner, &scope)
            .await?
            .ok_or_else(|| KeyStoreError::Unavailable(format!("no data key stored for {owner}")))
    }

    /// A new key is left to the commit: the embedded event store writes its row in the
    /// events' transaction, one fsync where a separate insert cost a second (a new user's
    /// jobs were 30 % slower for it).
    async fn sealing_key_for_commit(
        &self,
        owner: &str,
        scope: &KeyScope,
    ) -> Result<SealingKey, KeyStoreError> {
        let scope = scope.as_text();
        if let Some((id, key)) = self.stored_sealing_key(owner, &scope).await? {
            return Ok(SealingKey::Stored(id, key));
        }
        let (id, key) = (Uuid::now_v7(), DataKey::generate());
        Ok(SealingKey::Unstored(UnstoredDataKey {
            id,
            wrapped: self.master.wrap(id, &key),
            key,
            owner: owner.to_owned(),
            scope,
        }))
    }

    async fn opening_keys(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, DataKey>, KeyStoreError> {
        opening_keys_with(&self.pool, &self.master, ids).await
    }
}

async fn opening_keys_with(
    executor: impl sqlx::SqliteExecutor<'_>,
    master: &MasterKey,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, DataKey>, KeyStoreError> {
    let wanted = serde_json::to_string(&ids.iter().map(Uuid::to_string).collect::<Vec<_>>())
        .unwrap_or_default();
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT key_id, wrapped FROM data_keys
          WHERE key_id IN (SELECT value FROM json_each(?))",
    )
    .bind(wanted)
    .fetch_all(executor)
    .await
    .map_err(unavailable)?;
    rows.iter()
        .map(|(id, wrapped)| stored_key(master, id, wrapped))
        .collect()
}

/// The keys read through a transaction already holding SQLite's write lock (the embedded
/// projector, a rebuild): a second pooled connection could wait on writers that wait on it.
/// See the Postgres adapter's constants; SQLite spells JSON access with `json_extract`.
const OWNER: &str = "CASE WHEN e.aggregate_type = 'UserMemory' THEN e.aggregate_id
    ELSE json_extract(e.payload, '$.Submitted.tenant') || '/' || json_extract(e.payload, '$.Submitted.user_id') END";

const CLEAR: &str = "e.event_type IN (SELECT value FROM json_each(?1))
    AND json_extract(e.payload, '$.\"' || e.event_type || '\".sealed') IS NULL";

const RULE_COVERS: &str =
    "((?1 IS NULL AND substr(OWNER_COLUMN, 1, instr(OWNER_COLUMN || '/', '/') - 1)
        NOT IN (SELECT value FROM json_each(?2)))
    OR substr(OWNER_COLUMN, 1, instr(OWNER_COLUMN || '/', '/') - 1) = ?1)";

fn personal_event_types() -> String {
    serde_json::to_string(&PERSONAL_EVENT_TYPES).unwrap_or_default()
}

#[async_trait]
impl PersonalDataAdmin for SqliteDataKeys {
    async fn rotate_master_key(&self, new: &MasterKey) -> Result<u64, KeyStoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        let keys: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT key_id, wrapped FROM data_keys")
            .fetch_all(&mut *transaction)
            .await
            .map_err(unavailable)?;
        for (id, wrapped) in &keys {
            let (uuid, key) = stored_key(&self.master, id, wrapped)?;
            sqlx::query("UPDATE data_keys SET wrapped = ? WHERE key_id = ?")
                .bind(new.wrap(uuid, &key))
                .bind(id)
                .execute(&mut *transaction)
                .await
                .map_err(unavailable)?;
        }
        sqlx::query("INSERT OR REPLACE INTO master_key_check (id, sealed) VALUES (1, ?)")
            .bind(new.check_value())
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(keys.len() as u64)
    }

    async fn count_clear_events(&self) -> Result<u64, ProjectionError> {
        let count: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM events e WHERE {CLEAR}"))
                .bind(personal_event_types())
                .fetch_one(&self.pool)
                .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn clear_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ClearEvent>, ProjectionError> {
        let rows: Vec<(
            i64,
            String,
            String,
            i64,
            String,
            String,
            Option<String>,
            bool,
        )> = sqlx::query_as(&format!(
            "SELECT e.global_position, e.aggregate_type, e.aggregate_id, e.sequence,
                        e.event_type, e.payload, json_extract(e.metadata, '$.time'),
                        EXISTS (SELECT 1 FROM events f
                                 WHERE f.aggregate_type = 'UserMemory' AND f.aggregate_id = {OWNER}
                                   AND f.event_type = 'UserForgotten'
                                   AND f.global_position > e.global_position)
                   FROM events e
                  WHERE {CLEAR} AND e.global_position > ?2
                  ORDER BY e.global_position LIMIT ?3"
        ))
        .bind(personal_event_types())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(
                |(
                    position,
                    aggregate_type,
                    aggregate_id,
                    sequence,
                    event_type,
                    payload,
                    time,
                    forgotten_later,
                )| {
                    Ok(ClearEvent {
                        position,
                        aggregate_type,
                        aggregate_id,
                        sequence,
                        event_type,
                        payload: serde_json::from_str(&payload).map_err(|e| {
                            ProjectionError::Corrupt {
                                position,
                                detail: e.to_string(),
                            }
                        })?,
                        at: crate::decode::parse_commit_time(time.as_deref()),
                        forgotten_later,
                    })
                },
            )
            .collect()
    }

    async fn replace_payloads(&self, sealed: &[(i64, Value)]) -> Result<(), ProjectionError> {
        let mut transaction = self.pool.begin().await?;
        for (position, payload) in sealed {
            sqlx::query("UPDATE events SET payload = ? WHERE global_position = ?")
                .bind(payload.to_string())
                .bind(position)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn clear_snapshots(&self) -> Result<Vec<ClearSnapshot>, ProjectionError> {
        let rows: Vec<(String, String, bool)> = sqlx::query_as(
            "SELECT s.aggregate_id, s.payload,
                    EXISTS (SELECT 1 FROM events f
                             WHERE f.aggregate_type = 'UserMemory'
                               AND f.aggregate_id = s.aggregate_id
                               AND f.event_type = 'UserForgotten'
                               AND f.sequence > s.last_sequence)
               FROM snapshots s
              WHERE s.aggregate_type = 'UserMemory' AND json_extract(s.payload, '$.sealed') IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(aggregate_id, payload, forgotten_later)| {
                Ok(ClearSnapshot {
                    payload: serde_json::from_str(&payload).map_err(|e| {
                        ProjectionError::Corrupt {
                            position: 0,
                            detail: format!("snapshot of {aggregate_id}: {e}"),
                        }
                    })?,
                    aggregate_id,
                    forgotten_later,
                })
            })
            .collect()
    }

    async fn replace_snapshot(
        &self,
        aggregate_id: &str,
        payload: &Value,
    ) -> Result<(), ProjectionError> {
        sqlx::query(
            "UPDATE snapshots SET payload = ?2
              WHERE aggregate_type = 'UserMemory' AND aggregate_id = ?1",
        )
        .bind(aggregate_id)
        .bind(payload.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_rewrite(
        &self,
        name: &str,
        events: u64,
        finished: bool,
    ) -> Result<(), ProjectionError> {
        sqlx::query("INSERT INTO log_rewrites (name) VALUES (?) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .execute(&self.pool)
            .await?;
        if finished {
            sqlx::query(
                "UPDATE log_rewrites
                    SET finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), events = events + ?2
                  WHERE name = ?1",
            )
            .bind(name)
            .bind(i64::try_from(events).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    async fn shred_conversations_before(
        &self,
        tenant: Option<&str>,
        except: &[String],
        day: NaiveDate,
    ) -> Result<u64, ProjectionError> {
        let keys_covered = RULE_COVERS.replace("OWNER_COLUMN", "owner");
        let turns_covered = RULE_COVERS.replace("OWNER_COLUMN", "p.tenant");
        let old_turns = format!(
            "FROM episodes p JOIN extraction_jobs j ON j.tenant = p.tenant AND j.job_id = p.job_id
              WHERE j.submitted_at < ?3 AND {turns_covered}"
        );
        let except = serde_json::to_string(except).unwrap_or_default();
        let day = day.to_string();
        let mut transaction = self.pool.begin().await?;
        let destroyed = sqlx::query(&format!(
            "DELETE FROM data_keys
              WHERE scope LIKE 'conversations/%' AND scope < 'conversations/' || ?3
                AND {keys_covered}"
        ))
        .bind(tenant)
        .bind(&except)
        .bind(&day)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        sqlx::query(&format!(
            "DELETE FROM embedding_cache WHERE text_sha256 IN (SELECT p.content_sha256 {old_turns})"
        ))
        .bind(tenant)
        .bind(&except)
        .bind(&day)
        .execute(&mut *transaction)
        .await?;
        sqlx::query(&format!(
            "DELETE FROM episodes WHERE rowid IN (SELECT p.rowid {old_turns})"
        ))
        .bind(tenant)
        .bind(&except)
        .bind(&day)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        crate::sqlite::truncate_write_ahead_log(&self.pool).await;
        Ok(destroyed)
    }

    fn keys(&self) -> Arc<dyn DataKeyStore> {
        Arc::new(self.clone())
    }
}

pub(crate) struct KeysInTransaction<'c> {
    connection: tokio::sync::Mutex<&'c mut sqlx::SqliteConnection>,
    master: &'c MasterKey,
}

impl std::fmt::Debug for KeysInTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeysInTransaction")
    }
}

impl<'c> KeysInTransaction<'c> {
    pub(crate) fn new(
        connection: &'c mut sqlx::SqliteConnection,
        keys: &'c SqliteDataKeys,
    ) -> Self {
        Self {
            connection: tokio::sync::Mutex::new(connection),
            master: &keys.master,
        }
    }
}

#[async_trait]
impl DataKeyStore for KeysInTransaction<'_> {
    async fn sealing_key(
        &self,
        _owner: &str,
        _scope: &KeyScope,
    ) -> Result<(Uuid, DataKey), KeyStoreError> {
        Err(KeyStoreError::Unavailable(
            "a projection's transaction only opens what is sealed".to_owned(),
        ))
    }

    async fn opening_keys(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, DataKey>, KeyStoreError> {
        let mut connection = self.connection.lock().await;
        opening_keys_with(&mut **connection, self.master, ids).await
    }
}
