//! The read side: the event log read in a gap-free global order, the projections that turn it
//! into read models, the daemon that runs them exactly once each, and the audit-trail queries
//! answered straight from the event store.

pub mod bulk;
pub mod daemon;
pub mod decode;
pub mod embedded;
pub mod event_log;
pub mod fact_record;
pub mod favorite_summary;
pub mod history;
pub mod jobs;
pub mod projection;
pub mod read_store;
pub mod rebuild;
pub mod search;

pub use daemon::{
    DaemonSettings, ProjectionDaemon, ProjectionStatus, projection_status,
    recorded_projection_status,
};
pub use event_log::{EventLog, EventLogError, LogPosition, PostgresEventLog, RecordedEvent};
pub use projection::{ChangedUser, Projection, TableSet, all_projections};

/// Why a projection could not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("read model database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Log(#[from] EventLogError),
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
