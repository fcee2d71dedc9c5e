//! External keys: the key backend trait the handlers use, and the software
//! backend (AES-256 keys sealed under the root key in the data directory).
//!
//! A backend hands out [`ExternalKey`] handles that do their cryptography
//! inside themselves, so the PKCS#11 token backend (`super::pkcs11`) slots
//! in without touching the handlers.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};
use trent_crypto::{RootKey, SecretBytes};
use zeroize::Zeroizing;

use super::error::{ErrorName, XksError};
use super::store::{self, DataDir};

/// GCM tag length (the spec requires 16 bytes).
pub const TAG_LEN: usize = 16;
/// Longest external key id the spec allows.
pub const MAX_KEY_ID_LEN: usize = 128;

/// `ENABLED` or `DISABLED`, as GetKeyMetadata's keyStatus says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum KeyStatus {
    Enabled,
    Disabled,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Enabled => "ENABLED",
            KeyStatus::Disabled => "DISABLED",
        }
    }
}

/// The output of an AES-GCM encryption.
#[derive(Debug)]
pub struct Sealed {
    pub iv: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub tag: Vec<u8>,
}

/// One key manager behind the proxy, as GetHealthStatus reports it.
#[derive(Debug, Clone, Serialize)]
pub struct EkmDetails {
    pub id: String,
    pub model: String,
    #[serde(rename = "healthStatus")]
    pub health_status: &'static str,
}

/// Where external keys live.
pub trait KeyBackend: Send + Sync {
    /// The key named `key_id`: [`ErrorName::KeyNotFoundException`] if none.
    fn open(&self, key_id: &str) -> Result<Box<dyn ExternalKey>, XksError>;
    /// A deep health check (the spec: a crypto round trip on a test key, not
    /// on a key KMS uses). Returns the key managers and their health.
    fn health(&self) -> Vec<EkmDetails>;
    /// The vendor name GetHealthStatus reports as ekmVendor.
    fn vendor(&self) -> &'static str;
}

/// A handle on one external key; its material stays inside it.
pub trait ExternalKey: Send {
    fn status(&self) -> KeyStatus;
    /// AES-256-GCM with a fresh random 12-byte IV and the given AAD.
    fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, XksError>;
    /// [`ErrorName::InvalidCiphertextException`] when the tag does not verify.
    fn decrypt(&self, iv: &[u8], ciphertext: &[u8], tag: &[u8], aad: &[u8]) -> Result<SecretBytes, XksError>;
}

/// The spec's externalKeyId alphabet: 1 to 128 of A-Z a-z 0-9 - . _ ; and
/// never `.` or `..`, as the id names a file.
pub fn is_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id != "."
        && id != ".."
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// A key file: DIR/keys/<keyId>.json.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyFile {
    pub key_id: String,
    pub status: KeyStatus,
    pub created: i64,
    /// base64 of the key material sealed under the root key, with
    /// [`material_aad`] naming the key id (a file copied under another
    /// name does not unseal).
    pub material: String,
}

pub fn material_aad(key_id: &str) -> Vec<u8> {
    format!("trent-xks-key:{key_id}").into_bytes()
}

/// Keys sealed in the data directory, used with aws-lc-rs.
pub struct SoftwareBackend {
    dir: DataDir,
    root_key: Arc<RootKey>,
}

impl fmt::Debug for SoftwareBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareBackend").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl SoftwareBackend {
    pub fn new(dir: DataDir, root_key: Arc<RootKey>) -> SoftwareBackend {
        SoftwareBackend { dir, root_key }
    }

    /// Reads a key file (`None` if there is none).
    pub fn read(&self, key_id: &str) -> Result<Option<KeyFile>, String> {
        let Some(bytes) = store::read_optional(&self.dir.key_file(key_id))? else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("key file of {key_id} is malformed: {e}"))
    }

    fn unseal(&self, file: &KeyFile) -> Result<SecretBytes, String> {
        use base64::Engine;
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(&file.material)
            .map_err(|_| format!("key file of {} is malformed", file.key_id))?;
        self.root_key
            .unseal(&sealed, &material_aad(&file.key_id))
            .map_err(|e| format!("cannot unseal key {}: {e}", file.key_id))
    }
}

impl KeyBackend for SoftwareBackend {
    fn open(&self, key_id: &str) -> Result<Box<dyn ExternalKey>, XksError> {
        let not_found = || XksError::new(ErrorName::KeyNotFoundException, format!("The external key {key_id} was not found."));
        if !is_key_id(key_id) {
            return Err(not_found());
        }
        let file = self.read(key_id).map_err(internal)?.ok_or_else(not_found)?;
        let material = self.unseal(&file).map_err(internal)?;
        Ok(Box::new(SoftwareKey::new(material.as_bytes(), file.status)?))
    }

