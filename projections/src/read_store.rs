//! Where the API reads from: the Postgres read models and event store when scaled out, the
//! SQLite file when embedded. Each question has one answer shape and, where it is computed
//! from events, one pure step (`history_from_events`, `facts_as_of_events`), so the two
//! backends answer alike; only the fetching differs.

use chrono::{DateTime, Utc};
use pika_domain::{TenantId, UserId, user_memory_id};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::ProjectionError;
use crate::embedded::sqlite_recorded_event;
use crate::event_log::RecordedEvent;
use crate::fact_record::{FactRecord, FactSourceRecord};
use crate::favorite_summary::FavoriteSummary;
use crate::history::{FactHistory, FavoriteSummaryView, facts_as_of_events, history_from_events};
use crate::jobs::{JobRow, JobView};
use crate::search::{IndexChanges, IndexedFact, UserIndex};

#[derive(Debug, Clone)]
pub enum ReadStore {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

const SQLITE_FACT_COLUMNS: &str = "fact_id, user_id, key, kind, value, text, confidence,
    language, source_job_id, source_messages, version, created_at, updated_at";

/// What `AFTER_LAST_FORGET` is on Postgres: only what came after the user's last forget is
/// ever served again.
const SQLITE_AFTER_LAST_FORGET: &str = "coalesce((SELECT max(f.sequence) FROM events f
        WHERE f.aggregate_type = 'UserMemory' AND f.aggregate_id = e.aggregate_id
          AND f.event_type = 'UserForgotten'), 0)";

const SQLITE_EVENT_COLUMNS: &str = "global_position, aggregate_type, aggregate_id, sequence,
    event_type, event_version, payload, metadata";

impl ReadStore {
    /// A user's live facts, by key then age.
    pub async fn live_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Vec<FactRecord>, ProjectionError> {
        match self {
            Self::Postgres(pool) => crate::history::live_facts(pool, tenant, user).await,
            Self::Sqlite(pool) => {
                let rows = sqlx::query(&format!(
                    "SELECT {SQLITE_FACT_COLUMNS} FROM facts WHERE tenant = ? AND user_id = ?
                      ORDER BY key, created_at, fact_id"
                ))
                .bind(tenant.as_str())
                .bind(user.as_str())
                .fetch_all(pool)
                .await?;
                rows.iter().map(sqlite_fact).collect()
            }
        }
    }

    /// One live fact of this tenant.
    pub async fn fact(
        &self,
        tenant: &TenantId,
        fact_id: Uuid,
    ) -> Result<Option<FactRecord>, ProjectionError> {
        match self {
            Self::Postgres(pool) => crate::history::live_fact(pool, tenant, fact_id).await,
            Self::Sqlite(pool) => {
                let row = sqlx::query(&format!(
                    "SELECT {SQLITE_FACT_COLUMNS} FROM facts WHERE tenant = ? AND fact_id = ?"
                ))
                .bind(tenant.as_str())
                .bind(fact_id.hyphenated().to_string())
                .fetch_optional(pool)
                .await?;
                row.as_ref().map(sqlite_fact).transpose()
            }
        }
    }

    pub async fn fact_history(
        &self,
        tenant: &TenantId,
        fact_id: Uuid,
    ) -> Result<Option<FactHistory>, ProjectionError> {
        match self {
            Self::Postgres(pool) => crate::history::fact_history(pool, tenant, fact_id).await,
            Self::Sqlite(pool) => {
                let rows = sqlx::query(&format!(
                    "SELECT {SQLITE_EVENT_COLUMNS} FROM events e
                      WHERE aggregate_type = 'UserMemory'
                        AND json_extract(payload, '$.' || event_type || '.fact_id') = ?1
                        AND substr(aggregate_id, 1, length(?2)) = ?2
                        AND sequence > {SQLITE_AFTER_LAST_FORGET}
                      ORDER BY sequence"
                ))
                .bind(fact_id.hyphenated().to_string())
                .bind(format!("{tenant}/"))
                .fetch_all(pool)
                .await?;
                history_from_events(fact_id, &sqlite_events(&rows)?)
            }
        }
    }

