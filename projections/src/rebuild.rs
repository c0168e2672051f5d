//! `pika-memory projections rebuild`: replay the whole log into a read model from scratch, in
//! either mode. Postgres fills fresh tables beside the live ones and swaps them in
//! (`crate::postgres::PostgresRebuilder`); the embedded file rewrites the model inside one
//! write transaction, which readers do not see until it commits
//! (`crate::sqlite::SqliteRebuilder`).

use std::sync::Arc;

use async_trait::async_trait;

use crate::ProjectionError;
use crate::event_log::LogPosition;
use crate::projection::Projection;

/// What a rebuild did, with the store's own count to check it against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    pub events_applied: u64,
    pub events_in_store: u64,
    pub position: LogPosition,
}

#[async_trait]
pub trait ProjectionRebuilder: Send + Sync + std::fmt::Debug {
    /// Rebuilds one projection; `progress` is told how many events each step applied. A
    /// rebuild whose count of applied events differs from the store's is rolled back.
    async fn rebuild(
        &self,
        projection: Arc<dyn Projection>,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<RebuildReport, ProjectionError>;

    /// Rebuilds several projections, with a report for each in the order given; `progress`
    /// is told how many events were read. A backend that can reads the log once for all of
    /// them; by default they are rebuilt one after another. A failure leaves the live tables
    /// of the failed projection, and of those not yet swapped in, as they were.
    async fn rebuild_all(
        &self,
        projections: Vec<Arc<dyn Projection>>,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<Vec<RebuildReport>, ProjectionError> {
        let mut reports = Vec::with_capacity(projections.len());
        for projection in projections {
            reports.push(self.rebuild(projection, progress).await?);
        }
        Ok(reports)
    }
}
