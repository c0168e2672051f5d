//! The read models, each a `Projection` written once against the [`ReadModelWrites`] sink:
//! the Postgres daemon and the embedded projector run this same list, each with its own
//! transaction behind the sink.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pika_domain::UserMemoryEvent;
use uuid::Uuid;

use crate::ProjectionError;
use crate::decode::{DomainEvent, committed_at, stored_time};
use crate::event_log::{LogPosition, RecordedEvent};
use crate::fact_record::{FactChange, FactRecord, fact_change};
use crate::favorite_summary::FavoriteSummary;
use crate::jobs::JobRecord;
use crate::writes::{ExtractionJobRow, FactRow, ReadModelWrites, SummaryRow};

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

/// A projection's read model built in memory from the whole log, then written at once.
///
/// One statement per event caps a rebuild at a few thousand events a second; a fold uses the
/// same pure steps as the live path and writes the final rows once. Memory grows with the live
/// rows (not with the events): a million live facts need a few hundred megabytes.
#[async_trait]
pub trait RebuildFold: Send {
    /// Folds one event, in log order.
    fn apply(&mut self, position: LogPosition, at: DateTime<Utc>, event: &DomainEvent);

    /// Writes every row into the projection's tables of `tables` (fresh, empty copies).
    async fn write(
        self: Box<Self>,
        writes: &mut dyn ReadModelWrites,
        tables: TableSet,
    ) -> Result<u64, ProjectionError>;
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
    /// The aggregate types whose events this projection reads; a rebuild passes over the
    /// others without decoding or opening them.
    fn aggregate_types(&self) -> &'static [&'static str] {
        &["UserMemory", "ExtractionJob"]
    }
    /// Whether it reads personal fields. One that does skips a shredded event (its user was
    /// forgotten, and `UserForgotten`, which follows it, purges what it had); one that does
    /// not (job status, the relay, cache invalidation) still sees it, with placeholders for
    /// the personal fields, so a forgotten user's queued job is still tracked and dispatched,
    /// and ends `skipped` instead of waiting for ever.
    fn reads_personal_data(&self) -> bool {
        true
    }
    /// How a rebuild folds the whole log in memory and writes the rows at once; `None` replays
    /// event by event through [`Projection::apply`].
    fn rebuild_fold(&self) -> Option<Box<dyn RebuildFold>> {
        None
    }
    /// Writes what one event changes, inside the caller's transaction.
    async fn apply(
        &self,
        writes: &mut dyn ReadModelWrites,
        tables: TableSet,
        event: &RecordedEvent,
        decoded: &DomainEvent,
    ) -> Result<Option<ChangedUser>, ProjectionError>;
}

/// All read models, in the order the daemon and the embedded projector run them.
pub fn all_projections() -> Vec<std::sync::Arc<dyn Projection>> {
    vec![
        std::sync::Arc::new(FactsProjection),
        std::sync::Arc::new(FavoriteSummaryProjection),
        std::sync::Arc::new(ExtractionJobsProjection),
        std::sync::Arc::new(crate::episodes::EpisodesProjection),
    ]
}

/// Whether `projection` is to apply `event` at all (see [`Projection::reads_personal_data`]).
pub fn sees(projection: &dyn Projection, event: &RecordedEvent) -> bool {
    !(event.shredded && projection.reads_personal_data())
}