    pub async fn facts_as_of(
        &self,
        tenant: &TenantId,
        user: &UserId,
        as_of: DateTime<Utc>,
    ) -> Result<Vec<FactRecord>, ProjectionError> {
        match self {
            Self::Postgres(pool) => crate::history::facts_as_of(pool, tenant, user, as_of).await,
            Self::Sqlite(pool) => {
                let rows = sqlx::query(&format!(
                    "SELECT {SQLITE_EVENT_COLUMNS} FROM events e
                      WHERE aggregate_type = 'UserMemory' AND aggregate_id = ?
                        AND sequence > {SQLITE_AFTER_LAST_FORGET}
                      ORDER BY sequence"
                ))
                .bind(user_memory_id(tenant, user))
                .fetch_all(pool)
                .await?;
                facts_as_of_events(user, &sqlite_events(&rows)?, as_of)
            }
        }
    }

    pub async fn favorite_summary(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<FavoriteSummaryView, ProjectionError> {
        match self {
            Self::Postgres(pool) => crate::history::favorite_summary(pool, tenant, user).await,
            Self::Sqlite(pool) => {
                let row = sqlx::query(
                    "SELECT favorites, likes, dislikes, live_facts, last_changed_at
                       FROM user_favorite_summary WHERE tenant = ? AND user_id = ?",
                )
                .bind(tenant.as_str())
                .bind(user.as_str())
                .fetch_optional(pool)
                .await?;
                let (summary, last_changed_at) = match row {
                    Some(row) => (sqlite_summary(&row)?, Some(row.try_get("last_changed_at")?)),
                    None => (FavoriteSummary::default(), None),
                };
                Ok(FavoriteSummaryView {
                    user_id: user.to_string(),
                    summary,
                    last_changed_at,
                })
            }
        }
    }

    /// A job's status. Embedded, every read model moves in the job's own transaction, so a
    /// finished job is visible to all of them as soon as its row is.
    pub async fn job_view(
        &self,
        tenant: &TenantId,
        job_id: Uuid,
        gating: &[&str],
    ) -> Result<Option<JobView>, ProjectionError> {
        match self {
            Self::Postgres(pool) => crate::jobs::job_view(pool, tenant, job_id, gating).await,
            Self::Sqlite(pool) => {
                let row = sqlx::query(
                    "SELECT user_id, status, attempts, last_error, submitted_at, started_at,
                            finished_at, added, updated, retracted, unchanged
                       FROM extraction_jobs WHERE tenant = ? AND job_id = ?",
                )
                .bind(tenant.as_str())
                .bind(job_id.hyphenated().to_string())
                .fetch_optional(pool)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let job = JobRow {
                    job_id,
                    user_id: row.try_get("user_id")?,
                    status: row.try_get("status")?,
                    attempts: row.try_get("attempts")?,
                    last_error: row.try_get("last_error")?,
                    submitted_at: row.try_get("submitted_at")?,
                    started_at: row.try_get("started_at")?,
                    finished_at: row.try_get("finished_at")?,
                    added: row.try_get("added")?,
                    updated: row.try_get("updated")?,
                    retracted: row.try_get("retracted")?,
                    unchanged: row.try_get("unchanged")?,
                    visible: true,
                };
                Ok(Some(job.into_view()))
            }
        }
    }

    /// A user's live facts with the vectors of `model`, ready to rank.
    pub async fn load_index(
        &self,
        tenant: &str,
        user_id: &str,
        model: &str,
    ) -> Result<UserIndex, ProjectionError> {
        Ok(UserIndex::new(
            self.indexed_facts(tenant, user_id, model, None).await?,
        ))
    }

    /// `index` brought up to the user's facts now, reading again only the facts added or
    /// changed since it was loaded: after a user's change the first search lists ids and
    /// positions (small) instead of reading every fact with its vector.
    pub async fn refresh_index(
        &self,
        tenant: &str,
        user_id: &str,
        model: &str,
        index: &UserIndex,
    ) -> Result<(UserIndex, IndexChanges), ProjectionError> {
        let current = self.fact_positions(tenant, user_id).await?;
        let changes = index.changes(&current);
        let read = if changes.to_read.is_empty() {
            Vec::new()
        } else {
            self.indexed_facts(tenant, user_id, model, Some(&changes.to_read))
                .await?
        };
        Ok((index.refreshed(&current, read), changes))
    }

    /// Every live fact of the user with the log position of its last change.
    pub async fn fact_positions(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<Vec<(Uuid, i64)>, ProjectionError> {
        let query = "SELECT fact_id, global_position FROM facts WHERE tenant = $1 AND user_id = $2";
        match self {
            Self::Postgres(pool) => Ok(sqlx::query_as(query)
                .bind(tenant)
                .bind(user_id)
                .fetch_all(pool)
                .await?),
            Self::Sqlite(pool) => {
                let rows: Vec<(String, i64)> = sqlx::query_as(query)
                    .bind(tenant)
                    .bind(user_id)
                    .fetch_all(pool)
                    .await?;
                rows.into_iter()
                    .map(|(id, position)| {
                        let id = Uuid::parse_str(&id).map_err(|e| ProjectionError::Corrupt {
                            position,
                            detail: format!("fact id {id:?}: {e}"),
                        })?;
                        Ok((id, position))
                    })
                    .collect()
            }
        }
    }

    async fn indexed_facts(
        &self,
        tenant: &str,
        user_id: &str,
        model: &str,
        only: Option<&[Uuid]>,
    ) -> Result<Vec<IndexedFact>, ProjectionError> {
        match self {
            Self::Postgres(pool) => {
                crate::search::load_indexed_facts(pool, tenant, user_id, model, only).await
            }
            Self::Sqlite(pool) => {
                let only = only.map(|ids| {
                    serde_json::Value::from(
                        ids.iter()
                            .map(|id| id.hyphenated().to_string())
                            .collect::<Vec<_>>(),
                    )
                    .to_string()
                });
                let rows = sqlx::query(&format!(
                    "SELECT {SQLITE_FACT_COLUMNS}, global_position,
                            CASE WHEN embedding_model = ?3 THEN embedding END AS embedding
                       FROM facts
                      WHERE tenant = ?1 AND user_id = ?2
                        AND (?4 IS NULL OR fact_id IN (SELECT value FROM json_each(?4)))"
                ))
                .bind(tenant)
                .bind(user_id)
                .bind(model)
                .bind(only)
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|row| {
                        let vector: Option<Vec<u8>> = row.try_get("embedding")?;
                        Ok(IndexedFact::new(
                            sqlite_fact(row)?,
                            vector.map(|bytes| vector_from_bytes(&bytes)),
                        )
                        .at_position(row.try_get("global_position")?))
                    })
                    .collect()
            }
        }
    }
}

/// One event of a user's log, as the API reads back a command's commit.
#[derive(Debug, Clone, PartialEq)]
pub struct UserLogEntry {
    pub sequence: i64,
    pub position: i64,
    pub payload: serde_json::Value,
    pub correlation_id: Option<String>,
}

impl ReadStore {
    /// The user's last event as (sequence, global position).
    pub async fn user_head(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<(i64, i64)>, ProjectionError> {
        let id = user_memory_id(tenant, user);
        let query = "SELECT sequence, global_position FROM events
                      WHERE aggregate_type = 'UserMemory' AND aggregate_id = $1
                      ORDER BY sequence DESC LIMIT 1";
        Ok(match self {
            Self::Postgres(pool) => sqlx::query_as(query).bind(id).fetch_optional(pool).await?,
            Self::Sqlite(pool) => sqlx::query_as(query).bind(id).fetch_optional(pool).await?,
        })
    }

    /// The user's events past `sequence`, oldest first.
    pub async fn user_log_after(
        &self,
        tenant: &TenantId,
        user: &UserId,
        sequence: i64,
    ) -> Result<Vec<UserLogEntry>, ProjectionError> {
        let id = user_memory_id(tenant, user);
        let entries = match self {
            Self::Postgres(pool) => {
                let rows: Vec<(i64, i64, serde_json::Value, Option<String>)> = sqlx::query_as(
                    "SELECT sequence, global_position, payload, metadata ->> 'correlation_id'
                       FROM events
                      WHERE aggregate_type = 'UserMemory' AND aggregate_id = $1 AND sequence > $2
                      ORDER BY sequence",
                )
                .bind(id)
                .bind(sequence)
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(
                        |(sequence, position, payload, correlation_id)| UserLogEntry {
                            sequence,
                            position,
                            payload,
                            correlation_id,
                        },
                    )
                    .collect()
            }
            Self::Sqlite(pool) => {
                let rows: Vec<(i64, i64, String, Option<String>)> = sqlx::query_as(
                    "SELECT sequence, global_position, payload,
                            json_extract(metadata, '$.correlation_id')
                       FROM events
                      WHERE aggregate_type = 'UserMemory' AND aggregate_id = ?1 AND sequence > ?2
                      ORDER BY sequence",
                )
                .bind(id)
                .bind(sequence)
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|(sequence, position, payload, correlation_id)| {
                        let payload = serde_json::from_str(&payload).map_err(|e| {
                            ProjectionError::Corrupt {
                                position,
                                detail: e.to_string(),
                            }
                        })?;
                        Ok(UserLogEntry {
                            sequence,
                            position,
                            payload,
                            correlation_id,
                        })
                    })
                    .collect::<Result<_, ProjectionError>>()?
            }
        };
        Ok(entries)
    }

