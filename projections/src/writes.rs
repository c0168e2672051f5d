//! The projection sink port: the row writes the read models need, inside the caller's
//! transaction. Each projection is written once against this trait; the Postgres daemon and
//! the embedded projector hand it their own transaction (`crate::postgres::PostgresWrites`,
//! `crate::sqlite::SqliteWrites`), so the two backends cannot compute different read models.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ProjectionError;
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
}
