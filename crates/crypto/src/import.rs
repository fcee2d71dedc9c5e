//! Importing key material (BYOK): the RSA wrapping key a caller encrypts
//! material to, and unwrapping what they send, with AWS's wrapping
//! algorithms:
//!
//! - `RSAES_OAEP_SHA_1` / `RSAES_OAEP_SHA_256`: the material itself is
//!   RSA-OAEP encrypted.
//! - `RSA_AES_KEY_WRAP_SHA_1` / `_SHA_256`: the caller makes a 256-bit AES
//!   key, wraps the material with it (AES key wrap with padding, RFC 5649)
//!   and RSA-OAEP encrypts the AES key; what arrives is the RSA ciphertext
//!   (one modulus long) followed by the wrapped material.
//!
//! All of it is aws-lc-rs.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rsa::{KeySize, OaepAlgorithm, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256};
use zeroize::Zeroizing;

use crate::{CryptoError, SecretBytes};

/// The wrapping algorithms Trent accepts (AWS no longer accepts
/// RSAES_PKCS1_V1_5; SM2PKE is for SM2 wrapping keys in China Regions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappingAlgorithm {
    RsaesOaepSha1,
    RsaesOaepSha256,
    RsaAesKeyWrapSha1,
    RsaAesKeyWrapSha256,
}

impl WrappingAlgorithm {
    pub const ALL: [WrappingAlgorithm; 4] =
        [Self::RsaesOaepSha1, Self::RsaesOaepSha256, Self::RsaAesKeyWrapSha1, Self::RsaAesKeyWrapSha256];

    pub fn name(self) -> &'static str {
        match self {
            Self::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            Self::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
            Self::RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
            Self::RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// A stable one-byte code, for import tokens.
    pub fn code(self) -> u8 {
        self as u8 + 1
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.code() == code)
    }

    fn oaep(self) -> &'static OaepAlgorithm {
        match self {
            Self::RsaesOaepSha1 | Self::RsaAesKeyWrapSha1 => &OAEP_SHA1_MGF1SHA1,
            Self::RsaesOaepSha256 | Self::RsaAesKeyWrapSha256 => &OAEP_SHA256_MGF1SHA256,
        }
    }

    fn wraps_with_aes(self) -> bool {
        matches!(self, Self::RsaAesKeyWrapSha1 | Self::RsaAesKeyWrapSha256)
    }
}

/// An RSA key pair made for one import.
pub struct WrappingKey(PrivateDecryptingKey);

impl std::fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrappingKey(<redacted>)")
    }
}

impl WrappingKey {
    /// A new key of 2048, 3072 or 4096 bits (slow: call off async threads).
    pub fn generate(bits: usize) -> Result<Self, CryptoError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => return Err(CryptoError::Internal("unsupported wrapping key size")),
        };
        PrivateDecryptingKey::generate(size).map(WrappingKey).map_err(|_| CryptoError::Internal("wrapping key generation failed"))
    }

    /// The public key as DER SubjectPublicKeyInfo, as GetParametersForImport returns it.
    pub fn public_key_der(&self) -> Result<Vec<u8>, CryptoError> {
        let der: PublicKeyX509Der<'static> = self.0.public_key().as_der().map_err(|_| CryptoError::Internal("public key encoding failed"))?;
        Ok(der.as_ref().to_vec())
    }

    /// The private key as PKCS#8, to be sealed into an import token.
    pub fn to_pkcs8(&self) -> Result<SecretBytes, CryptoError> {
        let der: Pkcs8V1Der<'static> = self.0.as_der().map_err(|_| CryptoError::Internal("private key encoding failed"))?;
        Ok(SecretBytes::new(der.as_ref().to_vec()))
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, CryptoError> {
        PrivateDecryptingKey::from_pkcs8(pkcs8).map(WrappingKey).map_err(|_| CryptoError::Malformed("wrapping key"))
    }

    /// Unwraps key material. [`CryptoError::Decrypt`] for anything that was
    /// not wrapped to this key with `algorithm`.
    pub fn unwrap(&self, algorithm: WrappingAlgorithm, wrapped: &[u8]) -> Result<SecretBytes, CryptoError> {
        let rsa = OaepPrivateDecryptingKey::new(self.0.clone()).map_err(|_| CryptoError::Internal("wrapping key"))?;
        let modulus = self.0.key_size_bytes();
        let (rsa_part, aes_part) = if algorithm.wraps_with_aes() {
            if wrapped.len() <= modulus {
                return Err(CryptoError::Decrypt);
            }
            wrapped.split_at(modulus)
        } else {
            (wrapped, &[][..])
        };
        let mut buffer = Zeroizing::new(vec![0u8; modulus]);
        let opened = rsa.decrypt(algorithm.oaep(), rsa_part, &mut buffer, None).map_err(|_| CryptoError::Decrypt)?;
        if !algorithm.wraps_with_aes() {
            return Ok(SecretBytes::new(opened.to_vec()));
        }
        let kek = AesKek::new(&AES_256, opened).map_err(|_| CryptoError::Decrypt)?;
        let mut material = Zeroizing::new(vec![0u8; aes_part.len()]);
        let n = kek.unwrap_with_padding(aes_part, &mut material).map_err(|_| CryptoError::Decrypt)?.len();
        Ok(SecretBytes::new(material[..n].to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};

    fn wrap(key: &WrappingKey, algorithm: WrappingAlgorithm, material: &[u8]) -> Vec<u8> {
        let public = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&key.public_key_der().unwrap()).unwrap()).unwrap();
        let mut out = vec![0u8; public.ciphertext_size()];
        if !algorithm.wraps_with_aes() {
            return public.encrypt(algorithm.oaep(), material, &mut out, None).unwrap().to_vec();
        }
        let aes = [7u8; 32];
        let mut rsa_part = public.encrypt(algorithm.oaep(), &aes, &mut out, None).unwrap().to_vec();
        let mut wrapped = vec![0u8; material.len() + 16];
        let wrapped = AesKek::new(&AES_256, &aes).unwrap().wrap_with_padding(material, &mut wrapped).unwrap().to_vec();
        rsa_part.extend_from_slice(&wrapped);
        rsa_part
    }

    #[test]
    fn material_wrapped_with_each_algorithm_unwraps_and_tampering_fails() {
        let key = WrappingKey::generate(2048).unwrap();
        let restored = WrappingKey::from_pkcs8(key.to_pkcs8().unwrap().as_bytes()).unwrap();
        for algorithm in WrappingAlgorithm::ALL {
            let wrapped = wrap(&key, algorithm, &[42u8; 32]);
            assert_eq!(restored.unwrap(algorithm, &wrapped).unwrap().as_bytes(), &[42u8; 32], "{algorithm:?}");
            let mut bad = wrapped.clone();
            *bad.last_mut().unwrap() ^= 1;
            assert!(matches!(restored.unwrap(algorithm, &bad), Err(CryptoError::Decrypt)), "{algorithm:?}");
            let other = if algorithm == WrappingAlgorithm::RsaesOaepSha1 { WrappingAlgorithm::RsaesOaepSha256 } else { WrappingAlgorithm::RsaesOaepSha1 };
            assert!(restored.unwrap(other, &wrapped).is_err(), "{algorithm:?} opened as {other:?}");
        }
        assert_eq!(WrappingAlgorithm::from_name("RSAES_PKCS1_V1_5"), None);
        for a in WrappingAlgorithm::ALL {
            assert_eq!(WrappingAlgorithm::from_code(a.code()), Some(a));
        }
    }
}