    /// Whose fact this is and its key: from the `facts` read model, else from the event store
    /// (a fact not projected yet, or retracted), both scoped to the tenant.
    pub async fn fact_owner(
        &self,
        tenant: &TenantId,
        fact_id: Uuid,
    ) -> Result<Option<(String, String)>, ProjectionError> {
        let prefix = format!("{tenant}/");
        Ok(match self {
            Self::Postgres(pool) => {
                let live = sqlx::query_as(
                    "SELECT user_id, key FROM facts WHERE tenant = $1 AND fact_id = $2",
                )
                .bind(tenant.as_str())
                .bind(fact_id)
                .fetch_optional(pool)
                .await?;
                match live {
                    Some(found) => Some(found),
                    None => {
                        sqlx::query_as(
                            "SELECT split_part(aggregate_id, '/', 2),
                                    (payload -> event_type) ->> 'key'
                               FROM events
                              WHERE aggregate_type = 'UserMemory'
                                AND ((payload -> event_type) ->> 'fact_id') = $1
                                AND starts_with(aggregate_id, $2)
                              LIMIT 1",
                        )
                        .bind(fact_id.to_string())
                        .bind(prefix)
                        .fetch_optional(pool)
                        .await?
                    }
                }
            }
            Self::Sqlite(pool) => {
                let live = sqlx::query_as(
                    "SELECT user_id, key FROM facts WHERE tenant = ? AND fact_id = ?",
                )
                .bind(tenant.as_str())
                .bind(fact_id.hyphenated().to_string())
                .fetch_optional(pool)
                .await?;
                match live {
                    Some(found) => Some(found),
                    None => {
                        sqlx::query_as(
                            "SELECT substr(aggregate_id, length(?2) + 1),
                                    json_extract(payload, '$.' || event_type || '.key')
                               FROM events
                              WHERE aggregate_type = 'UserMemory'
                                AND json_extract(payload, '$.' || event_type || '.fact_id') = ?1
                                AND substr(aggregate_id, 1, length(?2)) = ?2
                              LIMIT 1",
                        )
                        .bind(fact_id.hyphenated().to_string())
                        .bind(prefix)
                        .fetch_optional(pool)
                        .await?
                    }
                }
            }
        })
    }

