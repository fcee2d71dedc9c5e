//! The PKCS#11 key handle: a [`SymmetricKey`] whose AES-GCM runs in the
//! token, making Trent's ciphertext blobs.

use std::fmt;
use std::sync::Arc;

use trent_crypto::ciphertext::{BlobCipher, GCM_TAG_LEN};
use trent_crypto::{CryptoError, Header, SecretBytes, SymmetricKey};

use crate::token::{Token, TokenKey};

/// A symmetric KMS key whose material is an AES-256 object in a token.
///
/// Its blobs have Trent's layout and AAD (header then encryption context);
/// the GCM key is the token key itself rather than a per-message HKDF key
/// (tokens do not generally offer HKDF), so the blob's salt is random,
/// unused, and authenticated as part of the header.
pub struct Pkcs11SymmetricKey {
    token: Arc<Token>,
    key: TokenKey,
    header: Header,
}

impl Pkcs11SymmetricKey {
    /// The handle for `key` in `token`, making blobs that name `header`.
    pub fn new(token: Arc<Token>, key: TokenKey, header: Header) -> Self {
        Pkcs11SymmetricKey { token, key, header }
    }

    /// The key object in the token.
    pub fn token_key(&self) -> &TokenKey {
        &self.key
    }
}

impl fmt::Debug for Pkcs11SymmetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11SymmetricKey").field("token", &self.token.label()).field("key", &self.key.label()).field("header", &self.header).finish()
    }
}

impl BlobCipher for Pkcs11SymmetricKey {
    fn seal(&self, _salt: &[u8], iv: &[u8], aad: &[u8], in_out: &mut [u8]) -> Result<[u8; GCM_TAG_LEN], CryptoError> {
        let sealed = self.token.encrypt_gcm(&self.key, iv, aad, in_out)?;
        if sealed.len() != in_out.len() + GCM_TAG_LEN {
            return Err(CryptoError::Internal("token returned a GCM output of the wrong length"));
        }
        let (body, tag) = sealed.split_at(in_out.len());
        in_out.copy_from_slice(body);
        let mut out = [0u8; GCM_TAG_LEN];
        out.copy_from_slice(tag);
        Ok(out)
    }

    fn open(&self, _salt: &[u8], iv: &[u8], aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        Ok(self.token.decrypt_gcm(&self.key, iv, aad, sealed)?)
    }
}

impl SymmetricKey for Pkcs11SymmetricKey {
    fn header(&self) -> &Header {
        &self.header
    }
}
