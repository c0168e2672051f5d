//! The read models, each a `Projection` the daemon feeds in log order.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pika_domain::UserMemoryEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::ProjectionError;
use crate::bulk::{CopyRows, RebuildFold};
use crate::decode::{DomainEvent, committed_at};
use crate::event_log::{LogPosition, RecordedEvent};
use crate::fact_record::{FactChange, FactRecord, fact_change};
use crate::favorite_summary::FavoriteSummary;
use crate::jobs::{JOB_COLUMNS, JobRecord};

/// A user whose read-model rows changed, so caches holding their answers can be dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChangedUser {
    pub tenant: String,
    pub user_id: String,
}

/// Which copy of a projection's tables to write: the live ones, or a rebuild's fresh copies
/// that are swapped in when complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableSet {
    Live,
    Rebuild,
}

impl TableSet {
    pub fn name(self, base: &str) -> String {
        match self {
            Self::Live => base.to_owned(),
            Self::Rebuild => format!("{base}__rebuild"),
        }
    }
}

#[async_trait]
pub trait Projection: Send + Sync {
    /// The checkpoint name; stable across releases.
    fn name(&self) -> &'static str;
    /// The tables this projection owns.
    fn tables(&self) -> &'static [&'static str];
    /// Projections this one must never overtake: it only sees events they have applied
    /// (cache invalidation must follow the rows it invalidates).
    fn after(&self) -> &'static [&'static str] {
        &[]
    }
    /// How a rebuild folds the whole log in memory and writes the rows at once; `None` replays
    /// event by event through [`Projection::apply`].
    fn rebuild_fold(&self) -> Option<Box<dyn RebuildFold>> {
        None
    }
    /// Writes what one event changes, inside the caller's transaction.
    async fn apply(
        &self,
        connection: &mut PgConnection,
        tables: TableSet,
        event: &RecordedEvent,
        decoded: &DomainEvent,
    ) -> Result<Option<ChangedUser>, ProjectionError>;
}

/// All read models, in the order the daemon runs them.
pub fn all_projections() -> Vec<std::sync::Arc<dyn Projection>> {
    vec![
        std::sync::Arc::new(FactsProjection),
        std::sync::Arc::new(FavoriteSummaryProjection),
        std::sync::Arc::new(ExtractionJobsProjection),
    ]
}

#[derive(Debug, Clone, Copy)]
pub struct FactsProjection;

#[async_trait]
impl Projection for FactsProjection {
    fn name(&self) -> &'static str {
        "facts"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["facts"]
    }

    fn rebuild_fold(&self) -> Option<Box<dyn RebuildFold>> {
        Some(Box::<FactsFold>::default())
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        tables: TableSet,
        event: &RecordedEvent,
        decoded: &DomainEvent,
    ) -> Result<Option<ChangedUser>, ProjectionError> {
        let DomainEvent::UserMemory {
            tenant,
            user_id,
            event: user_event,
        } = decoded
        else {
            return Ok(None);
        };
        let Some(change) = fact_change(user_id.as_str(), user_event, committed_at(event)) else {
            return Ok(None);
        };
        let table = tables.name("facts");
        match change {
            FactChange::Insert(record) => {
                sqlx::query(&format!(
                    "INSERT INTO {table} (tenant, user_id, fact_id, key, kind, value, text, confidence,
                        language, source_job_id, source_messages, version, created_at, updated_at,
                        global_position, embedding, embedding_model)
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                            e.vector, e.model
                       FROM (SELECT 1) AS one
                       LEFT JOIN embedding_cache e ON e.text_sha256 = sha256(convert_to($7, 'UTF8'))
                     ON CONFLICT (tenant, user_id, fact_id) DO NOTHING"
                ))
                .bind(tenant.as_str())
                .bind(user_id.as_str())
                .bind(record.fact_id)
                .bind(&record.key)
                .bind(&record.kind)
                .bind(&record.value)
                .bind(&record.text)
                .bind(record.confidence)
                .bind(&record.language)
                .bind(record.source.job_id)
                .bind(&record.source.message_indexes)
                .bind(record.version)
                .bind(record.created_at)
                .bind(record.updated_at)
                .bind(event.position.global_position)
                .execute(&mut *connection)
                .await?;
            }
            FactChange::Update {
                fact_id,
                value,
                text,
                confidence,
                source,
                version,
                updated_at,
            } => {
                // The new text's vector, if the worker computed one before committing.
                sqlx::query(&format!(
                    "UPDATE {table} SET value = $4, text = $5, confidence = $6, source_job_id = $7,
                        source_messages = $8, version = $9, updated_at = $10, global_position = $11,
                        embedding = e.vector, embedding_model = e.model
                       FROM (SELECT 1) AS one
                       LEFT JOIN embedding_cache e ON e.text_sha256 = sha256(convert_to($5, 'UTF8'))
                     WHERE tenant = $1 AND user_id = $2 AND fact_id = $3"
                ))
                .bind(tenant.as_str())
                .bind(user_id.as_str())
                .bind(fact_id)
                .bind(value)
                .bind(text)
                .bind(confidence)
                .bind(source.job_id)
                .bind(source.message_indexes)
                .bind(version)
                .bind(updated_at)
                .bind(event.position.global_position)
                .execute(&mut *connection)
                .await?;
            }
            FactChange::Remove { fact_id } => {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE tenant = $1 AND user_id = $2 AND fact_id = $3"
                ))
                .bind(tenant.as_str())
                .bind(user_id.as_str())
                .bind(fact_id)
                .execute(&mut *connection)
                .await?;
            }
        }
        Ok(Some(ChangedUser {
            tenant: tenant.to_string(),
            user_id: user_id.to_string(),
        }))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct FavoriteSummaryProjection;

