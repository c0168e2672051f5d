//! API keys: `Authorization: Bearer <secret>` names the tenant every request acts for.
//!
//! Keys are stored behind the [`KeyStore`] port (the `api_keys` table of Postgres or of the
//! embedded file), as SHA-256 digests only, so a backup, a log line or a memory dump never
//! shows a secret that works.
//!
//! Checking a key must not cost the search route a database round trip, so each process keeps
//! the digests of every active key in memory and rereads the store every [`REFRESH_EVERY`]: a
//! key created or revoked by `pika-memory keys` takes effect in every running process within
//! that time. An unknown secret is refused from memory too, so guessing keys does not load the
//! database.

mod operations;
mod postgres;
mod sqlite;
mod store;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use pika_domain::TenantId;
use tokio::sync::watch;

pub use operations::{create_key, revoke_key};
pub use postgres::PostgresKeyStore;
pub use sqlite::SqliteKeyStore;
pub use store::{KeyRecord, KeyStore, KeyStoreError, Revocation};

use crate::config::ApiKeySeed;
use crate::problem::ApiError;
use crate::state::AppState;
use store::{ActiveKeys, SecretDigest, digest};

/// The tenant used when the server runs open (`PIKA_ALLOW_UNAUTHENTICATED=true`, no key).
pub const OPEN_TENANT: &str = "default";

/// How often a process rereads the store: the longest a revoked key keeps working, and the
/// longest a new key waits before it is accepted.
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);

/// Past this age without a successful reread, the keys in memory may include revoked ones, so
/// requests are refused (503) rather than trusted; a short database hiccup stays invisible.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// The secret of an `Authorization` header; the scheme is case-insensitive (RFC 9110 §11.1).
/// `Token` is what Mem0's clients send, so they work with only the host changed.
fn bearer_secret(header: &str) -> Option<&str> {
    let (scheme, secret) = header.trim().split_once(' ')?;
    let secret = secret.trim();
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    (known && !secret.is_empty()).then_some(secret)
}

/// The keys one read of the store found.
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

    /// The usable keys of a read; a row with an invalid tenant or digest is skipped with a
    /// warning, so one bad row does not lock every tenant out.
    fn read(read: ActiveKeys, allow_unauthenticated: bool) -> Self {
        let mut by_digest = HashMap::with_capacity(read.keys.len());
        for key in read.keys {
            match (
                TenantId::parse(&key.tenant),
                SecretDigest::try_from(key.secret_sha256),
            ) {
                (Ok(tenant), Ok(digest)) => {
                    by_digest.insert(digest, tenant);
                }
                _ => tracing::warn!(
                    id = %key.id,
                    "api_keys row with an invalid tenant or digest ignored"
                ),
            }
        }
        Self::new(by_digest, read.any_key, allow_unauthenticated)
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

/// The keys this process accepts, reread from the store by [`ApiKeys::refresh_until_stopped`].
#[derive(Debug)]
pub struct ApiKeys {
    store: Arc<dyn KeyStore>,
    allow_unauthenticated: bool,
    current: RwLock<Loaded>,
}

impl ApiKeys {
    /// Stores the configured keys, reads the store, and refuses to start with no usable key
    /// unless running open was asked for explicitly.
    pub async fn load(
        store: Arc<dyn KeyStore>,
        seeds: &[ApiKeySeed],
        allow_unauthenticated: bool,
    ) -> Result<Self, KeyStoreError> {
        operations::bootstrap(store.as_ref(), seeds).await?;
        let read_at = Instant::now();
        let read = store.active_keys().await?;
        let any_key = read.any_key;
        let keys = KeySet::read(read, allow_unauthenticated);
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

    /// Rereads the store every [`REFRESH_EVERY`] until `stopped`. A failed read keeps the
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
        let keys = KeySet::read(self.store.active_keys().await?, self.allow_unauthenticated);
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if current.keys.open.is_some() && keys.open.is_none() {
            tracing::info!("an API key was created: requests need a key from now on");
        }
        *current = Loaded { keys, read_at };
        Ok(())
    }

    pub(crate) fn tenant_for(&self, header: Option<&str>) -> Result<TenantId, ApiError> {
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
        assert_eq!(bearer_secret("Token abc"), Some("abc"));
        assert_eq!(bearer_secret("  BEARER   abc  "), Some("abc"));
        assert_eq!(bearer_secret("Basic abc"), None);
        assert_eq!(bearer_secret("Bearer"), None);
        assert_eq!(bearer_secret("Bearer   "), None);
        assert_eq!(bearer_secret("abc"), None);
        assert_eq!(bearer_secret(""), None);
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
    fn rows_the_process_cannot_use_are_skipped() {
        let row = |tenant: &str, secret_sha256: Vec<u8>| store::StoredActiveKey {
            id: "an id".into(),
            tenant: tenant.into(),
            secret_sha256,
        };
        let read = ActiveKeys {
            keys: vec![
                row("acme", digest("s3cret-key").to_vec()),
                row("not a tenant!", digest("other").to_vec()),
                row("beta", vec![1, 2, 3]),
            ],
            any_key: true,
        };
        let keys = KeySet::read(read, false);
        assert_eq!(keys.by_digest.len(), 1);
        assert!(keys.tenant_for(Some("Bearer s3cret-key")).is_ok());
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
}
