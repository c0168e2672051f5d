//! The read-side port answered by the embedded SQLite file.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pika_domain::{TenantId, UserId, user_memory_id, vector_from_bytes};
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use uuid::Uuid;

use crate::ProjectionError;
use crate::episodes::{EpisodeQuery, EpisodeRecord};
use crate::event_log::LogPosition;
use crate::fact_record::{FactRecord, FactSourceRecord};
use crate::favorite_summary::FavoriteSummary;
use crate::history::{FactHistory, FavoriteSummaryView, facts_as_of_events, history_from_events};
use crate::jobs::{JobRow, JobView};
use crate::read_store::{
    FactSelection, ProjectionStatus, USER_JOBS_SQL, UserPage, UserSummary, users_sql,
};
use crate::read_store::{
    MEMORY_TEXTS, ReadStore, UnfinishedJob, UserLogEntry, memory_texts_in_byte_order, status_names,
    unfinished_jobs_sql,
};
use crate::search::{IndexedEpisode, IndexedFact};
use crate::sqlite::{job_record, sqlite_json, sqlite_recorded_event, sqlite_uuid};

const FACT_COLUMNS: &str = "fact_id, user_id, key, kind, value, text, confidence,
    language, source_job_id, source_messages, version, created_at, updated_at";

/// What `AFTER_LAST_FORGET` is on Postgres: only what came after the user's last forget is
/// ever served again.
const AFTER_LAST_FORGET: &str = "coalesce((SELECT max(f.sequence) FROM events f
        WHERE f.aggregate_type = 'UserMemory' AND f.aggregate_id = e.aggregate_id
          AND f.event_type = 'UserForgotten'), 0)";

const EVENT_COLUMNS: &str = "global_position, aggregate_type, aggregate_id, sequence,
    event_type, event_version, payload, metadata";

#[derive(Debug, Clone)]
pub struct SqliteReadStore {
    pool: SqlitePool,
    keys: std::sync::Arc<dyn pika_domain::DataKeyStore>,
}

impl SqliteReadStore {
    pub fn new(pool: SqlitePool, keys: std::sync::Arc<dyn pika_domain::DataKeyStore>) -> Self {
        Self { pool, keys }
    }
}

