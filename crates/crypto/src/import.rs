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
//! - `SM2PKE` with an `SM2` wrapping key (AWS's China Regions): the
//!   material is SM2 public-key encrypted (GB/T 32918.4, SM3), the ASN.1
//!   DER C1C3C2 form `openssl pkeyutl -encrypt` writes with an SM2 key.
//!
//! RSA is aws-lc-rs; SM2 is RustCrypto's `sm2`, as aws-lc-rs has none
//! (see `keytypes::sm2_keys`).

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rsa::{KeySize, OaepAlgorithm, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256};
use sm2::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use zeroize::Zeroizing;

use crate::keytypes::sm2_keys;
use crate::{CryptoError, SecretBytes};

/// The wrapping algorithms Trent accepts (AWS no longer accepts
/// RSAES_PKCS1_V1_5; SM2PKE goes with SM2 wrapping keys only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappingAlgorithm {
    RsaesOaepSha1,
    RsaesOaepSha256,
    RsaAesKeyWrapSha1,
    RsaAesKeyWrapSha256,
    Sm2Pke,
}

impl WrappingAlgorithm {
    pub const ALL: [WrappingAlgorithm; 5] =
        [Self::RsaesOaepSha1, Self::RsaesOaepSha256, Self::RsaAesKeyWrapSha1, Self::RsaAesKeyWrapSha256, Self::Sm2Pke];

    pub fn name(self) -> &'static str {
        match self {
            Self::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            Self::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
            Self::RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
            Self::RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
            Self::Sm2Pke => "SM2PKE",
        }
    }

    /// Whether wrapping keys of `spec` work with this algorithm: the RSA
    /// algorithms with RSA keys, SM2PKE with SM2 keys.
    pub fn fits(self, spec: WrappingKeySpec) -> bool {
        (self == Self::Sm2Pke) == (spec == WrappingKeySpec::Sm2)
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

    fn oaep(self) -> Option<&'static OaepAlgorithm> {
        match self {
            Self::RsaesOaepSha1 | Self::RsaAesKeyWrapSha1 => Some(&OAEP_SHA1_MGF1SHA1),
            Self::RsaesOaepSha256 | Self::RsaAesKeyWrapSha256 => Some(&OAEP_SHA256_MGF1SHA256),
            Self::Sm2Pke => None,
        }
    }

    fn wraps_with_aes(self) -> bool {
        matches!(self, Self::RsaAesKeyWrapSha1 | Self::RsaAesKeyWrapSha256)
    }
}

/// The `WrappingKeySpec`s of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappingKeySpec {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    Sm2,
}

impl WrappingKeySpec {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RSA_2048" => Self::Rsa2048,
            "RSA_3072" => Self::Rsa3072,
            "RSA_4096" => Self::Rsa4096,
            "SM2" => Self::Sm2,
            _ => return None,
        })
    }
}

/// A key pair made for one import: RSA, or SM2 for SM2PKE.
pub struct WrappingKey(Pair);

enum Pair {
    Rsa(PrivateDecryptingKey),
    Sm2(sm2::SecretKey),
}

impl std::fmt::Debug for WrappingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrappingKey(<redacted>)")
    }
}

impl WrappingKey {
    /// A new key of `spec` (RSA is slow: call off async threads).
    pub fn generate(spec: WrappingKeySpec) -> Result<Self, CryptoError> {
        let size = match spec {
            WrappingKeySpec::Rsa2048 => KeySize::Rsa2048,
            WrappingKeySpec::Rsa3072 => KeySize::Rsa3072,
            WrappingKeySpec::Rsa4096 => KeySize::Rsa4096,
            WrappingKeySpec::Sm2 => return Self::from_pkcs8(WrappingAlgorithm::Sm2Pke, sm2_keys::generate()?.as_bytes()),
        };
        PrivateDecryptingKey::generate(size).map(|k| WrappingKey(Pair::Rsa(k))).map_err(|_| CryptoError::Internal("wrapping key generation failed"))
    }

    /// The public key as DER SubjectPublicKeyInfo, as GetParametersForImport returns it.
    pub fn public_key_der(&self) -> Result<Vec<u8>, CryptoError> {
        const FAILED: CryptoError = CryptoError::Internal("public key encoding failed");
        match &self.0 {
            Pair::Rsa(k) => {
                let der: PublicKeyX509Der<'static> = k.public_key().as_der().map_err(|_| FAILED)?;
                Ok(der.as_ref().to_vec())
            }
            Pair::Sm2(k) => Ok(k.public_key().to_public_key_der().map_err(|_| FAILED)?.as_bytes().to_vec()),
        }
    }

