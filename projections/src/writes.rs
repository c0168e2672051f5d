//! The projection sink port: the row writes the read models need, inside the caller's
//! transaction. Each projection is written once against this trait; the Postgres daemon and
//! the embedded projector hand it their own transaction (`crate::postgres::PostgresWrites`,
//! `crate::sqlite::SqliteWrites`), so the two backends cannot compute different read models.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ProjectionError;
use crate::episodes::EpisodeRow;
use crate::fact_record::{FactChange, FactRecord};
use crate::favorite_summary::FavoriteSummary;
use crate::jobs::JobRecord;
use crate::projection::TableSet;

/// A live fact as a rebuild writes it: its tenant, record and the position of its last change.
#[derive(Debug, Clone)]
pub struct FactRow {
    pub tenant: String,
    pub record: FactRecord,
    pub position: i64,
}

/// A user's summary as a rebuild writes it.
#[derive(Debug, Clone)]
pub struct SummaryRow {
    pub tenant: String,
    pub user_id: String,
    pub summary: FavoriteSummary,
    pub last_changed_at: DateTime<Utc>,
    pub position: i64,
}

/// A job's row as a rebuild writes it.
#[derive(Debug, Clone)]
pub struct ExtractionJobRow {
    pub tenant: String,
    pub job_id: Uuid,
    pub record: JobRecord,
}

#[async_trait]
pub trait ReadModelWrites: Send {
    /// Applies one fact change; the row takes the vector of its text from the embedding cache
    /// when the worker computed one before committing.
    async fn apply_fact_change(
        &mut self,
        tables: TableSet,
        tenant: &str,
        user_id: &str,
        change: FactChange,
        position: i64,
    ) -> Result<(), ProjectionError>;

    /// The user's summary row, held against concurrent writers until the transaction ends.
    async fn favorite_summary_for_update(
        &mut self,
        tables: TableSet,
        tenant: &str,
        user_id: &str,
    ) -> Result<Option<FavoriteSummary>, ProjectionError>;

    async fn put_favorite_summary(
        &mut self,
        tables: TableSet,
        row: &SummaryRow,
    ) -> Result<(), ProjectionError>;

    /// The job's row, held against concurrent writers until the transaction ends.
    async fn job_for_update(
        &mut self,
        tables: TableSet,
        tenant: &str,
        job_id: Uuid,
    ) -> Result<Option<JobRecord>, ProjectionError>;

    async fn put_job(
        &mut self,
        tables: TableSet,
        row: &ExtractionJobRow,
    ) -> Result<(), ProjectionError>;

    /// Keeps a conversation's turns; a turn already kept (a replayed event) stays as it is.
    async fn put_episodes(
        &mut self,
        tables: TableSet,
        rows: &[EpisodeRow],
    ) -> Result<(), ProjectionError>;

    /// Removes every turn of the user (they asked to be forgotten).
    /// Deletes every fact row of a forgotten user, and the cached vectors of their texts (a
    /// hash of a short text can be confirmed by guessing it).
    async fn forget_facts(
        &mut self,
        tables: TableSet,
        tenant: &str,
        user_id: &str,
    ) -> Result<(), ProjectionError>;

    async fn forget_episodes(
        &mut self,
        tables: TableSet,
        tenant: &str,
        user_id: &str,
    ) -> Result<(), ProjectionError>;

    /// Writes a rebuild's facts into empty tables at once; returns the rows written.
    async fn bulk_facts(
        &mut self,
        tables: TableSet,
        rows: Vec<FactRow>,
    ) -> Result<u64, ProjectionError>;

    async fn bulk_summaries(
        &mut self,
        tables: TableSet,
        rows: Vec<SummaryRow>,
    ) -> Result<u64, ProjectionError>;

    async fn bulk_jobs(
        &mut self,
        tables: TableSet,
        rows: Vec<ExtractionJobRow>,
    ) -> Result<u64, ProjectionError>;

    /// Writes a rebuild's turns into an empty table at once; returns the rows written.
    async fn bulk_episodes(
        &mut self,
        tables: TableSet,
        rows: Vec<EpisodeRow>,
    ) -> Result<u64, ProjectionError>;
}

/// A query of either backend, ready for more binds.
pub(crate) type Statement<'q, DB> =
    sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>;

/// Binds the job row's columns both stores keep alike, `user_id` to `unchanged` in
/// `JOB_COLUMNS` order; each adapter binds the ids and positions it keeps its own way around
/// them, so a column added to the job row is bound once for both backends.
pub(crate) fn bind_job_record<'q, DB>(
    query: Statement<'q, DB>,
    record: &JobRecord,
) -> Statement<'q, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<DateTime<Utc>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(record.user_id.clone())
        .bind(record.status.clone())
        .bind(record.attempts)
        .bind(record.last_error.clone())
        .bind(record.idempotency_key.clone())
        .bind(record.submitted_at)
        .bind(record.started_at)
        .bind(record.finished_at)
        .bind(record.added)
        .bind(record.updated)
        .bind(record.retracted)
        .bind(record.unchanged)
}

/// Binds a fact's descriptive columns both stores keep alike: `key, kind, value, text,
/// confidence, language`.
pub(crate) fn bind_fact_description<'q, DB>(
    query: Statement<'q, DB>,
    record: &FactRecord,
) -> Statement<'q, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    f64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(record.key.clone())
        .bind(record.kind.clone())
        .bind(record.value.clone())
        .bind(record.text.clone())
        .bind(record.confidence)
        .bind(record.language.clone())
}

/// Binds a summary row, `tenant, user_id, favorites, likes, dislikes, live_facts,
/// last_changed_at, global_position`: the maps as JSON, which both stores take (jsonb on
/// Postgres, text on SQLite) from the same encoding.
pub(crate) fn bind_summary_row<'q, DB>(
    query: Statement<'q, DB>,
    row: &SummaryRow,
) -> Statement<'q, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    sqlx::types::Json<std::collections::BTreeMap<String, String>>:
        sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    sqlx::types::Json<std::collections::BTreeMap<String, Vec<String>>>:
        sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(row.tenant.clone())
        .bind(row.user_id.clone())
        .bind(sqlx::types::Json(row.summary.favorites.clone()))
        .bind(sqlx::types::Json(row.summary.likes.clone()))
        .bind(sqlx::types::Json(row.summary.dislikes.clone()))
        .bind(row.summary.live_facts)
        .bind(row.last_changed_at)
        .bind(row.position)
}

/// Binds an episode row, `tenant, user_id, job_id, message_index, episode_id, role, name,
/// content, content_sha256, occurred_at, global_position`, with its ids as `Id` makes them (uuid on Postgres,
/// text on SQLite).
pub(crate) fn bind_episode_row<'q, DB, Id>(
    query: Statement<'q, DB>,
    row: &EpisodeRow,
    id: impl Fn(uuid::Uuid) -> Id,
) -> Statement<'q, DB>
where
    DB: sqlx::Database,
    Id: sqlx::Encode<'q, DB> + sqlx::Type<DB> + 'q,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i32: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let record = &row.record;
    query
        .bind(row.tenant.clone())
        .bind(row.user_id.clone())
        .bind(id(record.job_id))
        .bind(record.message_index)
        .bind(id(record.episode_id))
        .bind(record.role.clone())
        .bind(record.name.clone())
        .bind(record.content.clone())
        .bind(crate::episodes::content_digest(&record.content))
        .bind(record.occurred_at)
        .bind(row.position)
}
