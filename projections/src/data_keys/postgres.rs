//! Data keys in Postgres.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use pika_domain::{DataKey, DataKeyStore, KeyScope, KeyStoreError, MasterKey, SealError};
use sqlx::PgPool;
use uuid::Uuid;

use chrono::NaiveDate;
use pika_domain::personal_data::PERSONAL_EVENT_TYPES;
use serde_json::Value;

use super::admin::{ClearEvent, ClearSnapshot, PersonalDataAdmin};
use super::{MasterKeyCheck, unavailable, unwrap_row};
use crate::ProjectionError;

#[derive(Debug, Clone)]
pub struct PostgresDataKeys {
    pool: PgPool,
    master: Arc<MasterKey>,
}

impl PostgresDataKeys {
    pub fn new(pool: PgPool, master: Arc<MasterKey>) -> Self {
        Self { pool, master }
    }

    /// Proves the master key against the database before anything is served: a wrong key
    /// would otherwise fail every read, and a missing check would let a second key seal new
    /// data beside the first.
    pub async fn check_master_key(&self) -> Result<MasterKeyCheck, KeyStoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("LOCK TABLE master_key_check IN EXCLUSIVE MODE")
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        let check: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT sealed FROM master_key_check WHERE id = 1")
                .fetch_optional(&mut *transaction)
                .await
                .map_err(unavailable)?;
        let outcome = match check {
            Some(check) if self.master.opens_check_value(&check) => MasterKeyCheck::Matches,
            Some(_) => return Err(SealError::WrongMasterKey.into()),
            None => {
                let stored: Option<(Uuid, Vec<u8>)> =
                    sqlx::query_as("SELECT key_id, wrapped FROM data_keys LIMIT 1")
                        .fetch_optional(&mut *transaction)
                        .await
                        .map_err(unavailable)?;
                if let Some((id, wrapped)) = stored {
                    unwrap_row(&self.master, id, &wrapped)?;
                }
                sqlx::query("INSERT INTO master_key_check (id, sealed) VALUES (1, $1)")
                    .bind(self.master.check_value())
                    .execute(&mut *transaction)
                    .await
                    .map_err(unavailable)?;
                MasterKeyCheck::Adopted
            }
        };
        transaction.commit().await.map_err(unavailable)?;
        Ok(outcome)
    }
}

#[async_trait]
impl DataKeyStore for PostgresDataKeys {
    async fn sealing_key(
        &self,
        owner: &str,
        scope: &KeyScope,
    ) -> Result<(Uuid, DataKey), KeyStoreError> {
        let scope = scope.as_text();
        let select = || {
            sqlx::query_as::<_, (Uuid, Vec<u8>)>(
                "SELECT key_id, wrapped FROM data_keys WHERE owner = $1 AND scope = $2",
            )
            .bind(owner)
            .bind(&scope)
        };
        if let Some((id, wrapped)) = select()
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
        {
            return Ok((id, unwrap_row(&self.master, id, &wrapped)?));
        }
        let (id, key) = (Uuid::now_v7(), DataKey::generate());
        // No wait for the disk here: the key is used only by a commit that comes after this
        // one, and flushing that commit's WAL flushes this record too (WAL is written in
        // order). A crash before then loses an unused key, which is harmless.
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO data_keys (key_id, owner, scope, wrapped) VALUES ($1, $2, $3, $4)
             ON CONFLICT (owner, scope) DO NOTHING",
        )
        .bind(id)
        .bind(owner)
        .bind(&scope)
        .bind(self.master.wrap(id, &key))
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?;
        transaction.commit().await.map_err(unavailable)?;
        let (id, wrapped) = select().fetch_one(&self.pool).await.map_err(unavailable)?;
        Ok((id, unwrap_row(&self.master, id, &wrapped)?))
    }

    async fn opening_keys(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, DataKey>, KeyStoreError> {
        let rows: Vec<(Uuid, Vec<u8>)> =
            sqlx::query_as("SELECT key_id, wrapped FROM data_keys WHERE key_id = ANY($1)")
                .bind(ids)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
        rows.into_iter()
            .map(|(id, wrapped)| Ok((id, unwrap_row(&self.master, id, &wrapped)?)))
            .collect()
    }
}

/// The owner of a personal event, in SQL: the user of a memory, or the user a job was for.
const OWNER: &str = "CASE WHEN e.aggregate_type = 'UserMemory' THEN e.aggregate_id
    ELSE (e.payload -> 'Submitted' ->> 'tenant') || '/' || (e.payload -> 'Submitted' ->> 'user_id') END";

/// Personal events not sealed yet.
const CLEAR: &str = "e.event_type = ANY($1) AND (e.payload -> e.event_type -> 'sealed') IS NULL";

/// Whose conversations a retention rule covers: one tenant, or all but those with a rule.
const RULE_COVERS: &str = "(($1::text IS NULL AND NOT (split_part(OWNER_COLUMN, '/', 1) = ANY($2)))
    OR split_part(OWNER_COLUMN, '/', 1) = $1)";

