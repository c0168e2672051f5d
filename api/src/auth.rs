//! API keys: `Authorization: Bearer <secret>` names the tenant every request acts for.
//!
//! Secrets are kept only as SHA-256 digests, so a memory dump or a log line never shows one.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use pika_domain::TenantId;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::config::ApiKeySeed;
use crate::problem::ApiError;
use crate::state::AppState;

/// The tenant used when the server runs open (`PIKA_ALLOW_UNAUTHENTICATED=true`, no key).
pub const OPEN_TENANT: &str = "default";

#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    by_digest: HashMap<String, TenantId>,
    open: bool,
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl ApiKeys {
    /// Refuses to build with no key unless running open was asked for explicitly.
    pub fn new(seeds: &[ApiKeySeed], allow_unauthenticated: bool) -> anyhow::Result<Self> {
        if seeds.is_empty() && !allow_unauthenticated {
            anyhow::bail!(
                "no API key configured: set PIKA_API_KEYS=tenant:secret, or \
                 PIKA_ALLOW_UNAUTHENTICATED=true to run open for local development"
            );
        }
        let by_digest = seeds
            .iter()
            .map(|seed| (digest(seed.secret.expose_secret()), seed.tenant.clone()))
            .collect();
        Ok(Self {
            by_digest,
            open: seeds.is_empty(),
        })
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    fn tenant_for(&self, header: Option<&str>) -> Result<TenantId, ApiError> {
        if self.open {
            return TenantId::parse(OPEN_TENANT).map_err(|e| ApiError::Internal(e.into()));
        }
        let secret = header
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        self.by_digest
            .get(&digest(secret.trim()))
            .cloned()
            .ok_or(ApiError::Unauthorized)
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
    use secrecy::SecretString;

    fn keys() -> ApiKeys {
        let seed = ApiKeySeed {
            tenant: TenantId::parse("acme").unwrap(),
            secret: SecretString::from("s3cret-key"),
        };
        ApiKeys::new(&[seed], false).unwrap()
    }

    #[test]
    fn a_known_bearer_secret_names_its_tenant() {
        let tenant = keys().tenant_for(Some("Bearer s3cret-key")).unwrap();
        assert_eq!(tenant.as_str(), "acme");
        assert!(keys().tenant_for(Some("Bearer wrong")).is_err());
        assert!(keys().tenant_for(Some("s3cret-key")).is_err());
        assert!(keys().tenant_for(None).is_err());
    }

    #[test]
    fn no_key_refuses_to_start_unless_open_is_asked_for() {
        assert!(ApiKeys::new(&[], false).is_err());
        let open = ApiKeys::new(&[], true).unwrap();
        assert!(open.is_open());
        assert_eq!(open.tenant_for(None).unwrap().as_str(), OPEN_TENANT);
    }
}
