//! The read side: the event log read in a gap-free global order, the projections that turn it
//! into read models (each written once against the [`writes::ReadModelWrites`] sink), and the
//! [`ReadStore`] port the queries go through. Backend-specific code lives in [`postgres`] and
//! [`sqlite`] only.

pub mod data_keys;
pub mod decode;
pub mod episodes;
pub mod event_log;
pub mod fact_record;
pub mod favorite_summary;
pub mod history;
pub mod jobs;
pub mod opening;
pub mod postgres;
pub mod progress;
pub mod projection;
pub mod query;
pub mod read_store;
pub mod rebuild;
pub mod search;
pub mod sqlite;
pub mod writes;

pub use event_log::{EventLog, EventLogError, LogPosition, PostgresEventLog, RecordedEvent};
pub use postgres::{DaemonSettings, ProjectionDaemon};
pub use progress::{ProgressWaiter, ProjectionProgress};
pub use projection::{ChangedUser, Projection, TableSet, all_projections};
pub use read_store::{FactSelection, ProjectionStatus, ReadStore, UserSummary};
pub use rebuild::{ProjectionRebuilder, RebuildReport};

/// Why a projection could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("read model database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Log(#[from] EventLogError),
    /// The data keys could not be read, or a sealed payload did not open.
    #[error(transparent)]
    Keys(#[from] pika_domain::KeyStoreError),
    /// Something outside the database the projection needs (the job queue) is unavailable;
    /// the batch is retried from the same checkpoint.
    #[error("at position {position}: {detail}")]
    Unavailable { position: i64, detail: String },
    /// An event the projection cannot understand; the projection stops rather than skip it.
    #[error("event at position {position} cannot be projected: {detail}")]
    Corrupt { position: i64, detail: String },
}

impl ProjectionError {
    pub fn corrupt(event: &RecordedEvent, detail: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            position: event.position.global_position,
            detail: detail.to_string(),
        }
    }
}
