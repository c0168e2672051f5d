//! The port to where API keys are kept, and the types both sides of it share.
//!
//! The adapters ([`super::postgres`], [`super::sqlite`]) hold only SQL and row decoding; every
//! decision (what a new key looks like, what bootstrapping keeps, what a revocation reports)
//! is made once, outside them, so the two backends cannot drift apart.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pika_domain::TenantId;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// The longest label an operator may give a key: enough to name a person or a machine, short
/// enough to keep `keys list` on one line.
pub const MAX_LABEL_CHARS: usize = 64;

/// What is stored of a secret. Secrets made by `pika-memory keys create` are 32 random bytes,
/// so a fast unsalted digest is enough: there is nothing to guess.
pub type SecretDigest = [u8; 32];

pub fn digest(secret: &str) -> SecretDigest {
    Sha256::digest(secret.as_bytes()).into()
}

/// The label trimmed, or why it cannot be stored: it is printed in lists and logs, where a
/// control character or a very long text would break the layout.
pub fn check_label(label: &str) -> Result<&str, KeyStoreError> {
    let label = label.trim();
    let chars = label.chars().count();
    if (1..=MAX_LABEL_CHARS).contains(&chars) && !label.chars().any(char::is_control) {
        Ok(label)
    } else {
        Err(KeyStoreError::InvalidLabel(format!(
            "use 1 to {MAX_LABEL_CHARS} characters, no control characters"
        )))
    }
}

/// Errors of reading and changing the `api_keys` table, at start and from the command line.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error(
        "the api_keys table does not exist in the database at PIKA_DATABASE_URL: run \
         `pika-memory migrate` first"
    )]
    MissingTable,
    #[error(
        "no API key configured: set PIKA_API_KEYS=tenant:secret or create one with \
         `pika-memory keys create --tenant <tenant>`, or set PIKA_ALLOW_UNAUTHENTICATED=true to \
         run open for local development"
    )]
    NoKey,
    #[error(
        "every API key is revoked and PIKA_API_KEYS names no other: create one with \
         `pika-memory keys create --tenant <tenant>`"
    )]
    AllRevoked,
    #[error(
        "PIKA_API_KEYS: the secret given for tenant {given:?} is already the key of tenant \
         {owner:?}; give each tenant a secret of its own"
    )]
    SecretOfAnotherTenant { given: String, owner: String },
    #[error("--label: {0}")]
    InvalidLabel(String),
    #[error("no API key with id {0}; `pika-memory keys list` shows the ids")]
    UnknownKey(Uuid),
    #[error("the api_keys table cannot be read or written: {0}")]
    Database(sqlx::Error),
}

/// A key as an operator sees it: everything but the secret, which is not kept.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub id: Uuid,
    pub tenant: String,
    pub label: Option<String>,
    pub prefix: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created: the only moment its secret exists outside the client that asked.
#[derive(Debug)]
pub struct NewKey {
    pub record: KeyRecord,
    pub secret: SecretString,
}

/// What `revoke_key` did; revoking twice is not an error, so scripts can repeat it.
#[derive(Debug)]
pub enum Revocation {
    Revoked(KeyRecord),
    AlreadyRevoked(KeyRecord),
}

/// A row to insert, decided before it reaches a store so both backends store the same thing;
/// the store adds the creation time.
#[derive(Debug)]
pub struct KeyToStore<'a> {
    pub id: Uuid,
    pub tenant: &'a TenantId,
    pub label: Option<&'a str>,
    /// `None` for keys whose secret was chosen by hand: it may be short, so none of it is kept.
    pub prefix: Option<&'a str>,
    pub secret_sha256: SecretDigest,
}

/// An active key as stored, still unchecked: a row the process cannot use is skipped with a
/// warning rather than failing every request.
#[derive(Debug)]
pub struct StoredActiveKey {
    /// Only to name the row in that warning.
    pub id: String,
    pub tenant: String,
    pub secret_sha256: Vec<u8>,
}

/// One read of the table, as each process's key set needs it.
#[derive(Debug)]
pub struct ActiveKeys {
    pub keys: Vec<StoredActiveKey>,
    /// Whether the table holds any key at all, revoked ones included: a server may run open
    /// only while it never held one.
    pub any_key: bool,
}

/// Where API keys are kept; one implementation per storage backend, so the command line and
/// the servers run the same logic over Postgres and over the embedded file.
#[async_trait]
pub trait KeyStore: Send + Sync + Debug {
    /// Stores a key made by `create_key`.
    async fn insert(&self, key: &KeyToStore<'_>) -> Result<KeyRecord, KeyStoreError>;

    /// Stores `key` unless a key with its digest is stored already, and returns the key that
    /// holds the digest, new or old. Several processes may bootstrap the same configured keys
    /// at once; a key revoked before stays as it is.
    async fn insert_unless_stored(&self, key: &KeyToStore<'_>) -> Result<KeyRecord, KeyStoreError>;

    /// Every key, revoked ones included, ordered by tenant, then oldest first.
    async fn list(&self, tenant: Option<&TenantId>) -> Result<Vec<KeyRecord>, KeyStoreError>;

    /// A key whatever its state, so revoking it twice can say when it was revoked.
    async fn find(&self, id: Uuid) -> Result<Option<KeyRecord>, KeyStoreError>;

    /// Revokes key `id` if it is active, and returns it then; `None` when there is no active
    /// key `id` (unknown, or revoked before).
    async fn revoke(&self, id: Uuid) -> Result<Option<KeyRecord>, KeyStoreError>;

    /// What a process needs to check requests, read at every refresh.
    async fn active_keys(&self) -> Result<ActiveKeys, KeyStoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_kept_as_their_sha256() {
        assert_eq!(
            hex::encode(digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn labels_are_short_printable_text() {
        assert_eq!(check_label("  ci runner ").expect("valid"), "ci runner");
        assert!(check_label("").is_err());
        assert!(check_label("a\nb").is_err());
        assert!(check_label(&"x".repeat(MAX_LABEL_CHARS + 1)).is_err());
        let message = check_label(" ").expect_err("blank").to_string();
        assert!(message.contains("--label"), "{message}");
    }
}