#[async_trait]
impl PersonalDataAdmin for PostgresDataKeys {
    async fn rotate_master_key(&self, new: &MasterKey) -> Result<u64, KeyStoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        let keys: Vec<(Uuid, Vec<u8>)> =
            sqlx::query_as("SELECT key_id, wrapped FROM data_keys FOR UPDATE")
                .fetch_all(&mut *transaction)
                .await
                .map_err(unavailable)?;
        for (id, wrapped) in &keys {
            let key = unwrap_row(&self.master, *id, wrapped)?;
            sqlx::query("UPDATE data_keys SET wrapped = $2 WHERE key_id = $1")
                .bind(id)
                .bind(new.wrap(*id, &key))
                .execute(&mut *transaction)
                .await
                .map_err(unavailable)?;
        }
        sqlx::query(
            "INSERT INTO master_key_check (id, sealed) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET sealed = EXCLUDED.sealed",
        )
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
                .bind(&PERSONAL_EVENT_TYPES[..])
                .fetch_one(&self.pool)
                .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn clear_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ClearEvent>, ProjectionError> {
        let rows: Vec<ClearEventRow> = sqlx::query_as(&format!(
            "SELECT e.global_position, e.aggregate_type, e.aggregate_id, e.sequence,
                        e.event_type, e.payload, e.metadata ->> 'time',
                        EXISTS (SELECT 1 FROM events f
                                 WHERE f.aggregate_type = 'UserMemory' AND f.aggregate_id = {OWNER}
                                   AND f.event_type = 'UserForgotten'
                                   AND f.global_position > e.global_position)
                   FROM events e
                  WHERE {CLEAR} AND e.global_position > $2
                  ORDER BY e.global_position LIMIT $3"
        ))
        .bind(&PERSONAL_EVENT_TYPES[..])
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(clear_event).collect())
    }

    async fn replace_payloads(&self, sealed: &[(i64, Value)]) -> Result<(), ProjectionError> {
        let mut transaction = self.pool.begin().await?;
        for (position, payload) in sealed {
            sqlx::query("UPDATE events SET payload = $2 WHERE global_position = $1")
                .bind(position)
                .bind(payload)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn clear_snapshots(&self) -> Result<Vec<ClearSnapshot>, ProjectionError> {
        let rows: Vec<(String, Value, bool)> = sqlx::query_as(
            "SELECT s.aggregate_id, s.payload,
                    EXISTS (SELECT 1 FROM events f
                             WHERE f.aggregate_type = 'UserMemory'
                               AND f.aggregate_id = s.aggregate_id
                               AND f.event_type = 'UserForgotten'
                               AND f.sequence > s.last_sequence)
               FROM snapshots s
              WHERE s.aggregate_type = 'UserMemory' AND (s.payload -> 'sealed') IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(aggregate_id, payload, forgotten_later)| ClearSnapshot {
                aggregate_id,
                payload,
                forgotten_later,
            })
            .collect())
    }

    async fn replace_snapshot(
        &self,
        aggregate_id: &str,
        payload: &Value,
    ) -> Result<(), ProjectionError> {
        sqlx::query(
            "UPDATE snapshots SET payload = $2
              WHERE aggregate_type = 'UserMemory' AND aggregate_id = $1",
        )
        .bind(aggregate_id)
        .bind(payload)
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
        sqlx::query("INSERT INTO log_rewrites (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .execute(&self.pool)
            .await?;
        if finished {
            sqlx::query(
                "UPDATE log_rewrites SET finished_at = now(), events = events + $2
                  WHERE name = $1",
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
              WHERE j.submitted_at < $3::date AND {turns_covered}"
        );
        let mut transaction = self.pool.begin().await?;
        let destroyed = sqlx::query(&format!(
            "DELETE FROM data_keys
              WHERE scope LIKE 'conversations/%' AND scope < 'conversations/' || $3::date::text
                AND {keys_covered}"
        ))
        .bind(tenant)
        .bind(except)
        .bind(day)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        sqlx::query(&format!(
            "DELETE FROM embedding_cache WHERE text_sha256 IN (SELECT p.content_sha256 {old_turns})"
        ))
        .bind(tenant)
        .bind(except)
        .bind(day)
        .execute(&mut *transaction)
        .await?;
        sqlx::query(&format!(
            "DELETE FROM episodes WHERE (tenant, job_id, message_index) IN
               (SELECT p.tenant, p.job_id, p.message_index {old_turns})"
        ))
        .bind(tenant)
        .bind(except)
        .bind(day)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(destroyed)
    }

    fn keys(&self) -> Arc<dyn DataKeyStore> {
        Arc::new(self.clone())
    }
}

/// A clear event as selected: position, aggregate type and id, sequence, event type,
/// payload, commit time, and whether its owner was forgotten later.
type ClearEventRow = (
    i64,
    String,
    String,
    i64,
    String,
    Value,
    Option<String>,
    bool,
);

fn clear_event(
    (position, aggregate_type, aggregate_id, sequence, event_type, payload, time, forgotten_later): ClearEventRow,
) -> ClearEvent {
    ClearEvent {
        position,
        aggregate_type,
        aggregate_id,
        sequence,
        event_type,
        payload,
        at: crate::decode::parse_commit_time(time.as_deref()),
        forgotten_later,
    }
}