    /// The largest global position ever handed out, committed or not.
    pub async fn last_position_issued(&self) -> Result<i64, ProjectionError> {
        let last: Option<i64> = match self {
            Self::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT pg_sequence_last_value(
                        pg_get_serial_sequence('events', 'global_position')::regclass)",
                )
                .fetch_one(pool)
                .await?
            }
            Self::Sqlite(pool) => {
                sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
                    .fetch_optional(pool)
                    .await?
            }
        };
        Ok(last.unwrap_or(0))
    }

    /// Whether `projection` has applied the event at `position`. On Postgres positions commit
    /// out of order, so the checkpoint is compared in log order against the event there (a
    /// position no event holds, by position alone); embedded, positions commit in order.
    pub async fn has_applied(
        &self,
        projection: &str,
        position: i64,
    ) -> Result<bool, ProjectionError> {
        if position == 0 {
            return Ok(true);
        }
        let applied: Option<bool> = match self {
            Self::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT CASE WHEN e.global_position IS NULL THEN c.global_position >= $2
                                 ELSE (c.transaction_id, c.global_position)
                                      >= (e.transaction_id::text::bigint, e.global_position)
                            END
                       FROM projection_checkpoints c
                       LEFT JOIN events e ON e.global_position = $2
                      WHERE c.projection = $1",
                )
                .bind(projection)
                .bind(position)
                .fetch_optional(pool)
                .await?
            }
            Self::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT global_position >= ?2 FROM projection_checkpoints
                      WHERE projection = ?1",
                )
                .bind(projection)
                .bind(position)
                .fetch_optional(pool)
                .await?
            }
        };
        Ok(applied.unwrap_or(false))
    }
}

