//! The data-key store's adapters: where each user's keys live, wrapped by the master key.
//!
//! No key is cached between calls. A process that kept a key another process has just
//! destroyed would go on sealing new facts with it, facts no one could read again; one indexed
//! read per commit costs far less than a lost fact.

pub mod admin;
mod postgres;
pub(crate) mod sqlite;

pub use admin::{PersonalDataAdmin, Retention, SealReport, apply_retention, seal_clear_log};
pub use postgres::PostgresDataKeys;
pub use sqlite::SqliteDataKeys;

use pika_domain::{DataKey, KeyStoreError, MasterKey};
use uuid::Uuid;

fn unavailable(error: sqlx::Error) -> KeyStoreError {
    KeyStoreError::Unavailable(error.to_string())
}

fn unwrap_row(master: &MasterKey, id: Uuid, wrapped: &[u8]) -> Result<DataKey, KeyStoreError> {
    Ok(master.unwrap(id, wrapped)?)
}

/// What starting with a master key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeyCheck {
    /// The database had no keys yet; this master key is now the one it expects.
    Adopted,
    /// The master key opens the keys already stored.
    Matches,
}