/// The user an event changed, for the caches that hold their answers.
pub(crate) fn changed(tenant: &impl ToString, user_id: &impl ToString) -> Option<ChangedUser> {
    Some(ChangedUser {
        tenant: tenant.to_string(),
        user_id: user_id.to_string(),
    })
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

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["UserMemory"]
    }

    fn rebuild_fold(&self) -> Option<Box<dyn RebuildFold>> {
        Some(Box::<FactsFold>::default())
    }

    async fn apply(
        &self,
        writes: &mut dyn ReadModelWrites,
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
        if matches!(user_event, UserMemoryEvent::UserForgotten { .. }) {
            // The retractions before it were sealed with the key this event destroyed, so
            // they were skipped: the user's rows go here, all at once.
            writes
                .forget_facts(tables, tenant.as_str(), user_id.as_str())
                .await?;
            return Ok(changed(tenant, user_id));
        }
        let at = stored_time(committed_at(event));
        let Some(change) = fact_change(user_id.as_str(), user_event, at) else {
            return Ok(None);
        };
        writes
            .apply_fact_change(
                tables,
                tenant.as_str(),
                user_id.as_str(),
                change,
                event.position.global_position,
            )
            .await?;
        Ok(changed(tenant, user_id))
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

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["UserMemory"]
    }

    fn rebuild_fold(&self) -> Option<Box<dyn RebuildFold>> {
        Some(Box::<SummaryFold>::default())
    }

    async fn apply(
        &self,
        writes: &mut dyn ReadModelWrites,
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
        let mut summary = writes
            .favorite_summary_for_update(tables, tenant.as_str(), user_id.as_str())
            .await
            .map_err(|error| match error {
                ProjectionError::Corrupt { detail, .. } => ProjectionError::corrupt(event, detail),
                other => other,
            })?
            .unwrap_or_default();
        summary.apply(user_event);
        let row = SummaryRow {
            tenant: tenant.to_string(),
            user_id: user_id.to_string(),
            summary,
            last_changed_at: stored_time(committed_at(event)),
            position: event.position.global_position,
        };
        writes.put_favorite_summary(tables, &row).await?;
        Ok(changed(tenant, user_id))
    }
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

    fn aggregate_types(&self) -> &'static [&'static str] {
        &["ExtractionJob"]
    }

    fn reads_personal_data(&self) -> bool {
        false
    }

    fn rebuild_fold(&self) -> Option<Box<dyn RebuildFold>> {
        Some(Box::<JobsFold>::default())
    }

    async fn apply(
        &self,
        writes: &mut dyn ReadModelWrites,
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
        let current = writes
            .job_for_update(tables, tenant.as_str(), *job_id)
            .await?;
        let at = stored_time(committed_at(event));
        let next = JobRecord::next(current.clone(), job_event, at, event.position);
        let Some(record) = next.filter(|row| Some(row) != current.as_ref()) else {
            return Ok(None);
        };
        let row = ExtractionJobRow {
            tenant: tenant.to_string(),
            job_id: *job_id,
            record,
        };
        writes.put_job(tables, &row).await?;
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
        if matches!(event, UserMemoryEvent::UserForgotten { .. }) {
            self.facts
                .retain(|(t, u, _), _| t != tenant.as_str() || u != user_id.as_str());
            return;
        }
        let Some(change) = fact_change(user_id.as_str(), event, stored_time(at)) else {
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
        writes: &mut dyn ReadModelWrites,
        tables: TableSet,
    ) -> Result<u64, ProjectionError> {
        let rows = self
            .facts
            .into_iter()
            .map(|((tenant, _, _), (record, position))| FactRow {
                tenant,
                record,
                position,
            })
            .collect();
        writes.bulk_facts(tables, rows).await
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
        let at = stored_time(at);
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
        writes: &mut dyn ReadModelWrites,
        tables: TableSet,
    ) -> Result<u64, ProjectionError> {
        let rows = self
            .users
            .into_iter()
            .map(
                |((tenant, user_id), (summary, last_changed_at, position))| SummaryRow {
                    tenant,
                    user_id,
                    summary,
                    last_changed_at,
                    position,
                },
            )
            .collect();
        writes.bulk_summaries(tables, rows).await
    }
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
        if let Some(row) = JobRecord::next(current, event, stored_time(at), position) {
            self.jobs.insert(key, row);
        }
    }

    async fn write(
        self: Box<Self>,
        writes: &mut dyn ReadModelWrites,
        tables: TableSet,
    ) -> Result<u64, ProjectionError> {
        let rows = self
            .jobs
            .into_iter()
            .map(|((tenant, job_id), record)| ExtractionJobRow {
                tenant,
                job_id,
                record,
            })
            .collect();
        writes.bulk_jobs(tables, rows).await
    }
}
