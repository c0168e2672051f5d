//! The write side: the cqrs-es frameworks over the event store, with what cqrs-es leaves out —
//! retry on optimistic-concurrency conflicts, commit metadata, and per-aggregate serialisation
//! inside one process.

mod cached_aggregate_store;
pub mod postgres;
mod retry;
mod sealed_repository;
pub mod sqlite;
mod write_model;

/// How long a request waits for a pooled connection before failing with a clear error instead
/// of hanging while the database is down (both backends' pools).
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub use pika_domain::Backoff;
pub use retry::RetryPolicy;
pub use sealed_repository::{KeyCache, KeyRowsInCommit, SealedRepository};
pub use write_model::{CommandContext, CommandError, WriteModel};
