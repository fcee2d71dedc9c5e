//! SM2 keys (China's GB/T 32918), for the SM2 KeySpec and data key pairs.
//!
//! aws-lc-rs has no SM2, so this one key type uses RustCrypto's `sm2` crate
//! (SM2 signatures with SM3 and the signer's Z value, SM2 public key
//! encryption), fed with aws-lc's CSPRNG. As AWS KMS does:
//! - SM2DSA uses the default distinguishing ID `1234567812345678`; a `RAW`
//!   message is hashed as SM3(Z || M), a `DIGEST` must be that 32-byte hash.
//!   Signatures are DER (r, s).
//! - SM2PKE ciphertexts are the ASN.1 DER C1C3C2 form OpenSSL writes.
//! - Key agreement is ECDH on the SM2 curve (the shared point's x-coordinate).
//!
//! Stored form: the private key as PKCS#8 DER (EC key on the SM2 curve).

use sm2::dsa::signature::{hazmat::PrehashSigner, hazmat::PrehashVerifier, Signer, Verifier};
use sm2::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};

use crate::error::CryptoError;
use crate::secret::{random_secret, SecretBytes};

/// The distinguishing ID AWS KMS uses for SM2DSA.
pub const DEFAULT_DISTID: &str = "1234567812345678";
/// AWS's SM2PKE plaintext limit.
pub const MAX_PLAINTEXT: usize = 1024;

const UNPARSABLE: CryptoError = CryptoError::Internal("stored key material cannot be parsed");

/// A parsed SM2 key.
pub(crate) struct Sm2Key {
    signer: sm2::dsa::SigningKey,
    decrypter: sm2::pke::DecryptingKey,
}

/// New SM2 key material: a private key as PKCS#8 DER.
pub(crate) fn generate() -> Result<SecretBytes, CryptoError> {
    // A uniformly random scalar; one outside [1, n) (probability ~2^-32) is drawn again.
    for _ in 0..16 {
        let bytes = random_secret(32)?;
        if let Ok(secret) = sm2::SecretKey::from_slice(bytes.as_bytes()) {
            let der = secret
                .to_pkcs8_der()
                .map_err(|_| CryptoError::Internal("key generation failed"))?;
            return Ok(SecretBytes::new(der.as_bytes().to_vec()));
        }
    }
    Err(CryptoError::Internal("key generation failed"))
}

/// Parses stored material; returns the key and its SubjectPublicKeyInfo.
pub(crate) fn parse(material: &[u8]) -> Result<(Sm2Key, Vec<u8>), CryptoError> {
    let secret = sm2::SecretKey::from_pkcs8_der(material).map_err(|_| UNPARSABLE)?;
    let public = secret
        .public_key()
        .to_public_key_der()
        .map_err(|_| UNPARSABLE)?
        .as_bytes()
        .to_vec();
    let signer = sm2::dsa::SigningKey::new(DEFAULT_DISTID, &secret).map_err(|_| UNPARSABLE)?;
    let decrypter = sm2::pke::DecryptingKey::new(secret);
    Ok((Sm2Key { signer, decrypter }, public))
}

impl Sm2Key {
    pub(crate) fn sign(&self, prehashed: bool, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let signature = if prehashed {
            if message.len() != 32 {
                return Err(CryptoError::InvalidInput("an SM2DSA digest is 32 bytes"));
            }
            self.signer.sign_prehash(message)
        } else {
            self.signer.try_sign(message)
        }
        .map_err(|_| CryptoError::Internal("key operation failed"))?;
        Ok(signature.to_der().to_vec())
    }

    pub(crate) fn verify(&self, prehashed: bool, message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = sm2::dsa::Signature::from_der(signature) else {
            return false;
        };
        let verifier = self.signer.verifying_key();
        if prehashed {
            message.len() == 32 && verifier.verify_prehash(message, &signature).is_ok()
        } else {
            verifier.verify(message, &signature).is_ok()
        }
    }

    /// ECDH on the SM2 curve with a peer's SubjectPublicKeyInfo: the
    /// x-coordinate of d * Q, as DeriveSharedSecret returns for other curves.
    pub(crate) fn derive(&self, peer_spki: &[u8]) -> Result<SecretBytes, CryptoError> {
        use sm2::elliptic_curve::point::AffineCoordinates;
        use sm2::pkcs8::DecodePublicKey;
        let peer = sm2::PublicKey::from_public_key_der(peer_spki).map_err(|_| {
            CryptoError::InvalidInput("the public key is not a valid key on this key's curve")
        })?;
        let scalar: &sm2::Scalar = self.decrypter.as_nonzero_scalar().as_ref();
        let shared = (sm2::ProjectivePoint::from(*peer.as_affine()) * scalar).to_affine();
        Ok(SecretBytes::new(shared.x().to_vec()))
    }

    pub(crate) fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(CryptoError::InvalidInput(
                "plaintext too long for this key and algorithm",
            ));
        }
        self.decrypter
            .encrypting_key()
            .encrypt_der(&mut AwsLcRng, plaintext)
            .map_err(|_| CryptoError::Internal("key operation failed"))
    }

    pub(crate) fn decrypt(&self, ciphertext: &[u8]) -> Result<SecretBytes, CryptoError> {
        let plaintext = self
            .decrypter
            .decrypt_der(ciphertext)
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(SecretBytes::new(plaintext))
    }
}

/// aws-lc's CSPRNG as a `rand_core` generator, for the sm2 crate.
pub(crate) struct AwsLcRng;

impl rand_core::TryRng for AwsLcRng {
    type Error = RandomFailed;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        aws_lc_rs::rand::fill(dst).map_err(|_| RandomFailed)
    }
}

impl rand_core::TryCryptoRng for AwsLcRng {}

#[derive(Debug)]
pub(crate) struct RandomFailed;

impl std::fmt::Display for RandomFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("random generator failed")
    }
}

impl std::error::Error for RandomFailed {}