    /// The private key as PKCS#8, to be sealed into an import token.
    pub fn to_pkcs8(&self) -> Result<SecretBytes, CryptoError> {
        match &self.0 {
            Pair::Rsa(k) => {
                let der: Pkcs8V1Der<'static> = k.as_der().map_err(|_| CryptoError::Internal("private key encoding failed"))?;
                Ok(SecretBytes::new(der.as_ref().to_vec()))
            }
            Pair::Sm2(k) => Ok(SecretBytes::new(k.to_pkcs8_der().map_err(|_| CryptoError::Internal("private key encoding failed"))?.as_bytes().to_vec())),
        }
    }

    /// The key an import token holds for `algorithm`.
    pub fn from_pkcs8(algorithm: WrappingAlgorithm, pkcs8: &[u8]) -> Result<Self, CryptoError> {
        const MALFORMED: CryptoError = CryptoError::Malformed("wrapping key");
        match algorithm {
            WrappingAlgorithm::Sm2Pke => sm2::SecretKey::from_pkcs8_der(pkcs8).map(|k| WrappingKey(Pair::Sm2(k))).map_err(|_| MALFORMED),
            _ => PrivateDecryptingKey::from_pkcs8(pkcs8).map(|k| WrappingKey(Pair::Rsa(k))).map_err(|_| MALFORMED),
        }
    }

    /// Unwraps key material. [`CryptoError::Decrypt`] for anything that was
    /// not wrapped to this key with `algorithm`.
    pub fn unwrap(&self, algorithm: WrappingAlgorithm, wrapped: &[u8]) -> Result<SecretBytes, CryptoError> {
        match (&self.0, algorithm.oaep()) {
            (Pair::Rsa(k), Some(oaep)) => unwrap_rsa(k, algorithm, oaep, wrapped),
            (Pair::Sm2(k), None) => sm2::pke::DecryptingKey::new(k.clone()).decrypt_der(wrapped).map(SecretBytes::new).map_err(|_| CryptoError::Decrypt),
            _ => Err(CryptoError::Decrypt),
        }
    }
}

