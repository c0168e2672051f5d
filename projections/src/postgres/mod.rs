//! The read side's Postgres adapter: the read-store queries, the projection sink, the
//! projection daemon (gap-free tailing, advisory-lock claims) and the rebuild with a table swap.

pub mod copy;
mod daemon;
mod read_store;
mod rebuild;
mod writes;

pub(crate) use daemon::status_of;
pub use daemon::{
    DaemonSettings, EVENTS_CHANNEL, ProjectionDaemon, listen_for_progress, read_checkpoint,
};
pub use read_store::PostgresReadStore;
pub use rebuild::PostgresRebuilder;
pub use writes::PostgresWrites;
