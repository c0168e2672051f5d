//! What `pika-memory keys` and a starting server do to the stored keys, written once over the
//! [`KeyStore`] port so the command line behaves the same on either backend.

use pika_domain::TenantId;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::store::{KeyStore, KeyStoreError, KeyToStore, NewKey, Revocation, check_label, digest};
use crate::config::ApiKeySeed;

/// The label of keys bootstrapped from configuration, so a list shows where they came from.
pub const SEED_LABEL: &str = "PIKA_API_KEYS";

/// Generated secrets start with this, so secret scanners and people recognise them.
const SECRET_PREFIX: &str = "pika_";

/// How much of a generated secret is kept in clear to recognise it in lists: 32 of its 256
/// random bits, too few to help a guess.
const SHOWN_PREFIX_CHARS: usize = SECRET_PREFIX.len() + 8;

/// 32 bytes from the thread's CSPRNG (ChaCha, seeded from the operating system), hex-encoded
/// so the secret survives shells, URLs and config files unquoted.
fn generate_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(format!("{SECRET_PREFIX}{}", hex::encode(bytes)))
}

/// Makes a secret and stores only its digest, so the returned [`NewKey`] is the one chance to
/// see the secret.
pub async fn create_key(
    store: &dyn KeyStore,
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
    let record = store
        .insert(&KeyToStore {
            id: Uuid::now_v7(),
            tenant,
            label,
            prefix: Some(&prefix),
            secret_sha256: digest(secret.expose_secret()),
        })
        .await?;
    Ok(NewKey { record, secret })
}

/// Revokes a key; an unknown id is an error, a revoked one is not, so scripts can repeat it.
pub async fn revoke_key(store: &dyn KeyStore, id: Uuid) -> Result<Revocation, KeyStoreError> {
    if let Some(record) = store.revoke(id).await? {
        return Ok(Revocation::Revoked(record));
    }
    match store.find(id).await? {
        Some(record) => Ok(Revocation::AlreadyRevoked(record)),
        None => Err(KeyStoreError::UnknownKey(id)),
    }
}

/// Stores the keys of `PIKA_API_KEYS`, so every process and `keys list` see them. Safe to run
/// at every start and from several processes at once; a key revoked since stays revoked, or
/// restarting with an old configuration would bring it back.
pub(super) async fn bootstrap(
    store: &dyn KeyStore,
    seeds: &[ApiKeySeed],
) -> Result<(), KeyStoreError> {
    for seed in seeds {
        let stored = store
            .insert_unless_stored(&KeyToStore {
                id: Uuid::now_v7(),
                tenant: &seed.tenant,
                label: Some(SEED_LABEL),
                prefix: None,
                secret_sha256: digest(seed.secret.expose_secret()),
            })
            .await?;
        if stored.tenant != seed.tenant.as_str() {
            return Err(KeyStoreError::SecretOfAnotherTenant {
                given: seed.tenant.to_string(),
                owner: stored.tenant,
            });
        }
        if let Some(revoked_at) = stored.revoked_at {
            tracing::warn!(
                id = %stored.id,
                tenant = %stored.tenant,
                %revoked_at,
                "a key in PIKA_API_KEYS was revoked and stays refused; remove it from PIKA_API_KEYS"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