pub(crate) fn sqlite_fact(row: &SqliteRow) -> Result<FactRecord, ProjectionError> {
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

/// An `episodes` row as a record; ids are kept as text.
fn sqlite_episode(row: &SqliteRow) -> Result<EpisodeRecord, ProjectionError> {
    let id = |column: &str| -> Result<Uuid, ProjectionError> {
        Ok(
            sqlite_uuid(row, column)?.ok_or_else(|| sqlx::Error::ColumnDecode {
                index: column.to_owned(),
                source: "an episode without an id".into(),
            })?,
        )
    };
    Ok(EpisodeRecord {
        episode_id: id("episode_id")?,
        job_id: id("job_id")?,
        message_index: row.try_get("message_index")?,
        role: row.try_get("role")?,
        name: row.try_get("name")?,
        content: row.try_get("content")?,
        occurred_at: row.try_get("occurred_at")?,
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

/// Lag in seconds: the age of the oldest event not applied yet (its commit time).
fn lag_seconds(oldest: Option<String>) -> f64 {
    oldest
        .and_then(|time| DateTime::parse_from_rfc3339(&time).ok())
        .map_or(0.0, |time| {
            (Utc::now() - time.with_timezone(&Utc))
                .num_milliseconds()
                .max(0) as f64
                / 1000.0
        })
}

#[async_trait]
impl ReadStore for SqliteReadStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), ProjectionError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn live_facts(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Vec<FactRecord>, ProjectionError> {
        let rows = sqlx::query(&format!(
            "SELECT {FACT_COLUMNS} FROM facts WHERE tenant = ? AND user_id = ?
              ORDER BY key, created_at, fact_id"
        ))
        .bind(tenant.as_str())
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sqlite_fact).collect()
    }

    async fn users(
        &self,
        tenant: &TenantId,
        page: UserPage<'_>,
    ) -> Result<Vec<UserSummary>, ProjectionError> {
        let rows: Vec<(String, i64, Option<DateTime<Utc>>)> = sqlx::query_as(&users_sql(""))
            .bind(tenant.as_str())
            .bind(page.after.unwrap_or(""))
            .bind(i64::from(page.limit))
            .bind(page.prefix.unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(UserSummary::from).collect())
    }

    async fn user_jobs(
        &self,
        tenant: &TenantId,
        user: &UserId,
        limit: u32,
    ) -> Result<Vec<JobView>, ProjectionError> {
        let rows = sqlx::query(USER_JOBS_SQL)
            .bind(tenant.as_str())
            .bind(user.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let job_id = sqlite_uuid(row, "job_id")?.unwrap_or_default();
                Ok(job_row(row, job_id)?.into_view())
            })
            .collect()
    }

    async fn fact(
        &self,
        tenant: &TenantId,
        fact_id: Uuid,
    ) -> Result<Option<FactRecord>, ProjectionError> {
        let row = sqlx::query(&format!(
            "SELECT {FACT_COLUMNS} FROM facts WHERE tenant = ? AND fact_id = ?"
        ))
        .bind(tenant.as_str())
        .bind(fact_id.hyphenated().to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(sqlite_fact).transpose()
    }

    async fn fact_history(
        &self,
        tenant: &TenantId,
        fact_id: Uuid,
    ) -> Result<Option<FactHistory>, ProjectionError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events e
              WHERE aggregate_type = 'UserMemory'
                AND json_extract(payload, '$.' || event_type || '.fact_id') = ?1
                AND substr(aggregate_id, 1, length(?2)) = ?2
                AND sequence > {AFTER_LAST_FORGET}
              ORDER BY sequence"
        ))
        .bind(fact_id.hyphenated().to_string())
        .bind(format!("{tenant}/"))
        .fetch_all(&self.pool)
        .await?;
        let events = rows
            .iter()
            .map(sqlite_recorded_event)
            .collect::<Result<Vec<_>, _>>()?;
        let events = crate::opening::readable(self.keys.as_ref(), events).await?;
        history_from_events(fact_id, &events)
    }

    async fn facts_as_of(
        &self,
        tenant: &TenantId,
        user: &UserId,
        as_of: DateTime<Utc>,
    ) -> Result<Vec<FactRecord>, ProjectionError> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events e
              WHERE aggregate_type = 'UserMemory' AND aggregate_id = ?
                AND sequence > {AFTER_LAST_FORGET}
              ORDER BY sequence"
        ))
        .bind(user_memory_id(tenant, user))
        .fetch_all(&self.pool)
        .await?;
        let events = rows
            .iter()
            .map(sqlite_recorded_event)
            .collect::<Result<Vec<_>, _>>()?;
        let events = crate::opening::readable(self.keys.as_ref(), events).await?;
        facts_as_of_events(user, &events, as_of)
    }

    async fn favorite_summary(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<FavoriteSummaryView, ProjectionError> {
        let row = sqlx::query(
            "SELECT favorites, likes, dislikes, live_facts, last_changed_at
               FROM user_favorite_summary WHERE tenant = ? AND user_id = ?",
        )
        .bind(tenant.as_str())
        .bind(user.as_str())
        .fetch_optional(&self.pool)
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

    /// Embedded, every read model moves in the job's own transaction, so a finished job is
    /// visible to all of them as soon as its row is.
    async fn job_view(
        &self,
        tenant: &TenantId,
        job_id: Uuid,
        _gating: &[&str],
    ) -> Result<Option<JobView>, ProjectionError> {
        let row = sqlx::query("SELECT * FROM extraction_jobs WHERE tenant = ? AND job_id = ?")
            .bind(tenant.as_str())
            .bind(job_id.hyphenated().to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let job = job_row(&row, job_id)?;
        Ok(Some(job.into_view()))
    }

    async fn fact_positions(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<Vec<(Uuid, i64)>, ProjectionError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT fact_id, global_position FROM facts WHERE tenant = ? AND user_id = ?",
        )
        .bind(tenant)
        .bind(user_id)
        .fetch_all(&self.pool)
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

    async fn fact_count(&self, tenant: &str, user_id: &str) -> Result<usize, ProjectionError> {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM facts WHERE tenant = ? AND user_id = ?")
                .bind(tenant)
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(usize::try_from(count).unwrap_or_default())
    }

    async fn indexed_facts(
        &self,
        tenant: &str,
        user_id: &str,
        model: &str,
        selection: FactSelection<'_>,
    ) -> Result<Vec<IndexedFact>, ProjectionError> {
        let filter = match selection {
            FactSelection::All => "",
            FactSelection::Only(_) => "AND fact_id IN (SELECT value FROM json_each(?4))",
            FactSelection::ChangedAfter(_) => "AND global_position > ?4",
        };
        let sql = format!(
            "SELECT {FACT_COLUMNS}, global_position,
                    CASE WHEN embedding_model = ?3 THEN embedding END AS embedding
               FROM facts
              WHERE tenant = ?1 AND user_id = ?2 {filter}"
        );
        let query = sqlx::query(&sql).bind(tenant).bind(user_id).bind(model);
        let query = match selection {
            FactSelection::All => query,
            FactSelection::Only(ids) => {
                let ids: Vec<String> = ids.iter().map(|id| id.hyphenated().to_string()).collect();
                query.bind(serde_json::Value::from(ids).to_string())
            }
            FactSelection::ChangedAfter(position) => query.bind(position),
        };
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let vector: Option<Vec<u8>> = row.try_get("embedding")?;
                Ok(
                    IndexedFact::new(sqlite_fact(row)?, vector.map(|b| vector_from_bytes(&b)))
                        .at_position(row.try_get("global_position")?),
                )
            })
            .collect()
    }

    async fn episodes(
        &self,
        tenant: &TenantId,
        user: &UserId,
        query: &EpisodeQuery,
    ) -> Result<Vec<EpisodeRecord>, ProjectionError> {
        let rows = sqlx::query(
            "SELECT episode_id, job_id, message_index, role, name, content, occurred_at
               FROM episodes
              WHERE tenant = ?1 AND user_id = ?2
                AND (?3 IS NULL OR occurred_at >= ?3)
                AND (?4 IS NULL OR occurred_at <= ?4)
                AND (?5 IS NULL OR (occurred_at, job_id, message_index) > (?5, ?6, ?7))
              ORDER BY occurred_at, job_id, message_index
              LIMIT ?8",
        )
        .bind(tenant.as_str())
        .bind(user.as_str())
        .bind(query.since)
        .bind(query.until)
        .bind(query.after.map(|cursor| cursor.occurred_at))
        .bind(
            query
                .after
                .map(|cursor| cursor.job_id.hyphenated().to_string()),
        )
        .bind(query.after.map(|cursor| cursor.message_index))
        .bind(i64::from(query.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sqlite_episode).collect()
    }

    async fn indexed_episodes(
        &self,
        tenant: &str,
        user_id: &str,
        model: &str,
        after: Option<i64>,
    ) -> Result<Vec<IndexedEpisode>, ProjectionError> {
        let rows = sqlx::query(
            "SELECT p.episode_id, p.job_id, p.message_index, p.role, p.name, p.content,
                    p.occurred_at, p.global_position,
                    CASE WHEN e.model = ?3 THEN e.vector END AS embedding
               FROM episodes p
               LEFT JOIN embedding_cache e ON e.text_sha256 = p.content_sha256
              WHERE p.tenant = ?1 AND p.user_id = ?2
                AND (?4 IS NULL OR p.global_position > ?4)
              ORDER BY p.global_position, p.message_index",
        )
        .bind(tenant)
        .bind(user_id)
        .bind(model)
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let embedding: Option<Vec<u8>> = row.try_get("embedding")?;
                Ok(IndexedEpisode::new(
                    sqlite_episode(row)?,
                    embedding.map(|b| vector_from_bytes(&b)),
                    row.try_get("global_position")?,
                ))
            })
            .collect()
    }

    async fn episode_count(&self, tenant: &str, user_id: &str) -> Result<usize, ProjectionError> {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM episodes WHERE tenant = ? AND user_id = ?")
                .bind(tenant)
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    async fn user_head(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Option<(i64, i64)>, ProjectionError> {
        Ok(sqlx::query_as(
            "SELECT sequence, global_position FROM events
              WHERE aggregate_type = 'UserMemory' AND aggregate_id = ?
              ORDER BY sequence DESC LIMIT 1",
        )
        .bind(user_memory_id(tenant, user))
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn user_log_after(
        &self,
        tenant: &TenantId,
        user: &UserId,
        sequence: i64,
    ) -> Result<Vec<UserLogEntry>, ProjectionError> {
        let rows: Vec<(i64, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT sequence, global_position, payload,
                    json_extract(metadata, '$.correlation_id')
               FROM events
              WHERE aggregate_type = 'UserMemory' AND aggregate_id = ?1 AND sequence > ?2
              ORDER BY sequence",
        )
        .bind(user_memory_id(tenant, user))
        .bind(sequence)
        .fetch_all(&self.pool)
        .await?;
        let entries = rows
            .into_iter()
            .map(|(sequence, position, payload, correlation_id)| {
                let payload =
                    serde_json::from_str(&payload).map_err(|e| ProjectionError::Corrupt {
                        position,
                        detail: e.to_string(),
                    })?;
                Ok(UserLogEntry {
                    sequence,
                    position,
                    payload,
                    correlation_id,
                })
            })
            .collect::<Result<Vec<_>, ProjectionError>>()?;
        let aggregate_id = user_memory_id(tenant, user);
        crate::opening::open_user_log(self.keys.as_ref(), &aggregate_id, entries).await
    }

    async fn fact_owner(
        &self,
        tenant: &TenantId,
        fact_id: Uuid,
    ) -> Result<Option<(String, String)>, ProjectionError> {
        let live =
            sqlx::query_as("SELECT user_id, key FROM facts WHERE tenant = ? AND fact_id = ?")
                .bind(tenant.as_str())
                .bind(fact_id.hyphenated().to_string())
                .fetch_optional(&self.pool)
                .await?;
        if live.is_some() {
            return Ok(live);
        }
        Ok(sqlx::query_as(
            "SELECT substr(aggregate_id, length(?2) + 1),
                    json_extract(payload, '$.' || event_type || '.key')
               FROM events
              WHERE aggregate_type = 'UserMemory'
                AND json_extract(payload, '$.' || event_type || '.fact_id') = ?1
                AND substr(aggregate_id, 1, length(?2)) = ?2
              LIMIT 1",
        )
        .bind(fact_id.hyphenated().to_string())
        .bind(format!("{tenant}/"))
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn unfinished_jobs_before(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<UnfinishedJob>, ProjectionError> {
        let rows = sqlx::query(&unfinished_jobs_sql("?1", "?2"))
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let job = |row: &sqlx::sqlite::SqliteRow| -> Result<UnfinishedJob, sqlx::Error> {
            Ok(UnfinishedJob {
                tenant: row.try_get("tenant")?,
                job_id: sqlite_uuid(row, "job_id")?.unwrap_or_default(),
                user_id: row.try_get("user_id")?,
            })
        };
        Ok(rows.iter().map(job).collect::<Result<_, _>>()?)
    }

    async fn memory_texts(&self) -> Result<Vec<String>, ProjectionError> {
        Ok(memory_texts_in_byte_order(
            sqlx::query_as(MEMORY_TEXTS).fetch_all(&self.pool).await?,
        ))
    }

    async fn last_position_issued(&self) -> Result<i64, ProjectionError> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
                .fetch_optional(&self.pool)
                .await?;
        Ok(last.unwrap_or(0))
    }

    /// Embedded, positions commit in order: the checkpoint by position alone.
    async fn has_applied(&self, projection: &str, position: i64) -> Result<bool, ProjectionError> {
        if position == 0 {
            return Ok(true);
        }
        let applied: Option<bool> = sqlx::query_scalar(
            "SELECT global_position >= ?2 FROM projection_checkpoints WHERE projection = ?1",
        )
        .bind(projection)
        .bind(position)
        .fetch_optional(&self.pool)
        .await?;
        Ok(applied.unwrap_or(false))
    }

    /// Lag in events is the log's end minus the checkpoint (positions commit in order), lag
    /// in seconds the age of the oldest event not applied yet.
    async fn projection_status(
        &self,
        expected: &[&str],
    ) -> Result<Vec<ProjectionStatus>, ProjectionError> {
        let recorded: Vec<String> =
            sqlx::query_scalar("SELECT projection FROM projection_checkpoints")
                .fetch_all(&self.pool)
                .await?;
        let mut statuses = Vec::new();
        for projection in status_names(recorded, expected) {
            let row = sqlx::query(
                "SELECT global_position, events_applied, updated_at FROM projection_checkpoints
                  WHERE projection = ?",
            )
            .bind(&projection)
            .fetch_optional(&self.pool)
            .await?;
            let (position, events_applied, updated_at) = match &row {
                Some(row) => (
                    row.try_get::<i64, _>("global_position")?,
                    row.try_get::<i64, _>("events_applied")?,
                    Some(row.try_get::<DateTime<Utc>, _>("updated_at")?),
                ),
                None => (0, 0, None),
            };
            let behind = sqlx::query(
                "SELECT count(*) AS lag, min(json_extract(metadata, '$.time')) AS oldest
                   FROM events WHERE global_position > ?",
            )
            .bind(position)
            .fetch_one(&self.pool)
            .await?;
            statuses.push(ProjectionStatus {
                projection,
                position: LogPosition {
                    transaction_id: 0,
                    global_position: position,
                },
                events_applied,
                lag_events: behind.try_get("lag")?,
                lag_seconds: lag_seconds(behind.try_get("oldest")?),
                updated_at,
            });
        }
        Ok(statuses)
    }
}
/// A job row as SQLite stores it (the id is text and read by the caller); always visible, as
/// the embedded projector applies a job's events in the commit that records them.
fn job_row(row: &SqliteRow, job_id: Uuid) -> Result<JobRow, sqlx::Error> {
    Ok(job_record(row)?.into_row(job_id, true))
}