fn unwrap_rsa(key: &PrivateDecryptingKey, algorithm: WrappingAlgorithm, oaep: &'static OaepAlgorithm, wrapped: &[u8]) -> Result<SecretBytes, CryptoError> {
    let rsa = OaepPrivateDecryptingKey::new(key.clone()).map_err(|_| CryptoError::Internal("wrapping key"))?;
    let modulus = key.key_size_bytes();
    let (rsa_part, aes_part) = if algorithm.wraps_with_aes() {
        if wrapped.len() <= modulus {
            return Err(CryptoError::Decrypt);
        }
        wrapped.split_at(modulus)
    } else {
        (wrapped, &[][..])
    };
    let mut buffer = Zeroizing::new(vec![0u8; modulus]);
    let opened = rsa.decrypt(oaep, rsa_part, &mut buffer, None).map_err(|_| CryptoError::Decrypt)?;
    if !algorithm.wraps_with_aes() {
        return Ok(SecretBytes::new(opened.to_vec()));
    }
    let kek = AesKek::new(&AES_256, opened).map_err(|_| CryptoError::Decrypt)?;
    let mut material = Zeroizing::new(vec![0u8; aes_part.len()]);
    let n = kek.unwrap_with_padding(aes_part, &mut material).map_err(|_| CryptoError::Decrypt)?.len();
    Ok(SecretBytes::new(material[..n].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};
    use sm2::pkcs8::DecodePublicKey;

    const RSA_ALGORITHMS: [WrappingAlgorithm; 4] =
        [WrappingAlgorithm::RsaesOaepSha1, WrappingAlgorithm::RsaesOaepSha256, WrappingAlgorithm::RsaAesKeyWrapSha1, WrappingAlgorithm::RsaAesKeyWrapSha256];

    fn wrap(key: &WrappingKey, algorithm: WrappingAlgorithm, material: &[u8]) -> Vec<u8> {
        let oaep = algorithm.oaep().unwrap();
        let public = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&key.public_key_der().unwrap()).unwrap()).unwrap();
        let mut out = vec![0u8; public.ciphertext_size()];
        if !algorithm.wraps_with_aes() {
            return public.encrypt(oaep, material, &mut out, None).unwrap().to_vec();
        }
        let aes = [7u8; 32];
        let mut rsa_part = public.encrypt(oaep, &aes, &mut out, None).unwrap().to_vec();
        let mut wrapped = vec![0u8; material.len() + 16];
        let wrapped = AesKek::new(&AES_256, &aes).unwrap().wrap_with_padding(material, &mut wrapped).unwrap().to_vec();
        rsa_part.extend_from_slice(&wrapped);
        rsa_part
    }

    /// What a caller does with the SM2 public key GetParametersForImport returned.
    fn wrap_sm2(public_key_der: &[u8], material: &[u8]) -> Vec<u8> {
        let public = sm2::PublicKey::from_public_key_der(public_key_der).unwrap();
        sm2::pke::EncryptingKey::new(public).encrypt_der(&mut sm2_keys::AwsLcRng, material).unwrap()
    }

    #[test]
    fn material_wrapped_with_each_algorithm_unwraps_and_tampering_fails() {
        let key = WrappingKey::generate(WrappingKeySpec::Rsa2048).unwrap();
        let restored = WrappingKey::from_pkcs8(WrappingAlgorithm::RsaesOaepSha256, key.to_pkcs8().unwrap().as_bytes()).unwrap();
        for algorithm in RSA_ALGORITHMS {
            let wrapped = wrap(&key, algorithm, &[42u8; 32]);
            assert_eq!(restored.unwrap(algorithm, &wrapped).unwrap().as_bytes(), &[42u8; 32], "{algorithm:?}");
            let mut bad = wrapped.clone();
            *bad.last_mut().unwrap() ^= 1;
            assert!(matches!(restored.unwrap(algorithm, &bad), Err(CryptoError::Decrypt)), "{algorithm:?}");
            let other = if algorithm == WrappingAlgorithm::RsaesOaepSha1 { WrappingAlgorithm::RsaesOaepSha256 } else { WrappingAlgorithm::RsaesOaepSha1 };
            assert!(restored.unwrap(other, &wrapped).is_err(), "{algorithm:?} opened as {other:?}");
            assert!(matches!(restored.unwrap(WrappingAlgorithm::Sm2Pke, &wrapped), Err(CryptoError::Decrypt)));
        }
        assert_eq!(WrappingAlgorithm::from_name("RSAES_PKCS1_V1_5"), None);
        for a in WrappingAlgorithm::ALL {
            assert_eq!(WrappingAlgorithm::from_code(a.code()), Some(a));
            assert_eq!(WrappingAlgorithm::from_name(a.name()), Some(a));
        }
    }

    #[test]
    fn sm2pke_wrapped_material_unwraps_with_its_key_only() {
        let key = WrappingKey::generate(WrappingKeySpec::Sm2).unwrap();
        let public = key.public_key_der().unwrap();
        // A token's copy of the key, as ImportKeyMaterial opens it.
        let restored = WrappingKey::from_pkcs8(WrappingAlgorithm::Sm2Pke, key.to_pkcs8().unwrap().as_bytes()).unwrap();
        assert_eq!(restored.public_key_der().unwrap(), public);
        let material: Vec<u8> = (0u8..32).collect();
        let wrapped = wrap_sm2(&public, &material);
        assert_eq!(restored.unwrap(WrappingAlgorithm::Sm2Pke, &wrapped).unwrap().as_bytes(), &material[..]);

        // Changed anywhere (C1, C3 or C2), or for another SM2 key: refused.
        for at in [8, wrapped.len() / 2, wrapped.len() - 1] {
            let mut bad = wrapped.clone();
            bad[at] ^= 1;
            assert!(matches!(restored.unwrap(WrappingAlgorithm::Sm2Pke, &bad), Err(CryptoError::Decrypt)), "flipped byte {at}");
        }
        let other = WrappingKey::generate(WrappingKeySpec::Sm2).unwrap();
        assert!(matches!(other.unwrap(WrappingAlgorithm::Sm2Pke, &wrapped), Err(CryptoError::Decrypt)));
        // An SM2 key is no RSA key, whatever the algorithm says.
        assert!(matches!(restored.unwrap(WrappingAlgorithm::RsaesOaepSha256, &wrapped), Err(CryptoError::Decrypt)));
        assert!(WrappingKey::from_pkcs8(WrappingAlgorithm::RsaesOaepSha256, key.to_pkcs8().unwrap().as_bytes()).is_err());
    }

    #[test]
    fn only_matching_specs_and_algorithms_go_together() {
        for a in WrappingAlgorithm::ALL {
            for (name, spec) in [("RSA_2048", WrappingKeySpec::Rsa2048), ("RSA_3072", WrappingKeySpec::Rsa3072), ("RSA_4096", WrappingKeySpec::Rsa4096), ("SM2", WrappingKeySpec::Sm2)] {
                assert_eq!(WrappingKeySpec::from_name(name), Some(spec));
                assert_eq!(a.fits(spec), (a == WrappingAlgorithm::Sm2Pke) == (spec == WrappingKeySpec::Sm2), "{a:?} {spec:?}");
            }
        }
        assert!(!WrappingAlgorithm::Sm2Pke.fits(WrappingKeySpec::Rsa4096));
        assert!(!WrappingAlgorithm::RsaesOaepSha256.fits(WrappingKeySpec::Sm2));
    }
}
