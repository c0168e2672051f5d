//! The read-side port answered by Postgres: the read models and the event store of a
//! scaled-out deployment.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pika_domain::{TenantId, UserId, user_memory_id, vector_from_bytes};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::ProjectionError;
use crate::episodes::{EpisodeQuery, EpisodeRecord};
use crate::event_log::{PostgresEventLog, RecordedEvent, recorded_event};
use crate::fact_record::{FactRecord, FactSourceRecord};
use crate::favorite_summary::FavoriteSummary;
use crate::history::{FactHistory, FavoriteSummaryView, facts_as_of_events, history_from_events};
use crate::jobs::{JobRow, JobView};
use crate::postgres::status_of;
use crate::read_store::{
    FactSelection, ProjectionStatus, USER_JOBS_SQL, UserPage, UserSummary, users_sql,
};
use crate::read_store::{
    MEMORY_TEXTS, ReadStore, UnfinishedJob, UserLogEntry, memory_texts_in_byte_order, status_names,
    unfinished_jobs_sql,
};
use crate::search::{IndexedEpisode, IndexedFact};

/// The sequence of the user's last `UserForgotten` (0 when never forgotten). What a user asked
/// to be forgotten is never served again: history and "as of" queries read only what came
/// after, though the events stay in the log (see the README on forgetting).
const AFTER_LAST_FORGET: &str = "COALESCE((SELECT max(f.sequence) FROM events f
        WHERE f.aggregate_type = 'UserMemory' AND f.aggregate_id = e.aggregate_id
          AND f.event_type = 'UserForgotten'), 0)";

const EVENT_COLUMNS: &str = "transaction_id::text::bigint AS transaction_id, global_position,
    aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata";

const FACT_COLUMNS: &str = "fact_id, user_id, key, kind, value, text, confidence, language,
    source_job_id, source_messages, version, created_at, updated_at";

#[derive(Debug, Clone)]
pub struct PostgresReadStore {
    pool: PgPool,
    keys: std::sync::Arc<dyn pika_domain::DataKeyStore>,
}

impl PostgresReadStore {
    pub fn new(pool: PgPool, keys: std::sync::Arc<dyn pika_domain::DataKeyStore>) -> Self {
        Self { pool, keys }
    }

    async fn events(
        &self,
        sql: &str,
        bind: impl FnOnce(
            sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
        )
            -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Vec<RecordedEvent>, ProjectionError> {
        let rows = bind(sqlx::query(sql)).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(recorded_event)
            .collect::<Result<Vec<_>, _>>()?)
    }
}

