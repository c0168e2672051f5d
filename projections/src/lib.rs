//! The read side. This crate owns how events are read back in one global order; the
//! projection daemon and the read models build on that.

pub mod event_log;

pub use event_log::{EventLog, EventLogError, LogPosition, PostgresEventLog, RecordedEvent};
