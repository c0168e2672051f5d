//! The write side: the cqrs-es frameworks over the event store, with what cqrs-es leaves out —
//! retry on optimistic-concurrency conflicts, commit metadata, and per-aggregate serialisation
//! inside one process.

mod retry;
pub mod sqlite;
pub mod storage;
mod write_model;

pub use retry::{Backoff, RetryPolicy};
pub use write_model::{CommandContext, CommandError, WriteModel};
