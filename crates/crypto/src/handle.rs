//! Key handles: a key that does its cryptography inside itself, as rustls's
//! signing keys do, so an operation holds a handle and never knows whether
//! the key is software material or an object in a PKCS#11 token.
//!
//! For now only symmetric (AES-256-GCM) keys have handles: a
//! [`SymmetricKey`] is a [`BlobCipher`] that knows its [`Header`], and
//! encrypts and decrypts whole Trent ciphertext blobs, so the format is the
//! same whoever holds the key ([`crate::ciphertext`]).

use std::collections::BTreeMap;
use std::fmt;

use crate::ciphertext::{self, BlobCipher, Header, SoftwareCipher, GCM_TAG_LEN, MATERIAL_LEN};
use crate::error::CryptoError;
use crate::secret::SecretBytes;

/// A symmetric key, wherever it lives: encrypts to and decrypts from
/// Trent's ciphertext blob.
pub trait SymmetricKey: BlobCipher + Send + Sync + fmt::Debug {
    /// The key id and material id this key's blobs name.
    fn header(&self) -> &Header;

    /// Encrypts `plaintext` into a blob naming [`SymmetricKey::header`]
    /// and binding `context` (fresh random salt and iv).
    fn encrypt(&self, context: &BTreeMap<String, String>, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        ciphertext::encrypt_with_cipher(self, self.header(), context, plaintext)
    }

    /// Decrypts `blob`. A blob naming another key or material is
    /// [`CryptoError::Decrypt`] before the key is used; so is any
    /// authentication failure (wrong key, wrong context, a changed byte).
    fn decrypt(&self, blob: &[u8], context: &BTreeMap<String, String>) -> Result<SecretBytes, CryptoError> {
        if ciphertext::parse_header(blob)? != *self.header() {
            return Err(CryptoError::Decrypt);
        }
        ciphertext::decrypt_with_cipher(self, blob, context)
    }
}

/// A symmetric key held in memory (unsealed software material), zeroized
/// on drop.
pub struct SoftwareSymmetricKey {
    header: Header,
    material: SecretBytes,
}

impl SoftwareSymmetricKey {
    /// The key `header` names, with its 32 bytes of `material`.
    pub fn new(header: Header, material: SecretBytes) -> Result<Self, CryptoError> {
        if material.len() != MATERIAL_LEN {
            return Err(CryptoError::Internal("key material must be 32 bytes"));
        }
        Ok(SoftwareSymmetricKey { header, material })
    }
}

impl fmt::Debug for SoftwareSymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareSymmetricKey").field("header", &self.header).finish_non_exhaustive()
    }
}

impl BlobCipher for SoftwareSymmetricKey {
    fn seal(&self, salt: &[u8], iv: &[u8], aad: &[u8], in_out: &mut [u8]) -> Result<[u8; GCM_TAG_LEN], CryptoError> {
        SoftwareCipher(&self.material).seal(salt, iv, aad, in_out)
    }

    fn open(&self, salt: &[u8], iv: &[u8], aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        SoftwareCipher(&self.material).open(salt, iv, aad, sealed)
    }
}

impl SymmetricKey for SoftwareSymmetricKey {
    fn header(&self) -> &Header {
        &self.header
    }
}