#[async_trait]
impl Projection for FavoriteSummaryProjection {
    fn name(&self) -> &'static str {
        "user_favorite_summary"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["user_favorite_summary"]
    }

    fn rebuild_fold(&self) -> Option<Box<dyn RebuildFold>> {
        Some(Box::<SummaryFold>::default())
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        tables: TableSet,
        event: &RecordedEvent,
        decoded: &DomainEvent,
    ) -> Result<Option<ChangedUser>, ProjectionError> {
        let DomainEvent::UserMemory {
            tenant,
            user_id,
            event: user_event,
        } = decoded
        else {
            return Ok(None);
        };
        if matches!(user_event, UserMemoryEvent::ExtractionApplied { .. }) {
            return Ok(None);
        }
        let table = tables.name("user_favorite_summary");
        let row: Option<(serde_json::Value, serde_json::Value, serde_json::Value, i32)> =
            sqlx::query_as(&format!(
                "SELECT favorites, likes, dislikes, live_facts FROM {table}
                  WHERE tenant = $1 AND user_id = $2 FOR UPDATE"
            ))
            .bind(tenant.as_str())
            .bind(user_id.as_str())
            .fetch_optional(&mut *connection)
            .await?;
        let mut summary = match row {
            Some((favorites, likes, dislikes, live_facts)) => FavoriteSummary {
                favorites: serde_json::from_value(favorites)
                    .map_err(|e| ProjectionError::corrupt(event, e))?,
                likes: serde_json::from_value(likes)
                    .map_err(|e| ProjectionError::corrupt(event, e))?,
                dislikes: serde_json::from_value(dislikes)
                    .map_err(|e| ProjectionError::corrupt(event, e))?,
                live_facts,
            },
            None => FavoriteSummary::default(),
        };
        summary.apply(user_event);
        write_summary(
            connection,
            &table,
            tenant.as_str(),
            user_id.as_str(),
            &summary,
            event,
        )
        .await?;
        Ok(Some(ChangedUser {
            tenant: tenant.to_string(),
            user_id: user_id.to_string(),
        }))
    }
}

/// Writes one user's summary row.
pub async fn write_summary(
    connection: &mut PgConnection,
    table: &str,
    tenant: &str,
    user_id: &str,
    summary: &FavoriteSummary,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    sqlx::query(&format!(
        "INSERT INTO {table} (tenant, user_id, favorites, likes, dislikes, live_facts,
            last_changed_at, global_position)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant, user_id) DO UPDATE SET favorites = $3, likes = $4, dislikes = $5,
            live_facts = $6, last_changed_at = $7, global_position = $8"
    ))
    .bind(tenant)
    .bind(user_id)
    .bind(serde_json::to_value(&summary.favorites).unwrap_or_default())
    .bind(serde_json::to_value(&summary.likes).unwrap_or_default())
    .bind(serde_json::to_value(&summary.dislikes).unwrap_or_default())
    .bind(summary.live_facts)
    .bind(committed_at(event))
    .bind(event.position.global_position)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub struct ExtractionJobsProjection;