/// A `facts` row (its record columns) as a record; shared by every Postgres reader of facts.
pub(crate) fn fact_from_row(row: &PgRow) -> Result<FactRecord, sqlx::Error> {
    Ok(FactRecord {
        fact_id: row.try_get("fact_id")?,
        user_id: row.try_get("user_id")?,
        key: row.try_get("key")?,
        kind: row.try_get("kind")?,
        value: row.try_get("value")?,
        text: row.try_get("text")?,
        confidence: row.try_get("confidence")?,
        language: row.try_get("language")?,
        source: FactSourceRecord {
            job_id: row.try_get("source_job_id")?,
            message_indexes: row.try_get("source_messages")?,
        },
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// An `episodes` row as a record.
fn episode_from_row(row: &PgRow) -> Result<EpisodeRecord, sqlx::Error> {
    Ok(EpisodeRecord {
        episode_id: row.try_get("episode_id")?,
        job_id: row.try_get("job_id")?,
        message_index: row.try_get("message_index")?,
        role: row.try_get("role")?,
        name: row.try_get("name")?,
        content: row.try_get("content")?,
        occurred_at: row.try_get("occurred_at")?,
    })
}

#[async_trait]
impl ReadStore for PostgresReadStore {
    fn backend(&self) -> &'static str {
        "postgres"
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
            "SELECT {FACT_COLUMNS} FROM facts WHERE tenant = $1 AND user_id = $2
              ORDER BY key, created_at, fact_id"
        ))
        .bind(tenant.as_str())
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(fact_from_row)
            .collect::<Result<_, sqlx::Error>>()?)
    }

    async fn users(
        &self,
        tenant: &TenantId,
        page: UserPage<'_>,
    ) -> Result<Vec<UserSummary>, ProjectionError> {
        let rows: Vec<(String, i64, Option<DateTime<Utc>>)> =
            sqlx::query_as(&users_sql("COLLATE \"C\""))
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
        let rows: Vec<JobRow> = sqlx::query_as(USER_JOBS_SQL)
            .bind(tenant.as_str())
            .bind(user.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(JobRow::into_view).collect())
    }

    async fn fact(
        &self,
        tenant: &TenantId,
        fact_id: Uuid,
    ) -> Result<Option<FactRecord>, ProjectionError> {
        let row = sqlx::query(&format!(
            "SELECT {FACT_COLUMNS} FROM facts WHERE tenant = $1 AND fact_id = $2"
        ))
        .bind(tenant.as_str())
        .bind(fact_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(fact_from_row).transpose()?)
    }

    async fn fact_history(
        &self,
        tenant: &TenantId,
        fact_id: Uuid,
    ) -> Result<Option<FactHistory>, ProjectionError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events e
              WHERE aggregate_type = 'UserMemory'
                AND ((payload -> event_type) ->> 'fact_id') = $1
                AND starts_with(aggregate_id, $2)
                AND sequence > {AFTER_LAST_FORGET}
              ORDER BY sequence"
        );
        let events = self
            .events(&sql, |query| {
                query.bind(fact_id.to_string()).bind(format!("{tenant}/"))
            })
            .await?;
        let events = crate::opening::readable(self.keys.as_ref(), events).await?;
        history_from_events(fact_id, &events)
    }

    async fn facts_as_of(
        &self,
        tenant: &TenantId,
        user: &UserId,
        as_of: DateTime<Utc>,
    ) -> Result<Vec<FactRecord>, ProjectionError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events e
              WHERE aggregate_type = 'UserMemory' AND aggregate_id = $1
                AND sequence > {AFTER_LAST_FORGET}
              ORDER BY sequence"
        );
        let events = self
            .events(&sql, |query| query.bind(user_memory_id(tenant, user)))
            .await?;
        let events = crate::opening::readable(self.keys.as_ref(), events).await?;
        facts_as_of_events(user, &events, as_of)
    }

    async fn favorite_summary(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<FavoriteSummaryView, ProjectionError> {
        type SummaryRow = (
            serde_json::Value,
            serde_json::Value,
            serde_json::Value,
            i32,
            DateTime<Utc>,
        );
        let row: Option<SummaryRow> = sqlx::query_as(
            "SELECT favorites, likes, dislikes, live_facts, last_changed_at
               FROM user_favorite_summary WHERE tenant = $1 AND user_id = $2",
        )
        .bind(tenant.as_str())
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let corrupt = |e: serde_json::Error| ProjectionError::Corrupt {
            position: 0,
            detail: format!("user_favorite_summary: {e}"),
        };
        let (summary, last_changed_at) = match row {
            Some((favorites, likes, dislikes, live_facts, at)) => (
                FavoriteSummary {
                    favorites: serde_json::from_value(favorites).map_err(corrupt)?,
                    likes: serde_json::from_value(likes).map_err(corrupt)?,
                    dislikes: serde_json::from_value(dislikes).map_err(corrupt)?,
                    live_facts,
                },
                Some(at),
            ),
            None => (FavoriteSummary::default(), None),
        };
        Ok(FavoriteSummaryView {
            user_id: user.to_string(),
            summary,
            last_changed_at,
        })
    }

    async fn job_view(
        &self,
        tenant: &TenantId,
        job_id: Uuid,
        gating: &[&str],
    ) -> Result<Option<JobView>, ProjectionError> {
        let row: Option<JobRow> = sqlx::query_as(
            "SELECT j.job_id, j.user_id, j.status, j.attempts, j.last_error, j.submitted_at,
                    j.started_at, j.finished_at, j.added, j.updated, j.retracted, j.unchanged,
                    NOT EXISTS (
                        SELECT 1 FROM unnest($3::text[]) AS p(name)
                        LEFT JOIN projection_checkpoints c ON c.projection = p.name
                        WHERE c.projection IS NULL
                           OR (c.transaction_id, c.global_position)
                              < (j.transaction_id, j.global_position)
                    ) AS visible
               FROM extraction_jobs j
              WHERE j.tenant = $1 AND j.job_id = $2",
        )
        .bind(tenant.as_str())
        .bind(job_id)
        .bind(gating)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(JobRow::into_view))
    }

    async fn fact_positions(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> Result<Vec<(Uuid, i64)>, ProjectionError> {
        Ok(sqlx::query_as(
            "SELECT fact_id, global_position FROM facts WHERE tenant = $1 AND user_id = $2",
        )
        .bind(tenant)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn fact_count(&self, tenant: &str, user_id: &str) -> Result<usize, ProjectionError> {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM facts WHERE tenant = $1 AND user_id = $2")
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
        // One statement per selection, so each has a plan of its own: a refresh's range on
        // `facts_by_position` must not share a generic plan with a read of every fact.
        let filter = match selection {
            FactSelection::All => "",
            FactSelection::Only(_) => "AND fact_id = ANY($4)",
            FactSelection::ChangedAfter(_) => "AND global_position > $4",
        };
        let sql = format!(
            "SELECT {FACT_COLUMNS}, global_position,
                    CASE WHEN embedding_model = $3 THEN embedding END AS embedding
               FROM facts
              WHERE tenant = $1 AND user_id = $2 {filter}"
        );
        let query = sqlx::query(&sql).bind(tenant).bind(user_id).bind(model);
        let query = match selection {
            FactSelection::All => query,
            FactSelection::Only(ids) => query.bind(ids),
            FactSelection::ChangedAfter(position) => query.bind(position),
        };
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|row| {
                let embedding: Option<Vec<u8>> = row.try_get("embedding")?;
                Ok(IndexedFact::new(
                    fact_from_row(row)?,
                    embedding.map(|b| vector_from_bytes(&b)),
                )
                .at_position(row.try_get("global_position")?))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
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
              WHERE tenant = $1 AND user_id = $2
                AND ($3::timestamptz IS NULL OR occurred_at >= $3)
                AND ($4::timestamptz IS NULL OR occurred_at <= $4)
                AND ($5::timestamptz IS NULL
                     OR (occurred_at, job_id, message_index) > ($5, $6, $7))
              ORDER BY occurred_at, job_id, message_index
              LIMIT $8",
        )
        .bind(tenant.as_str())
        .bind(user.as_str())
        .bind(query.since)
        .bind(query.until)
        .bind(query.after.map(|cursor| cursor.occurred_at))
        .bind(query.after.map(|cursor| cursor.job_id))
        .bind(query.after.map(|cursor| cursor.message_index))
        .bind(i64::from(query.limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(episode_from_row)
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
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
                    CASE WHEN e.model = $3 THEN e.vector END AS embedding
               FROM episodes p
               LEFT JOIN embedding_cache e ON e.text_sha256 = p.content_sha256
              WHERE p.tenant = $1 AND p.user_id = $2
                AND ($4::bigint IS NULL OR p.global_position > $4)
              ORDER BY p.global_position, p.message_index",
        )
        .bind(tenant)
        .bind(user_id)
        .bind(model)
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let embedding: Option<Vec<u8>> = row.try_get("embedding")?;
                Ok(IndexedEpisode::new(
                    episode_from_row(row)?,
                    embedding.map(|b| vector_from_bytes(&b)),
                    row.try_get("global_position")?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?)
    }

    async fn episode_count(&self, tenant: &str, user_id: &str) -> Result<usize, ProjectionError> {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM episodes WHERE tenant = $1 AND user_id = $2")
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
              WHERE aggregate_type = 'UserMemory' AND aggregate_id = $1
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
        let rows: Vec<(i64, i64, serde_json::Value, Option<String>)> = sqlx::query_as(
            "SELECT sequence, global_position, payload, metadata ->> 'correlation_id'
               FROM events
              WHERE aggregate_type = 'UserMemory' AND aggregate_id = $1 AND sequence > $2
              ORDER BY sequence",
        )
        .bind(user_memory_id(tenant, user))
        .bind(sequence)
        .fetch_all(&self.pool)
        .await?;
        let entries = rows
            .into_iter()
            .map(
                |(sequence, position, payload, correlation_id)| UserLogEntry {
                    sequence,
                    position,
                    payload,
                    correlation_id,
                },
            )
            .collect();
        let aggregate_id = user_memory_id(tenant, user);
        crate::opening::open_user_log(self.keys.as_ref(), &aggregate_id, entries).await
    }

    async fn fact_owner(
        &self,
        tenant: &TenantId,
        fact_id: Uuid,
    ) -> Result<Option<(String, String)>, ProjectionError> {
        let live =
            sqlx::query_as("SELECT user_id, key FROM facts WHERE tenant = $1 AND fact_id = $2")
                .bind(tenant.as_str())
                .bind(fact_id)
                .fetch_optional(&self.pool)
                .await?;
        if live.is_some() {
            return Ok(live);
        }
        Ok(sqlx::query_as(
            "SELECT split_part(aggregate_id, '/', 2), (payload -> event_type) ->> 'key'
               FROM events
              WHERE aggregate_type = 'UserMemory'
                AND ((payload -> event_type) ->> 'fact_id') = $1
                AND starts_with(aggregate_id, $2)
              LIMIT 1",
        )
        .bind(fact_id.to_string())
        .bind(format!("{tenant}/"))
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn unfinished_jobs_before(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<UnfinishedJob>, ProjectionError> {
        let rows: Vec<(String, Uuid, String)> = sqlx::query_as(&unfinished_jobs_sql("$1", "$2"))
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(tenant, job_id, user_id)| UnfinishedJob {
                tenant,
                job_id,
                user_id,
            })
            .collect())
    }

    async fn memory_texts(&self) -> Result<Vec<String>, ProjectionError> {
        Ok(memory_texts_in_byte_order(
            sqlx::query_as(MEMORY_TEXTS).fetch_all(&self.pool).await?,
        ))
    }

    async fn last_position_issued(&self) -> Result<i64, ProjectionError> {
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT pg_sequence_last_value(
                pg_get_serial_sequence('events', 'global_position')::regclass)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(last.unwrap_or(0))
    }

    /// Positions commit out of order here, so the checkpoint is compared in log order against
    /// the event at `position` (a position no event holds, by position alone).
    async fn has_applied(&self, projection: &str, position: i64) -> Result<bool, ProjectionError> {
        if position == 0 {
            return Ok(true);
        }
        let applied: Option<bool> = sqlx::query_scalar(
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
        .fetch_optional(&self.pool)
        .await?;
        Ok(applied.unwrap_or(false))
    }

    async fn projection_status(
        &self,
        expected: &[&str],
    ) -> Result<Vec<ProjectionStatus>, ProjectionError> {
        let recorded: Vec<String> =
            sqlx::query_scalar("SELECT projection FROM projection_checkpoints")
                .fetch_all(&self.pool)
                .await?;
        let log = PostgresEventLog::new(self.pool.clone(), self.keys.clone());
        let mut statuses = Vec::new();
        for name in status_names(recorded, expected) {
            statuses.push(status_of(&self.pool, &log, &name).await?);
        }
        Ok(statuses)
    }
}
