//! API keys: `Authorization: Bearer <secret>` names the tenant every request acts for.
//!
//! Keys live in the `api_keys` table, as SHA-256 digests only, so a backup, a log line or a
//! memory dump never shows a secret that works. Secrets made by `pika-memory keys create` are
//! 32 random bytes, so a fast unsalted digest is enough: there is nothing to guess.
//!
//! Checking a key must not cost the search route a database round trip, so each process keeps
//! the digests of every active key in memory and reloads the table every [`REFRESH_EVERY`]: a
//! key created or revoked by `pika-memory keys` takes effect in every running process within
//! that time. An unknown secret is refused from memory too, so guessing keys does not load the
//! database.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::SubsecRound;
use chrono::{DateTime, Utc};
use pika_domain::TenantId;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest as _, Sha256};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use tokio::sync::watch;
use uuid::Uuid;

use crate::config::ApiKeySeed;
use crate::problem::ApiError;
use crate::state::AppState;

/// The tenant used when the server runs open (`PIKA_ALLOW_UNAUTHENTICATED=true`, no key).
pub const OPEN_TENANT: &str = "default";

/// How often a process rereads the table: the longest a revoked key keeps working, and the
/// longest a new key waits before it is accepted.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);

/// Past this age without a successful reread, the keys in memory may include revoked ones, so
/// requests are refused (503) rather than trusted; a short database hiccup stays invisible.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// The label of keys bootstrapped from configuration, so a list shows where they came from.
pub const SEED_LABEL: &str = "PIKA_API_KEYS";

/// Generated secrets start with this, so secret scanners and people recognise them.
const SECRET_PREFIX: &str = "pika_";

/// How much of a generated secret is kept in clear to recognise it in lists: 32 of its 256
/// random bits, too few to help a guess.
const SHOWN_PREFIX_CHARS: usize = SECRET_PREFIX.len() + 8;

pub const MAX_LABEL_CHARS: usize = 64;

/// Postgres' code for "relation does not exist": the migrations were not applied.
const UNDEFINED_TABLE: &str = "42P01";

type SecretDigest = [u8; 32];

fn digest(secret: &str) -> SecretDigest {
    Sha256::digest(secret.as_bytes()).into()
}

/// The secret of an `Authorization` header; the scheme is case-insensitive (RFC 9110 §11.1).
fn bearer_secret(header: &str) -> Option<&str> {
    let (scheme, secret) = header.trim().split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty()).then_some(secret)
}

/// 32 bytes from the thread's CSPRNG (ChaCha, seeded from the operating system), hex-encoded
/// so the secret survives shells, URLs and config files unquoted.
fn generate_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(format!("{SECRET_PREFIX}{}", hex::encode(bytes)))
}

fn check_label(label: &str) -> Result<&str, KeyStoreError> {
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

impl From<sqlx::Error> for KeyStoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.code().as_deref() == Some(UNDEFINED_TABLE) => {
                Self::MissingTable
            }
            _ => Self::Database(error),
        }
    }
}

/// A key as an operator sees it: everything but the secret, which is not kept.
#[derive(Debug, Clone, sqlx::FromRow)]
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

const RECORD_COLUMNS: &str = "id, tenant, label, prefix, created_at, revoked_at";

/// Where the keys are kept: the Postgres database, or the embedded SQLite file.
pub type KeyStore = pika_commands::storage::Database;