#[async_trait]
impl Projection for ExtractionJobsProjection {
    fn name(&self) -> &'static str {
        "extraction_jobs"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["extraction_jobs"]
    }

    fn rebuild_fold(&self) -> Option<Box<dyn RebuildFold>> {
        Some(Box::<JobsFold>::default())
    }

    async fn apply(
        &self,
        connection: &mut PgConnection,
        tables: TableSet,
        event: &RecordedEvent,
        decoded: &DomainEvent,
    ) -> Result<Option<ChangedUser>, ProjectionError> {
        let DomainEvent::ExtractionJob {
            tenant,
            job_id,
            event: job_event,
        } = decoded
        else {
            return Ok(None);
        };
        let table = tables.name("extraction_jobs");
        let current: Option<JobRecord> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM {table} WHERE tenant = $1 AND job_id = $2 FOR UPDATE"
        ))
        .bind(tenant.as_str())
        .bind(job_id)
        .fetch_optional(&mut *connection)
        .await?;
        let next = JobRecord::next(
            current.clone(),
            job_event,
            committed_at(event),
            event.position,
        );
        let Some(row) = next.filter(|row| Some(row) != current.as_ref()) else {
            return Ok(None);
        };
        sqlx::query(&format!(
            "INSERT INTO {table} (tenant, job_id, {JOB_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
             ON CONFLICT (tenant, job_id) DO UPDATE SET status = $4, attempts = $5,
                last_error = $6, started_at = $9, finished_at = $10, added = $11, updated = $12,
                retracted = $13, unchanged = $14, transaction_id = $15, global_position = $16"
        ))
        .bind(tenant.as_str())
        .bind(job_id)
        .bind(&row.user_id)
        .bind(&row.status)
        .bind(row.attempts)
        .bind(&row.last_error)
        .bind(&row.idempotency_key)
        .bind(row.submitted_at)
        .bind(row.started_at)
        .bind(row.finished_at)
        .bind(row.added)
        .bind(row.updated)
        .bind(row.retracted)
        .bind(row.unchanged)
        .bind(row.transaction_id)
        .bind(row.global_position)
        .execute(&mut *connection)
        .await?;
        Ok(None)
    }
}

/// Live facts keyed by tenant, user and fact, with the position of the last event that
/// touched each.
#[derive(Debug, Default)]
struct FactsFold {
    facts: HashMap<(String, String, Uuid), (FactRecord, i64)>,
}

#[async_trait]
impl RebuildFold for FactsFold {
    fn apply(&mut self, position: LogPosition, at: DateTime<Utc>, event: &DomainEvent) {
        let DomainEvent::UserMemory {
            tenant,
            user_id,
            event,
        } = event
        else {
            return;
        };
        let Some(change) = fact_change(user_id.as_str(), event, at) else {
            return;
        };
        let key = |fact_id| (tenant.to_string(), user_id.to_string(), fact_id);
        match change {
            FactChange::Insert(record) => {
                self.facts
                    .entry(key(record.fact_id))
                    .or_insert((record, position.global_position));
            }
            FactChange::Remove { fact_id } => {
                self.facts.remove(&key(fact_id));
            }
            update @ FactChange::Update { fact_id, .. } => {
                if let Some((record, at_position)) = self.facts.get_mut(&key(fact_id)) {
                    update.apply_to(record);
                    *at_position = position.global_position;
                }
            }
        }
    }

