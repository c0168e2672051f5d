//! The read models, each a `Projection` the daemon feeds in log order.

use async_trait::async_trait;
use pika_domain::{ExtractionJobEvent, UserMemoryEvent};
use sqlx::PgConnection;

use crate::ProjectionError;
use crate::decode::{DomainEvent, committed_at};
use crate::event_log::RecordedEvent;
use crate::fact_record::{FactChange, fact_change};
use crate::favorite_summary::FavoriteSummary;

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
        let at = committed_at(event);
        let position = (
            event.position.transaction_id,
            event.position.global_position,
        );
        let sql;
        let query = match job_event {
            ExtractionJobEvent::Submitted {
                user_id,
                idempotency_key,
                ..
            } => sqlx::query({
                sql = format!(
                "INSERT INTO {table} (tenant, job_id, user_id, status, idempotency_key, submitted_at,
                    transaction_id, global_position)
                 VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7)
                 ON CONFLICT (tenant, job_id) DO NOTHING"
            );
            &sql
            })
            .bind(tenant.as_str())
            .bind(job_id)
            .bind(user_id.as_str())
            .bind(idempotency_key.as_deref())
            .bind(at),
            ExtractionJobEvent::Started { attempt } => sqlx::query({
                sql = format!(
                "UPDATE {table} SET status = 'running', started_at = $3, attempts = $4,
                    transaction_id = $5, global_position = $6
                 WHERE tenant = $1 AND job_id = $2"
            );
            &sql
            })
            .bind(tenant.as_str())
            .bind(job_id)
            .bind(at)
            .bind(i32::try_from(*attempt).unwrap_or(i32::MAX)),
            ExtractionJobEvent::Completed { counts } => sqlx::query({
                sql = format!(
                "UPDATE {table} SET status = 'completed', finished_at = $3, added = $4, updated = $5,
                    retracted = $6, unchanged = $7, transaction_id = $8, global_position = $9
                 WHERE tenant = $1 AND job_id = $2"
            );
            &sql
            })
            .bind(tenant.as_str())
            .bind(job_id)
            .bind(at)
            .bind(i32::try_from(counts.added).unwrap_or(i32::MAX))
            .bind(i32::try_from(counts.updated).unwrap_or(i32::MAX))
            .bind(i32::try_from(counts.retracted).unwrap_or(i32::MAX))
            .bind(i32::try_from(counts.unchanged).unwrap_or(i32::MAX)),
            ExtractionJobEvent::Failed {
                error, retryable, ..
            } => {
                // A retryable failure waits for its next attempt; a permanent one is final.
                let status = if *retryable { "queued" } else { "failed" };
                sqlx::query({
                    sql = format!(
                    "UPDATE {table} SET status = $3, last_error = $4,
                        finished_at = CASE WHEN $3 = 'failed' THEN $5 ELSE finished_at END,
                        transaction_id = $6, global_position = $7
                     WHERE tenant = $1 AND job_id = $2"
                );
                &sql
                })
                .bind(tenant.as_str())
                .bind(job_id)
                .bind(status)
                .bind(error)
                .bind(at)
            }
            ExtractionJobEvent::DeadLettered { reason } => sqlx::query({
                sql = format!(
                "UPDATE {table} SET status = 'dead_lettered', last_error = $3, finished_at = $4,
                    transaction_id = $5, global_position = $6
                 WHERE tenant = $1 AND job_id = $2"
            );
            &sql
            })
            .bind(tenant.as_str())
            .bind(job_id)
            .bind(reason)
            .bind(at),
        };
        query
            .bind(position.0)
            .bind(position.1)
            .execute(&mut *connection)
            .await?;
        Ok(None)
    }
}