/// Both stores keep a vector as its f32s in little-endian bytes: one copy to read, where an
/// array type is sent and decoded value by value (see migration `vectors_as_bytes`).
pub fn vector_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect()
}

pub fn vector_to_bytes(vector: &[f32]) -> Vec<u8> {
    vector
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

fn sqlite_events(rows: &[SqliteRow]) -> Result<Vec<RecordedEvent>, ProjectionError> {
    rows.iter().map(sqlite_recorded_event).collect()
}

fn sqlite_uuid(row: &SqliteRow, column: &str) -> Result<Option<Uuid>, sqlx::Error> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|text| {
        Uuid::parse_str(&text).map_err(|error| sqlx::Error::ColumnDecode {
            index: column.to_owned(),
            source: Box::new(error),
        })
    })
    .transpose()
}

fn sqlite_json<T: serde::de::DeserializeOwned>(
    row: &SqliteRow,
    column: &str,
) -> Result<T, sqlx::Error> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|error| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(error),
    })
}

fn sqlite_fact(row: &SqliteRow) -> Result<FactRecord, ProjectionError> {
    let fact_id = sqlite_uuid(row, "fact_id")?.ok_or_else(|| sqlx::Error::ColumnDecode {
        index: "fact_id".into(),
        source: "a fact without an id".into(),
    })?;
    Ok(FactRecord {
        fact_id,
        user_id: row.try_get("user_id")?,
        key: row.try_get("key")?,
        kind: row.try_get("kind")?,
        value: row.try_get("value")?,
        text: row.try_get("text")?,
        confidence: row.try_get("confidence")?,
        language: row.try_get("language")?,
        source: FactSourceRecord {
            job_id: sqlite_uuid(row, "source_job_id")?,
            message_indexes: sqlite_json(row, "source_messages")?,
        },
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn sqlite_summary(row: &SqliteRow) -> Result<FavoriteSummary, sqlx::Error> {
    Ok(FavoriteSummary {
        favorites: sqlite_json(row, "favorites")?,
        likes: sqlite_json(row, "likes")?,
        dislikes: sqlite_json(row, "dislikes")?,
        live_facts: row.try_get("live_facts")?,
    })
}