    async fn write(
        self: Box<Self>,
        connection: &mut PgConnection,
        tables: TableSet,
    ) -> Result<u64, ProjectionError> {
        let table = tables.name("facts");
        // Vectors are joined in from `embedding_cache` as the live path does, so the rows go
        // through a staging table first.
        sqlx::query(
            "CREATE TEMP TABLE facts_rebuild_staging (LIKE facts INCLUDING DEFAULTS)
             ON COMMIT DROP",
        )
        .execute(&mut *connection)
        .await?;
        let mut rows = CopyRows::default();
        for ((tenant, _, _), (fact, position)) in &self.facts {
            rows.text(tenant)
                .text(&fact.user_id)
                .plain(fact.fact_id)
                .text(&fact.key)
                .text(&fact.kind)
                .text(&fact.value)
                .text(&fact.text)
                .plain(fact.confidence)
                .text(&fact.language)
                .optional_plain(fact.source.job_id)
                .integers(&fact.source.message_indexes)
                .plain(fact.version)
                .time(fact.created_at)
                .time(fact.updated_at)
                .plain(position)
                .end_row();
        }
        const COLUMNS: &str = "tenant, user_id, fact_id, key, kind, value, text, confidence, \
            language, source_job_id, source_messages, version, created_at, updated_at, \
            global_position";
        rows.copy_into(connection, "facts_rebuild_staging", COLUMNS)
            .await?;
        let written = sqlx::query(&format!(
            "INSERT INTO {table} ({COLUMNS}, embedding, embedding_model)
             SELECT s.tenant, s.user_id, s.fact_id, s.key, s.kind, s.value, s.text, s.confidence,
                    s.language, s.source_job_id, s.source_messages, s.version, s.created_at,
                    s.updated_at, s.global_position, e.vector, e.model
               FROM facts_rebuild_staging s
               LEFT JOIN embedding_cache e ON e.text_sha256 = sha256(convert_to(s.text, 'UTF8'))"
        ))
        .execute(&mut *connection)
        .await?;
        Ok(written.rows_affected())
    }
}

/// Each user's summary with the time and position of its last change.
#[derive(Debug, Default)]
struct SummaryFold {
    users: HashMap<(String, String), (FavoriteSummary, DateTime<Utc>, i64)>,
}

#[async_trait]
impl RebuildFold for SummaryFold {
    fn apply(&mut self, position: LogPosition, at: DateTime<Utc>, event: &DomainEvent) {
        let DomainEvent::UserMemory {
            tenant,
            user_id,
            event,
        } = event
        else {
            return;
        };
        if matches!(event, UserMemoryEvent::ExtractionApplied { .. }) {
            return;
        }
        let entry = self
            .users
            .entry((tenant.to_string(), user_id.to_string()))
            .or_insert_with(|| (FavoriteSummary::default(), at, 0));
        entry.0.apply(event);
        entry.1 = at;
        entry.2 = position.global_position;
    }

    async fn write(
        self: Box<Self>,
        connection: &mut PgConnection,
        tables: TableSet,
    ) -> Result<u64, ProjectionError> {
        let table = tables.name("user_favorite_summary");
        let mut rows = CopyRows::default();
        for ((tenant, user_id), (summary, at, position)) in &self.users {
            rows.text(tenant)
                .text(user_id)
                .text(&json_text(&summary.favorites))
                .text(&json_text(&summary.likes))
                .text(&json_text(&summary.dislikes))
                .plain(summary.live_facts)
                .time(*at)
                .plain(position)
                .end_row();
        }
        rows.copy_into(
            connection,
            &table,
            "tenant, user_id, favorites, likes, dislikes, live_facts, last_changed_at, \
             global_position",
        )
        .await
    }
}

/// Maps of strings always serialise.
fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Every job's row.
#[derive(Debug, Default)]
struct JobsFold {
    jobs: HashMap<(String, Uuid), JobRecord>,
}

#[async_trait]
impl RebuildFold for JobsFold {
    fn apply(&mut self, position: LogPosition, at: DateTime<Utc>, event: &DomainEvent) {
        let DomainEvent::ExtractionJob {
            tenant,
            job_id,
            event,
        } = event
        else {
            return;
        };
        let key = (tenant.to_string(), *job_id);
        let current = self.jobs.remove(&key);
        if let Some(row) = JobRecord::next(current, event, at, position) {
            self.jobs.insert(key, row);
        }
    }

    async fn write(
        self: Box<Self>,
        connection: &mut PgConnection,
        tables: TableSet,
    ) -> Result<u64, ProjectionError> {
        let table = tables.name("extraction_jobs");
        let mut rows = CopyRows::default();
        for ((tenant, job_id), row) in &self.jobs {
            row.copy_row(&mut rows, tenant, *job_id);
        }
        rows.copy_into(
            connection,
            &table,
            &format!("tenant, job_id, {JOB_COLUMNS}"),
        )
        .await
    }
}