fn sqlite_record(row: &SqliteRow) -> Result<KeyRecord, sqlx::Error> {
    let id: String = row.try_get("id")?;
    Ok(KeyRecord {
        id: Uuid::parse_str(&id).map_err(|error| sqlx::Error::ColumnDecode {
            index: "id".into(),
            source: Box::new(error),
        })?,
        tenant: row.try_get("tenant")?,
        label: row.try_get("label")?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Times as Postgres keeps them, to the microsecond.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub async fn create_key(
    store: &KeyStore,
    tenant: &TenantId,
    label: Option<&str>,
) -> Result<NewKey, KeyStoreError> {
    let label = label.map(check_label).transpose()?;
    let secret = generate_secret();
    let prefix: String = secret
        .expose_secret()
        .chars()
        .take(SHOWN_PREFIX_CHARS)
        .collect();
    let id = Uuid::now_v7();
    let digest = digest(secret.expose_secret());
    let record = match store {
        KeyStore::Postgres(pool) => {
            sqlx::query_as::<_, KeyRecord>(&format!(
                "INSERT INTO api_keys (id, tenant, label, prefix, secret_sha256)
                 VALUES ($1, $2, $3, $4, $5)
                 RETURNING {RECORD_COLUMNS}"
            ))
            .bind(id)
            .bind(tenant.as_str())
            .bind(label)
            .bind(prefix)
            .bind(&digest[..])
            .fetch_one(pool)
            .await?
        }
        KeyStore::Sqlite(pool) => {
            let row = sqlx::query(&format!(
                "INSERT INTO api_keys (id, tenant, label, prefix, secret_sha256, created_at)
                 VALUES (?, ?, ?, ?, ?, ?)
                 RETURNING {RECORD_COLUMNS}"
            ))
            .bind(id.hyphenated().to_string())
            .bind(tenant.as_str())
            .bind(label)
            .bind(prefix)
            .bind(&digest[..])
            .bind(now())
            .fetch_one(pool)
            .await?;
            sqlite_record(&row)?
        }
    };
    Ok(NewKey { record, secret })
}

/// Every key, revoked ones included, oldest first per tenant.
pub async fn list_keys(
    store: &KeyStore,
    tenant: Option<&TenantId>,
) -> Result<Vec<KeyRecord>, KeyStoreError> {
    let tenant = tenant.map(TenantId::as_str);
    Ok(match store {
        KeyStore::Postgres(pool) => {
            sqlx::query_as::<_, KeyRecord>(&format!(
                "SELECT {RECORD_COLUMNS} FROM api_keys
                  WHERE $1::text IS NULL OR tenant = $1
                  ORDER BY tenant, created_at, id"
            ))
            .bind(tenant)
            .fetch_all(pool)
            .await?
        }
        KeyStore::Sqlite(pool) => sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM api_keys
              WHERE ?1 IS NULL OR tenant = ?1
              ORDER BY tenant, created_at, id"
        ))
        .bind(tenant)
        .fetch_all(pool)
        .await?
        .iter()
        .map(sqlite_record)
        .collect::<Result<_, _>>()?,
    })
}

pub async fn revoke_key(store: &KeyStore, id: Uuid) -> Result<Revocation, KeyStoreError> {
    let (revoked, existing) = match store {
        KeyStore::Postgres(pool) => {
            let revoked = sqlx::query_as::<_, KeyRecord>(&format!(
                "UPDATE api_keys SET revoked_at = now()
                  WHERE id = $1 AND revoked_at IS NULL
                  RETURNING {RECORD_COLUMNS}"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?;
            let existing = sqlx::query_as::<_, KeyRecord>(&format!(
                "SELECT {RECORD_COLUMNS} FROM api_keys WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?;
            (revoked, existing)
        }
        KeyStore::Sqlite(pool) => {
            let key = id.hyphenated().to_string();
            let revoked = sqlx::query(&format!(
                "UPDATE api_keys SET revoked_at = ?
                  WHERE id = ? AND revoked_at IS NULL
                  RETURNING {RECORD_COLUMNS}"
            ))
            .bind(now())
            .bind(&key)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(sqlite_record)
            .transpose()?;
            let existing = sqlx::query(&format!(
                "SELECT {RECORD_COLUMNS} FROM api_keys WHERE id = ?"
            ))
            .bind(&key)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(sqlite_record)
            .transpose()?;
            (revoked, existing)
        }
    };
    match (revoked, existing) {
        (Some(record), _) => Ok(Revocation::Revoked(record)),
        (None, Some(record)) => Ok(Revocation::AlreadyRevoked(record)),
        (None, None) => Err(KeyStoreError::UnknownKey(id)),
    }
}

/// Stores the keys of `PIKA_API_KEYS`, so every process and `keys list` see them. Safe to run
/// at every start and from several processes at once; a key revoked since stays revoked, or
/// restarting with an old configuration would bring it back.
async fn bootstrap(store: &KeyStore, seeds: &[ApiKeySeed]) -> Result<(), KeyStoreError> {
    for seed in seeds {
        let digest = digest(seed.secret.expose_secret());
        let (id, owner, revoked_at): (String, String, Option<DateTime<Utc>>) = match store {
            KeyStore::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO api_keys (id, tenant, label, secret_sha256)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (secret_sha256) DO NOTHING",
                )
                .bind(Uuid::now_v7())
                .bind(seed.tenant.as_str())
                .bind(SEED_LABEL)
                .bind(&digest[..])
                .execute(pool)
                .await?;
                sqlx::query_as(
                    "SELECT id::text, tenant, revoked_at FROM api_keys WHERE secret_sha256 = $1",
                )
                .bind(&digest[..])
                .fetch_one(pool)
                .await?
            }
            KeyStore::Sqlite(pool) => {
                sqlx::query(
                    "INSERT INTO api_keys (id, tenant, label, secret_sha256, created_at)
                     VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (secret_sha256) DO NOTHING",
                )
                .bind(Uuid::now_v7().hyphenated().to_string())
                .bind(seed.tenant.as_str())
                .bind(SEED_LABEL)
                .bind(&digest[..])
                .bind(now())
                .execute(pool)
                .await?;
                sqlx::query_as(
                    "SELECT id, tenant, revoked_at FROM api_keys WHERE secret_sha256 = ?",
                )
                .bind(&digest[..])
                .fetch_one(pool)
                .await?
            }
        };
        if owner != seed.tenant.as_str() {
            return Err(KeyStoreError::SecretOfAnotherTenant {
                given: seed.tenant.to_string(),
                owner,
            });
        }
        if let Some(revoked_at) = revoked_at {
            tracing::warn!(
                %id,
                tenant = %owner,
                %revoked_at,
                "a key in PIKA_API_KEYS was revoked and stays refused; remove it from PIKA_API_KEYS"
            );
        }
    }
    Ok(())
}

/// The active keys by digest, and whether the table holds any key at all.
async fn read_keys(
    store: &KeyStore,
) -> Result<(HashMap<SecretDigest, TenantId>, bool), KeyStoreError> {
    let any = "SELECT EXISTS (SELECT 1 FROM api_keys)";
    let (rows, any_key): (Vec<(String, String, Vec<u8>)>, bool) = match store {
        KeyStore::Postgres(pool) => (
            sqlx::query_as(
                "SELECT id::text, tenant, secret_sha256 FROM api_keys WHERE revoked_at IS NULL",
            )
            .fetch_all(pool)
            .await?,
            sqlx::query_scalar(any).fetch_one(pool).await?,
        ),
        KeyStore::Sqlite(pool) => (
            sqlx::query_as(
                "SELECT id, tenant, secret_sha256 FROM api_keys WHERE revoked_at IS NULL",
            )
            .fetch_all(pool)
            .await?,
            sqlx::query_scalar(any).fetch_one(pool).await?,
        ),
    };
    let mut by_digest = HashMap::with_capacity(rows.len());
    for (id, tenant, secret_sha256) in rows {
        match (
            TenantId::parse(&tenant),
            SecretDigest::try_from(secret_sha256),
        ) {
            (Ok(tenant), Ok(digest)) => {
                by_digest.insert(digest, tenant);
            }
            _ => tracing::warn!(%id, "api_keys row with an invalid tenant or digest ignored"),
        }
    }
    Ok((by_digest, any_key))
}

/// The keys one read of the table found.
#[derive(Debug)]
struct KeySet {
    by_digest: HashMap<SecretDigest, TenantId>,
    /// Set when requests need no key. Only while the table has never held a key: revoking the
    /// last key must not open a server to everyone.
    open: Option<TenantId>,
}

impl KeySet {
    fn new(
        by_digest: HashMap<SecretDigest, TenantId>,
        any_key: bool,
        allow_unauthenticated: bool,
    ) -> Self {
        let open = (allow_unauthenticated && !any_key)
            .then(|| TenantId::parse(OPEN_TENANT).ok())
            .flatten();
        Self { by_digest, open }
    }

    fn tenant_for(&self, header: Option<&str>) -> Result<TenantId, ApiError> {
        if let Some(tenant) = &self.open {
            return Ok(tenant.clone());
        }
        let secret = header
            .and_then(bearer_secret)
            .ok_or(ApiError::Unauthorized)?;
        self.by_digest
            .get(&digest(secret))
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

#[derive(Debug)]
struct Loaded {
    keys: KeySet,
    /// When the read that produced `keys` started: anything committed before is in them.
    read_at: Instant,
}

impl Loaded {
    fn tenant_for(&self, header: Option<&str>) -> Result<TenantId, ApiError> {
        if self.read_at.elapsed() > STALE_AFTER {
            return Err(ApiError::Unavailable(format!(
                "API keys cannot be checked: the database has not answered for over {} s; retry",
                STALE_AFTER.as_secs()
            )));
        }
        self.keys.tenant_for(header)
    }
}

/// The keys this process accepts, reread from the table by [`ApiKeys::refresh_until_stopped`].
#[derive(Debug)]
pub struct ApiKeys {
    store: KeyStore,
    allow_unauthenticated: bool,
    current: RwLock<Loaded>,
}

impl ApiKeys {
    /// Stores the configured keys, reads the table, and refuses to start with no usable key
    /// unless running open was asked for explicitly.
    pub async fn load(
        store: KeyStore,
        seeds: &[ApiKeySeed],
        allow_unauthenticated: bool,
    ) -> Result<Self, KeyStoreError> {
        bootstrap(&store, seeds).await?;
        let read_at = Instant::now();
        let (by_digest, any_key) = read_keys(&store).await?;
        let keys = KeySet::new(by_digest, any_key, allow_unauthenticated);
        if keys.open.is_some() {
            tracing::warn!(
                "no API key configured: every request acts for tenant \"{OPEN_TENANT}\"; for local development only"
            );
        } else if keys.by_digest.is_empty() {
            if !allow_unauthenticated {
                return Err(if any_key {
                    KeyStoreError::AllRevoked
                } else {
                    KeyStoreError::NoKey
                });
            }
            tracing::warn!(
                "every API key is revoked: every request is refused until one is created with `pika-memory keys create`"
            );
        } else {
            tracing::info!(active_keys = keys.by_digest.len(), "API keys loaded");
        }
        Ok(Self {
            store,
            allow_unauthenticated,
            current: RwLock::new(Loaded { keys, read_at }),
        })
    }

    /// Rereads the table every [`REFRESH_EVERY`] until `stopped`. A failed read keeps the
    /// previous keys; see [`STALE_AFTER`] for how long they are trusted.
    pub async fn refresh_until_stopped(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut failing = false;
        loop {
            let stop = tokio::select! {
                () = tokio::time::sleep(REFRESH_EVERY) => false,
                changed = stopped.changed() => changed.is_err() || *stopped.borrow(),
            };
            if stop {
                break;
            }
            match self.reload().await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("API keys are read from the database again");
                }
                Ok(()) => {}
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(
                        %error,
                        "cannot reread API keys; the ones read last are used for up to {} s",
                        STALE_AFTER.as_secs()
                    );
                }
                Err(_) => {}
            }
        }
    }

    async fn reload(&self) -> Result<(), KeyStoreError> {
        let read_at = Instant::now();
        let (by_digest, any_key) = read_keys(&self.store).await?;
        let keys = KeySet::new(by_digest, any_key, self.allow_unauthenticated);
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if current.keys.open.is_some() && keys.open.is_none() {
            tracing::info!("an API key was created: requests need a key from now on");
        }
        *current = Loaded { keys, read_at };
        Ok(())
    }

    fn tenant_for(&self, header: Option<&str>) -> Result<TenantId, ApiError> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .tenant_for(header)
    }
}

/// The tenant the request's API key belongs to.
#[derive(Debug, Clone)]
pub struct Tenant(pub TenantId);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        state.api_keys.tenant_for(header).map(Tenant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme_keys() -> KeySet {
        let by_digest = HashMap::from([(
            digest("s3cret-key"),
            TenantId::parse("acme").expect("a tenant"),
        )]);
        KeySet::new(by_digest, true, false)
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_needs_a_secret() {
        assert_eq!(bearer_secret("Bearer abc"), Some("abc"));
        assert_eq!(bearer_secret("bearer abc"), Some("abc"));
        assert_eq!(bearer_secret("  BEARER   abc  "), Some("abc"));
        assert_eq!(bearer_secret("Basic abc"), None);
        assert_eq!(bearer_secret("Bearer"), None);
        assert_eq!(bearer_secret("Bearer   "), None);
        assert_eq!(bearer_secret("abc"), None);
        assert_eq!(bearer_secret(""), None);
    }

    #[test]
    fn secrets_are_kept_as_their_sha256() {
        assert_eq!(
            hex::encode(digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn generated_secrets_are_32_random_bytes_in_hex() {
        let first = generate_secret();
        let second = generate_secret();
        let hex_part = first
            .expose_secret()
            .strip_prefix(SECRET_PREFIX)
            .expect("the prefix");
        assert_eq!(hex::decode(hex_part).expect("hex").len(), 32);
        assert_ne!(first.expose_secret(), second.expose_secret());
        assert!(!format!("{first:?}").contains(hex_part), "Debug hides it");
    }

    #[test]
    fn a_known_bearer_secret_names_its_tenant() {
        let keys = acme_keys();
        let tenant = keys.tenant_for(Some("Bearer s3cret-key")).expect("known");
        assert_eq!(tenant.as_str(), "acme");
        assert!(keys.tenant_for(Some("Bearer wrong")).is_err());
        assert!(keys.tenant_for(Some("s3cret-key")).is_err());
        assert!(keys.tenant_for(None).is_err());
    }

    #[test]
    fn only_a_table_that_never_held_a_key_runs_open() {
        let open = KeySet::new(HashMap::new(), false, true);
        assert_eq!(open.tenant_for(None).expect("open").as_str(), OPEN_TENANT);
        let all_revoked = KeySet::new(HashMap::new(), true, true);
        assert!(all_revoked.tenant_for(None).is_err());
        let not_allowed = KeySet::new(HashMap::new(), false, false);
        assert!(not_allowed.tenant_for(None).is_err());
    }

    #[test]
    fn keys_not_reread_for_too_long_are_not_trusted() {
        let fresh = Loaded {
            keys: acme_keys(),
            read_at: Instant::now(),
        };
        assert!(fresh.tenant_for(Some("Bearer s3cret-key")).is_ok());
        let stale = Loaded {
            keys: acme_keys(),
            read_at: Instant::now()
                .checked_sub(STALE_AFTER + Duration::from_secs(1))
                .expect("the clock runs longer than that"),
        };
        assert!(matches!(
            stale.tenant_for(Some("Bearer s3cret-key")),
            Err(ApiError::Unavailable(_))
        ));
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
