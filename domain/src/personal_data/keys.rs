//! The keys: a user's data key (AES-256-GCM) and the master key that wraps every data key.

use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use uuid::Uuid;

use super::{BASE64, SealError};

const NONCE_BYTES: usize = 12;
/// The AES-GCM authentication tag that ends every sealed value.
const TAG_BYTES: usize = 16;
pub(super) const KEY_BYTES: usize = 32;

/// A 256-bit key. Debug never prints it. The expanded cipher is kept beside the bytes: a
/// rebuild opens every sealed event of the log, and expanding the key each time cost as much
/// as the decryption.
#[derive(Clone)]
pub struct DataKey {
    bytes: [u8; KEY_BYTES],
    cipher: Aes256Gcm,
}

impl PartialEq for DataKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for DataKey {}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self::of(rand::random())
    }

    fn of(bytes: [u8; KEY_BYTES]) -> Self {
        Self {
            cipher: Aes256Gcm::new((&bytes).into()),
            bytes,
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        <[u8; KEY_BYTES]>::try_from(bytes)
            .map(Self::of)
            .map_err(|_| SealError::BadKey(format!("a key is {KEY_BYTES} bytes")))
    }

    fn cipher(&self) -> &Aes256Gcm {
        &self.cipher
    }

    /// `nonce || ciphertext+tag` of `plain`, bound to `aad`.
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let mut sealed = nonce.to_vec();
        let ciphertext = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            .unwrap_or_default();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// [`DataKey::open`] without a second buffer: `sealed` is decrypted where it lies, and the
    /// plain bytes are the part of it returned (a rebuild opens every event of the log).
    pub fn open_in_place<'b>(
        &self,
        sealed: &'b mut [u8],
        aad: &[u8],
    ) -> Result<&'b [u8], SealError> {
        if sealed.len() < NONCE_BYTES + TAG_BYTES {
            return Err(SealError::Tampered);
        }
        let (nonce, rest) = sealed.split_at_mut(NONCE_BYTES);
        let (ciphertext, tag) = rest.split_at_mut(rest.len() - TAG_BYTES);
        self.cipher()
            .decrypt_in_place_detached(
                Nonce::from_slice(nonce),
                aad,
                ciphertext,
                aes_gcm::Tag::from_slice(tag),
            )
            .map_err(|_| SealError::Tampered)?;
        Ok(ciphertext)
    }

    /// The plain bytes of what [`DataKey::seal`] made with this key and `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_BYTES {
            return Err(SealError::Tampered);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| SealError::Tampered)
    }
}

/// The key that wraps every data key. Losing it loses every user's personal data; it never
/// enters the database.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey(DataKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        Self(DataKey::generate())
    }

    /// Reads 32 bytes written as base64 (44 characters) or hex (64 characters).
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let text = text.trim();
        let bytes = if text.len() == 2 * KEY_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..KEY_BYTES)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| SealError::BadKey(e.to_string()))?
        } else {
            BASE64
                .decode(text)
                .map_err(|_| SealError::BadKey("not base64 or hex".to_owned()))?
        };
        DataKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| SealError::BadKey(format!("must hold {KEY_BYTES} bytes")))
    }

    /// How the key is written to a key file: base64.
    pub fn to_text(&self) -> String {
        BASE64.encode(self.0.bytes)
    }

    /// A data key as stored: sealed with this key, bound to its id.
    pub fn wrap(&self, id: Uuid, key: &DataKey) -> Vec<u8> {
        self.0.seal(&key.bytes, id.as_bytes())
    }

    pub fn unwrap(&self, id: Uuid, wrapped: &[u8]) -> Result<DataKey, SealError> {
        let plain = self
            .0
            .open(wrapped, id.as_bytes())
            .map_err(|_| SealError::WrongMasterKey)?;
        DataKey::from_bytes(&plain)
    }

    /// A value that opens only with this master key, stored beside the keys so a server
    /// started with another master key stops at once instead of failing on every read.
    pub fn check_value(&self) -> Vec<u8> {
        self.0.seal(b"pika-memory master key", b"master-key-check")
    }

    pub fn opens_check_value(&self, check: &[u8]) -> bool {
        self.0.open(check, b"master-key-check").is_ok()
    }
}