    fn health(&self) -> Vec<EkmDetails> {
        let healthy = self.dir.list(store::KEYS_DIR).is_ok() && round_trip_test_key();
        vec![EkmDetails {
            id: "trent-software".to_string(),
            model: format!("Trent software key backend {} (AES-256-GCM, aws-lc-rs)", env!("CARGO_PKG_VERSION")),
            health_status: if healthy { "ACTIVE" } else { "UNAVAILABLE" },
        }]
    }

    fn vendor(&self) -> &'static str {
        "Trent"
    }
}

/// The deep health check: encrypt and decrypt with a throwaway key.
fn round_trip_test_key() -> bool {
    let Ok(material) = trent_crypto::random_secret(32) else { return false };
    let Ok(key) = SoftwareKey::new(material.as_bytes(), KeyStatus::Enabled) else { return false };
    let probe = b"trent xks-proxy health check";
    key.encrypt(probe, b"health")
        .and_then(|s| key.decrypt(&s.iv, &s.ciphertext, &s.tag, b"health"))
        .is_ok_and(|p| p.as_bytes() == probe)
}

/// Logs the detail, answers InternalException.
fn internal(detail: String) -> XksError {
    tracing::error!("xks-proxy key backend: {detail}");
    XksError::internal()
}

struct SoftwareKey {
    key: LessSafeKey,
    status: KeyStatus,
}

impl SoftwareKey {
    fn new(material: &[u8], status: KeyStatus) -> Result<SoftwareKey, XksError> {
        let key = UnboundKey::new(&AES_256_GCM, material)
            .map_err(|_| internal("key material is not an AES-256 key".to_string()))?;
        Ok(SoftwareKey { key: LessSafeKey::new(key), status })
    }
}

impl ExternalKey for SoftwareKey {
    fn status(&self) -> KeyStatus {
        self.status
    }

    fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, XksError> {
        let iv = trent_crypto::random_bytes(NONCE_LEN).map_err(|e| internal(e.to_string()))?;
        let nonce = Nonce::try_assume_unique_for_key(&iv).map_err(|_| internal("bad IV length".to_string()))?;
        // Zeroizing: it holds the plaintext until sealing overwrites it.
        let mut buf = Zeroizing::new(plaintext.to_vec());
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| internal("AES-GCM encryption failed".to_string()))?;
        Ok(Sealed { iv, ciphertext: std::mem::take(&mut *buf), tag: tag.as_ref().to_vec() })
    }

    fn decrypt(&self, iv: &[u8], ciphertext: &[u8], tag: &[u8], aad: &[u8]) -> Result<SecretBytes, XksError> {
        let invalid = || XksError::new(ErrorName::InvalidCiphertextException, "The ciphertext, initialization vector, additional authenticated data or authentication tag is invalid.");
        // This backend makes only 12-byte IVs; a 16-byte one (which the
        // spec allows) cannot be from one of its keys.
        let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| invalid())?;
        if tag.len() != TAG_LEN {
            return Err(invalid());
        }
        let mut buf = Zeroizing::new(Vec::with_capacity(ciphertext.len() + TAG_LEN));
        buf.extend_from_slice(ciphertext);
        buf.extend_from_slice(tag);
        let len = self.key.open_in_place(nonce, Aad::from(aad), &mut buf).map_err(|_| invalid())?.len();
        buf.truncate(len);
        Ok(SecretBytes::new(std::mem::take(&mut *buf)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_follow_the_spec_alphabet_and_never_name_a_directory() {
        assert!(is_key_id("b42c7fbf-de61-441c-ae24-123456789012"));
        assert!(is_key_id("a.b_C-9"));
        assert!(is_key_id(&"k".repeat(128)));
        for bad in ["", ".", "..", "a/b", "a b", "ключ", &"k".repeat(129)] {
            assert!(!is_key_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn software_key_round_trips_and_rejects_a_wrong_aad() {
        let key = SoftwareKey::new(&[7u8; 32], KeyStatus::Enabled).unwrap();
        let sealed = key.encrypt(b"hello", b"aad").unwrap();
        assert_eq!(sealed.iv.len(), 12);
        assert_eq!(sealed.tag.len(), 16);
        assert_eq!(sealed.ciphertext.len(), 5);
        assert_eq!(key.decrypt(&sealed.iv, &sealed.ciphertext, &sealed.tag, b"aad").unwrap().as_bytes(), b"hello");
        let err = key.decrypt(&sealed.iv, &sealed.ciphertext, &sealed.tag, b"other").unwrap_err();
        assert_eq!(err.name, ErrorName::InvalidCiphertextException);
        assert!(round_trip_test_key());
    }
}
