//! Private keys of every asymmetric and HMAC key spec, parsed from their
//! stored form once and then used for every request.
//!
//! Stored forms (sealed under the root key by the provider):
//! - RSA, ECC (NIST and secp256k1), Ed25519, ML-DSA: PKCS#8 v1 DER, as
//!   aws-lc-rs writes and reads it.
//! - ML-KEM: the FIPS 203 decapsulation key bytes.
//! - HMAC: the raw key (28, 32, 48 or 64 bytes for HMAC_224..HMAC_512).
//! - SM2: PKCS#8 DER of an EC key on the SM2 curve.
//!
//! Everything runs on aws-lc-rs except what it does not offer: SM2
//! (RustCrypto `sm2`, see `sm2_keys`), Ed25519ph (ed25519-dalek), ML-DSA with
//! an external mu (RustCrypto `ml-dsa`) and deriving an ML-KEM data key pair
//! from its seed (RustCrypto `ml-kem`).
//!
//! aws-lc frees its keys with `OPENSSL_cleanse`/`BN_clear_free`, so a
//! parsed key dropped from the cache leaves no copy of its private parts;
//! every intermediate buffer here is a zeroizing one.

use std::fmt;
use std::sync::OnceLock;

use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, PqdsaKeyPair, RsaKeyPair,
};
use aws_lc_rs::{agreement, digest, hmac, kem, rsa};
use zeroize::Zeroizing;

use super::der;
use super::ml_dsa_mu::{mu_key, on_big_stack, MuKey};
use super::sm2_keys::{self, Sm2Key};
use super::spec::{EncryptionAlgorithm, KeySpec, MessageType, SigningAlgorithm};
use crate::error::CryptoError;
use crate::secret::{random_secret, SecretBytes};

const UNPARSABLE: CryptoError = CryptoError::Internal("stored key material cannot be parsed");
const FAILED: CryptoError = CryptoError::Internal("key operation failed");

/// A usable private key (or HMAC key) with its public half.
pub struct PrivateKey {
    spec: KeySpec,
    /// SubjectPublicKeyInfo DER; empty for HMAC keys.
    public_der: Vec<u8>,
    inner: Inner,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, <redacted>)", self.spec)
    }
}

enum Inner {
    Rsa(Box<RsaKey>),
    Ec {
        signer: EcdsaKeyPair,
        agreement: Option<agreement::PrivateKey>,
        verifier: ParsedPublicKey,
        digest: &'static digest::Algorithm,
    },
    Ed25519 {
        pair: Ed25519KeyPair,
        verifier: ParsedPublicKey,
        /// The same key for Ed25519ph (RFC 8032 HashEdDSA), which aws-lc-rs
        /// lacks: ed25519-dalek does that one algorithm. Zeroized on drop.
        prehash: Box<ed25519_dalek::SigningKey>,
    },
    MlDsa {
        pair: PqdsaKeyPair,
        verifier: ParsedPublicKey,
        /// The FIPS 204 seed, for the external-mu key built on first use.
        seed: Zeroizing<[u8; 32]>,
        mu: OnceLock<MuKey>,
    },
    MlKem {
        dk: kem::DecapsulationKey,
        ek: kem::EncapsulationKey,
    },
    Hmac(Box<hmac::Key>),
    Sm2(Box<Sm2Key>),
}

struct RsaKey {
    signer: RsaKeyPair,
    decrypter: rsa::OaepPrivateDecryptingKey,
    encrypter: rsa::OaepPublicEncryptingKey,
    /// One parsed public key per signing algorithm, in `RSA_ALGS` order.
    verifiers: Vec<ParsedPublicKey>,
}

/// The six RSA signing algorithms: signing encoding, verification
/// parameters and hash.
type RsaAlg = (
    SigningAlgorithm,
    &'static dyn signature::RsaEncoding,
    &'static signature::RsaParameters,
    &'static digest::Algorithm,
);
const RSA_ALGS: [RsaAlg; 6] = [
    (
        SigningAlgorithm::RsassaPssSha256,
        &signature::RSA_PSS_SHA256,
        &signature::RSA_PSS_2048_8192_SHA256,
        &digest::SHA256,
    ),
    (
        SigningAlgorithm::RsassaPssSha384,
        &signature::RSA_PSS_SHA384,
        &signature::RSA_PSS_2048_8192_SHA384,
        &digest::SHA384,
    ),
    (
        SigningAlgorithm::RsassaPssSha512,
        &signature::RSA_PSS_SHA512,
        &signature::RSA_PSS_2048_8192_SHA512,
        &digest::SHA512,
    ),
    (
        SigningAlgorithm::RsassaPkcs1V15Sha256,
        &signature::RSA_PKCS1_SHA256,
        &signature::RSA_PKCS1_2048_8192_SHA256,
        &digest::SHA256,
    ),
    (
        SigningAlgorithm::RsassaPkcs1V15Sha384,
        &signature::RSA_PKCS1_SHA384,
        &signature::RSA_PKCS1_2048_8192_SHA384,
        &digest::SHA384,
    ),
    (
        SigningAlgorithm::RsassaPkcs1V15Sha512,
        &signature::RSA_PKCS1_SHA512,
        &signature::RSA_PKCS1_2048_8192_SHA512,
        &digest::SHA512,
    ),
];

struct EcAlgs {
    signing: &'static signature::EcdsaSigningAlgorithm,
    verifying: &'static signature::EcdsaVerificationAlgorithm,
    agreement: Option<&'static agreement::Algorithm>,
    digest: &'static digest::Algorithm,
}

fn ec_algs(spec: KeySpec) -> Option<EcAlgs> {
    Some(match spec {
        KeySpec::EccNistP256 => EcAlgs {
            signing: &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            verifying: &signature::ECDSA_P256_SHA256_ASN1,
            agreement: Some(&agreement::ECDH_P256),
            digest: &digest::SHA256,
        },
        KeySpec::EccNistP384 => EcAlgs {
            signing: &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            verifying: &signature::ECDSA_P384_SHA384_ASN1,
            agreement: Some(&agreement::ECDH_P384),
            digest: &digest::SHA384,
        },
        KeySpec::EccNistP521 => EcAlgs {
            signing: &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
            verifying: &signature::ECDSA_P521_SHA512_ASN1,
            agreement: Some(&agreement::ECDH_P521),
            digest: &digest::SHA512,
        },
        KeySpec::EccSecgP256k1 => EcAlgs {
            signing: &signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
            verifying: &signature::ECDSA_P256K1_SHA256_ASN1,
            agreement: None,
            digest: &digest::SHA256,
        },
        _ => return None,
    })
}

fn ml_dsa_alg(spec: KeySpec) -> Option<&'static signature::PqdsaSigningAlgorithm> {
    match spec {
        KeySpec::MlDsa44 => Some(&signature::ML_DSA_44_SIGNING),
        KeySpec::MlDsa65 => Some(&signature::ML_DSA_65_SIGNING),
        KeySpec::MlDsa87 => Some(&signature::ML_DSA_87_SIGNING),
        _ => None,
    }
}

fn ml_dsa_verify_alg(spec: KeySpec) -> Option<&'static signature::PqdsaVerificationAlgorithm> {
    match spec {
        KeySpec::MlDsa44 => Some(&signature::ML_DSA_44),
        KeySpec::MlDsa65 => Some(&signature::ML_DSA_65),
        KeySpec::MlDsa87 => Some(&signature::ML_DSA_87),
        _ => None,
    }
}

/// ML-KEM algorithm and the last arc of its OID.
fn ml_kem_alg(spec: KeySpec) -> Option<(&'static kem::Algorithm, u8)> {
    match spec {
        KeySpec::MlKem512 => Some((&kem::ML_KEM_512, 1)),
        KeySpec::MlKem768 => Some((&kem::ML_KEM_768, 2)),
        KeySpec::MlKem1024 => Some((&kem::ML_KEM_1024, 3)),
        _ => None,
    }
}

fn hmac_alg(spec: KeySpec) -> Option<(hmac::Algorithm, usize)> {
    match spec {
        KeySpec::Hmac224 => Some((hmac::HMAC_SHA224, 28)),
        KeySpec::Hmac256 => Some((hmac::HMAC_SHA256, 32)),
        KeySpec::Hmac384 => Some((hmac::HMAC_SHA384, 48)),
        KeySpec::Hmac512 => Some((hmac::HMAC_SHA512, 64)),
        _ => None,
    }
}

fn hmac_block_len(spec: KeySpec) -> usize {
    match spec {
        KeySpec::Hmac384 | KeySpec::Hmac512 => 128,
        _ => 64,
    }
}

/// Checks imported material of `spec` (AWS's import formats: raw bytes for
/// HMAC, PKCS#8 DER for RSA, ECC and SM2 private keys), returning why not.
pub fn check_imported_material(spec: KeySpec, material: &SecretBytes) -> Result<(), &'static str> {
    if let Some((_, len)) = hmac_alg(spec) {
        let (min, max) = (len, hmac_block_len(spec));
        return if (min..=max).contains(&material.len()) { Ok(()) } else { Err("HMAC key material has the wrong length for this key spec") };
    }
    let importable = rsa_size(spec).is_some() || ec_algs(spec).is_some() || spec == KeySpec::Sm2;
    if !importable {
        return Err("key material of this key spec cannot be imported");
    }
    if let Some(size) = rsa_size(spec) {
        let pair = RsaKeyPair::from_pkcs8(material.as_bytes()).map_err(|_| "the key material is not a PKCS#8 RSA private key")?;
        if pair.public_modulus_len() != size.len() {
            return Err("the RSA key has another size than the key spec");
        }
    }
    PrivateKey::parse(spec, material).map(|_| ()).map_err(|_| "the key material is not a PKCS#8 private key of this key spec")
}

fn rsa_size(spec: KeySpec) -> Option<rsa::KeySize> {
    match spec {
        KeySpec::Rsa2048 => Some(rsa::KeySize::Rsa2048),
        KeySpec::Rsa3072 => Some(rsa::KeySize::Rsa3072),
        KeySpec::Rsa4096 => Some(rsa::KeySize::Rsa4096),
        _ => None,
    }
}

fn secret(bytes: &[u8]) -> SecretBytes {
    SecretBytes::new(bytes.to_vec())
}

/// New private key material of `spec`, in its stored form. RSA-4096 takes
/// seconds: call this off the async threads.
pub fn generate_material(spec: KeySpec) -> Result<SecretBytes, CryptoError> {
    let failed = |_| CryptoError::Internal("key generation failed");
    if let Some(size) = rsa_size(spec) {
        let pair = RsaKeyPair::generate(size).map_err(failed)?;
        let der = pair.as_der().map_err(failed)?;
        return Ok(secret(der.as_ref()));
    }
    if let Some(algs) = ec_algs(spec) {
        let doc = EcdsaKeyPair::generate(algs.signing)
            .and_then(|p| p.to_pkcs8v1())
            .map_err(failed)?;
        return Ok(secret(doc.as_ref()));
    }
    if let Some(alg) = ml_dsa_alg(spec) {
        let doc = PqdsaKeyPair::generate(alg)
            .and_then(|p| p.to_pkcs8v1())
            .map_err(failed)?;
        return Ok(secret(doc.as_ref()));
    }
    if let Some((alg, _)) = ml_kem_alg(spec) {
        let dk = kem::DecapsulationKey::generate(alg).map_err(failed)?;
        let bytes = dk.key_bytes().map_err(failed)?;
        return Ok(secret(bytes.as_ref()));
    }
    if let Some((_, len)) = hmac_alg(spec) {
        return random_secret(len);
    }
    match spec {
        KeySpec::EccNistEdwards25519 => {
            let doc = Ed25519KeyPair::generate()
                .and_then(|p| p.to_pkcs8v1())
                .map_err(failed)?;
            Ok(secret(doc.as_ref()))
        }
        KeySpec::Sm2 => sm2_keys::generate(),
        _ => Err(CryptoError::Internal("not an asymmetric or HMAC key spec")),
    }
}

/// A data key pair of `spec` (GenerateDataKeyPair): the private key as
/// PKCS#8 DER and the public key as SubjectPublicKeyInfo DER.
pub fn generate_data_key_pair(spec: KeySpec) -> Result<(SecretBytes, Vec<u8>), CryptoError> {
    if let Some((_, level)) = ml_kem_alg(spec) {
        let seed = random_secret(64)?;
        let public = ml_kem_public_from_seed(level, &seed)?;
        let oid = der::ml_kem_oid(level);
        let pkcs8 = der::pkcs8_seed(&oid, seed.as_bytes());
        return Ok((secret(&pkcs8), der::spki(&oid, &public)));
    }
    if spec.is_hmac() || spec == KeySpec::SymmetricDefault || ml_dsa_alg(spec).is_some() {
        return Err(CryptoError::InvalidInput("not a data key pair spec"));
    }
    let material = generate_material(spec)?;
    let key = PrivateKey::parse(spec, &material)?;
    Ok((material, key.public_der))
}

/// The ML-KEM encapsulation key of the key pair a 64-byte seed (d || z)
/// makes (FIPS 203 ML-KEM.KeyGen_internal). Data key pairs are handed out in
/// the seed form that OpenSSL and `cryptography` read, and aws-lc-rs cannot
/// derive a key pair from a seed, so RustCrypto's `ml-kem` does this one step.
fn ml_kem_public_from_seed(level: u8, seed: &SecretBytes) -> Result<Vec<u8>, CryptoError> {
    use ml_kem::{DecapsulationKey, KeyExport, MlKem1024, MlKem512, MlKem768, Seed};
    let seed = Seed::try_from(seed.as_bytes())
        .map_err(|_| CryptoError::Internal("ML-KEM seed has the wrong length"))?;
    Ok(match level {
        1 => DecapsulationKey::<MlKem512>::from_seed(seed)
            .encapsulation_key()
            .to_bytes()
            .to_vec(),
        2 => DecapsulationKey::<MlKem768>::from_seed(seed)
            .encapsulation_key()
            .to_bytes()
            .to_vec(),
        _ => DecapsulationKey::<MlKem1024>::from_seed(seed)
            .encapsulation_key()
            .to_bytes()
            .to_vec(),
    })
}

impl PrivateKey {
    /// Parses stored material of `spec` (see the module notes for forms).
    pub fn parse(spec: KeySpec, material: &SecretBytes) -> Result<PrivateKey, CryptoError> {
        let bytes = material.as_bytes();
        let public = |der: Result<aws_lc_rs::encoding::PublicKeyX509Der<'static>, _>| {
            der.map(|d| d.as_ref().to_vec()).map_err(|_| UNPARSABLE)
        };
        if rsa_size(spec).is_some() {
            let signer = RsaKeyPair::from_pkcs8(bytes).map_err(|_| UNPARSABLE)?;
            let public_der = public(signer.public_key().as_der())?;
            let decrypter = rsa::PrivateDecryptingKey::from_pkcs8(bytes)
                .map_err(|_| UNPARSABLE)
                .and_then(|k| rsa::OaepPrivateDecryptingKey::new(k).map_err(|_| UNPARSABLE))?;
            let encrypter = rsa::PublicEncryptingKey::from_der(&public_der)
                .map_err(|_| UNPARSABLE)
                .and_then(|k| rsa::OaepPublicEncryptingKey::new(k).map_err(|_| UNPARSABLE))?;
            let verifiers = RSA_ALGS
                .iter()
                .map(|(_, _, params, _)| {
                    ParsedPublicKey::new(*params, &public_der).map_err(|_| UNPARSABLE)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let inner = Inner::Rsa(Box::new(RsaKey {
                signer,
                decrypter,
                encrypter,
                verifiers,
            }));
            return Ok(PrivateKey {
                spec,
                public_der,
                inner,
            });
        }
        if let Some(algs) = ec_algs(spec) {
            let signer = EcdsaKeyPair::from_pkcs8(algs.signing, bytes).map_err(|_| UNPARSABLE)?;
            let public_der = public(signer.public_key().as_der())?;
            let agreement = match algs.agreement {
                Some(alg) => Some(
                    agreement::PrivateKey::from_private_key_der(alg, bytes)
                        .map_err(|_| UNPARSABLE)?,
                ),
                None => None,
            };
            let verifier =
                ParsedPublicKey::new(algs.verifying, &public_der).map_err(|_| UNPARSABLE)?;
            let inner = Inner::Ec {
                signer,
                agreement,
                verifier,
                digest: algs.digest,
            };
            return Ok(PrivateKey {
                spec,
                public_der,
                inner,
            });
        }
        if let (Some(alg), Some(verify_alg)) = (ml_dsa_alg(spec), ml_dsa_verify_alg(spec)) {
            let pair = PqdsaKeyPair::from_pkcs8(alg, bytes).map_err(|_| UNPARSABLE)?;
            let public_der = public(pair.public_key().as_der())?;
            let verifier = ParsedPublicKey::new(verify_alg, &public_der).map_err(|_| UNPARSABLE)?;
            // aws-lc writes the seed form: PrivateKeyInfo { 0, { oid }, OCTET
            // STRING { [0] 32-byte seed } }, 54 bytes with the seed last.
            let seed_tlv = bytes.get(18..22).ok_or(UNPARSABLE)?;
            if bytes.len() != 54 || seed_tlv != [0x04, 0x22, 0x80, 0x20] {
                return Err(UNPARSABLE);
            }
            let mut seed = Zeroizing::new([0u8; 32]);
            seed.copy_from_slice(&bytes[22..54]);
            return Ok(PrivateKey {
                spec,
                public_der,
                inner: Inner::MlDsa {
                    pair,
                    verifier,
                    seed,
                    mu: OnceLock::new(),
                },
            });
        }
        if let Some((alg, level)) = ml_kem_alg(spec) {
            let dk = kem::DecapsulationKey::new(alg, bytes).map_err(|_| UNPARSABLE)?;
            // aws-lc does not rebuild the encapsulation key from raw bytes;
            // FIPS 203 (Algorithm 16) lays the decapsulation key out as
            // dk_PKE (384k) || ek (384k + 32) || H(ek) || z, so take it from there.
            let k = usize::from(level) + 1;
            let raw = bytes.get(384 * k..768 * k + 32).ok_or(UNPARSABLE)?;
            let ek = kem::EncapsulationKey::new(alg, raw).map_err(|_| UNPARSABLE)?;
            let public_der = der::spki(&der::ml_kem_oid(level), raw);
            return Ok(PrivateKey {
                spec,
                public_der,
                inner: Inner::MlKem { dk, ek },
            });
        }
        if let Some((alg, len)) = hmac_alg(spec) {
            // Generated material is `len` bytes; imported may be up to the
            // hash's block size, as AWS allows.
            if bytes.len() < len || bytes.len() > hmac_block_len(spec) {
                return Err(UNPARSABLE);
            }
            return Ok(PrivateKey {
                spec,
                public_der: Vec::new(),
                inner: Inner::Hmac(Box::new(hmac::Key::new(alg, bytes))),
            });
        }
        match spec {
            KeySpec::EccNistEdwards25519 => {
                let pair = Ed25519KeyPair::from_pkcs8(bytes).map_err(|_| UNPARSABLE)?;
                let public_der = public(pair.public_key().as_der())?;
                let verifier = ParsedPublicKey::new(&signature::ED25519, &public_der)
                    .map_err(|_| UNPARSABLE)?;
                let seed = pair
                    .seed()
                    .and_then(|s| s.as_be_bytes())
                    .map_err(|_| UNPARSABLE)?;
                let mut bytes = Zeroizing::new([0u8; 32]);
                if seed.as_ref().len() != 32 {
                    return Err(UNPARSABLE);
                }
                bytes.copy_from_slice(seed.as_ref());
                let prehash = Box::new(ed25519_dalek::SigningKey::from_bytes(&bytes));
                Ok(PrivateKey {
                    spec,
                    public_der,
                    inner: Inner::Ed25519 {
                        pair,
                        verifier,
                        prehash,
                    },
                })
            }
            KeySpec::Sm2 => {
                let (key, public_der) = sm2_keys::parse(bytes)?;
                Ok(PrivateKey {
                    spec,
                    public_der,
                    inner: Inner::Sm2(Box::new(key)),
                })
            }
            _ => Err(CryptoError::Internal("not an asymmetric or HMAC key spec")),
        }
    }

    pub fn spec(&self) -> KeySpec {
        self.spec
    }

    /// The public key as DER SubjectPublicKeyInfo (`None` for HMAC keys).
    pub fn public_key_der(&self) -> Option<&[u8]> {
        (!self.public_der.is_empty()).then_some(self.public_der.as_slice())
    }

    /// Signs `message` (or the digest in it, for `DIGEST`). The caller has
    /// checked that `algorithm` belongs to this key and `message_type` to
    /// the algorithm; a digest of the wrong length is `InvalidInput`.
    pub fn sign(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        match (&self.inner, message_type) {
            (Inner::Sm2(key), MessageType::Raw | MessageType::Digest)
                if algorithm == SigningAlgorithm::Sm2Dsa =>
            {
                key.sign(message_type == MessageType::Digest, message)
            }
            (Inner::Rsa(key), MessageType::Raw | MessageType::Digest) => {
                let (_, encoding, _, hash) = rsa_alg(algorithm)?;
                let mut sig = vec![0u8; key.signer.public_modulus_len()];
                if message_type == MessageType::Raw {
                    key.signer
                        .sign(encoding, &SystemRandom::new(), message, &mut sig)
                        .map_err(|_| FAILED)?;
                } else {
                    key.signer
                        .sign_digest(encoding, &import_digest(message, hash)?, &mut sig)
                        .map_err(|_| FAILED)?;
                }
                Ok(sig)
            }
            (Inner::Ec { signer, .. }, MessageType::Raw) => Ok(signer
                .sign(&SystemRandom::new(), message)
                .map_err(|_| FAILED)?
                .as_ref()
                .to_vec()),
            (Inner::Ec { signer, digest, .. }, MessageType::Digest) => Ok(signer
                .sign_digest(&import_digest(message, digest)?)
                .map_err(|_| FAILED)?
                .as_ref()
                .to_vec()),
            (Inner::Ed25519 { pair, .. }, MessageType::Raw)
                if algorithm == SigningAlgorithm::Ed25519Sha512 =>
            {
                Ok(pair.sign(message).as_ref().to_vec())
            }
            // Ed25519ph: SHA-512 of the message (for AWS, of the caller's
            // digest: "hashed twice"), signed with the HashEdDSA domain
            // separator and an empty context.
            (Inner::Ed25519 { prehash, .. }, MessageType::Digest)
                if algorithm == SigningAlgorithm::Ed25519PhSha512 =>
            {
                Ok(prehash
                    .sign_prehashed(prehashed(message), None)
                    .map_err(|_| FAILED)?
                    .to_bytes()
                    .to_vec())
            }
            (Inner::MlDsa { pair, .. }, MessageType::Raw) => {
                let mut sig = vec![0u8; pair.algorithm().signature_len()];
                let n = pair.sign(message, &mut sig).map_err(|_| FAILED)?;
                sig.truncate(n);
                Ok(sig)
            }
            (Inner::MlDsa { pair, seed, mu, .. }, MessageType::ExternalMu) => {
                on_big_stack(|| mu_key(self.spec, pair, seed, mu)?.sign(message))
            }
            _ => Err(CryptoError::InvalidInput(
                "this key cannot sign with that algorithm and message type",
            )),
        }
    }

    /// Checks a signature; `Ok(false)` when it does not verify.
    pub fn verify(
        &self,
        algorithm: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        sig: &[u8],
    ) -> Result<bool, CryptoError> {
        let result = match (&self.inner, message_type) {
            (Inner::Sm2(key), MessageType::Raw | MessageType::Digest)
                if algorithm == SigningAlgorithm::Sm2Dsa =>
            {
                return Ok(key.verify(message_type == MessageType::Digest, message, sig));
            }
            (Inner::Rsa(key), MessageType::Raw | MessageType::Digest) => {
                let index = RSA_ALGS
                    .iter()
                    .position(|(a, ..)| *a == algorithm)
                    .ok_or(BAD_ALG)?;
                let verifier = key.verifiers.get(index).ok_or(BAD_ALG)?;
                if message_type == MessageType::Raw {
                    verifier.verify_sig(message, sig)
                } else {
                    verifier.verify_digest_sig(&import_digest(message, RSA_ALGS[index].3)?, sig)
                }
            }
            (Inner::Ec { verifier, .. }, MessageType::Raw) => verifier.verify_sig(message, sig),
            (
                Inner::Ec {
                    verifier, digest, ..
                },
                MessageType::Digest,
            ) => verifier.verify_digest_sig(&import_digest(message, digest)?, sig),
            (Inner::Ed25519 { verifier, .. }, MessageType::Raw)
                if algorithm == SigningAlgorithm::Ed25519Sha512 =>
            {
                verifier.verify_sig(message, sig)
            }
            (Inner::Ed25519 { prehash, .. }, MessageType::Digest)
                if algorithm == SigningAlgorithm::Ed25519PhSha512 =>
            {
                let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
                    return Ok(false);
                };
                return Ok(prehash
                    .verifying_key()
                    .verify_prehashed_strict(prehashed(message), None, &sig)
                    .is_ok());
            }
            (Inner::MlDsa { verifier, .. }, MessageType::Raw) => verifier.verify_sig(message, sig),
            (Inner::MlDsa { pair, seed, mu, .. }, MessageType::ExternalMu) => {
                return on_big_stack(|| mu_key(self.spec, pair, seed, mu)?.verify(message, sig));
            }
            _ => {
                return Err(CryptoError::InvalidInput(
                    "this key cannot verify with that algorithm and message type",
                ))
            }
        };
        Ok(result.is_ok())
    }

    /// The most plaintext `algorithm` takes with this key (RSA-OAEP: by key
    /// size and hash; SM2PKE: AWS's 1024 bytes).
    pub fn max_plaintext_len(&self, algorithm: EncryptionAlgorithm) -> Option<usize> {
        match &self.inner {
            Inner::Rsa(key) => oaep(algorithm)
                .ok()
                .map(|alg| key.encrypter.max_plaintext_size(alg)),
            Inner::Sm2(_) if algorithm == EncryptionAlgorithm::Sm2Pke => {
                Some(sm2_keys::MAX_PLAINTEXT)
            }
            _ => None,
        }
    }

    /// RSA-OAEP (or SM2PKE) encryption with the public key.
    pub fn encrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if let Inner::Sm2(key) = &self.inner {
            if algorithm != EncryptionAlgorithm::Sm2Pke {
                return Err(BAD_ALG);
            }
            return key.encrypt(plaintext);
        }
        let Inner::Rsa(key) = &self.inner else {
            return Err(BAD_ALG);
        };
        let alg = oaep(algorithm)?;
        if plaintext.len() > key.encrypter.max_plaintext_size(alg) {
            return Err(CryptoError::InvalidInput(
                "plaintext too long for this key and algorithm",
            ));
        }
        let mut out = vec![0u8; key.encrypter.ciphertext_size()];
        let len = key
            .encrypter
            .encrypt(alg, plaintext, &mut out, None)
            .map_err(|_| FAILED)?
            .len();
        out.truncate(len);
        Ok(out)
    }

    /// RSA-OAEP (or SM2PKE) decryption; a ciphertext that does not decrypt is `Decrypt`.
    pub fn decrypt(
        &self,
        algorithm: EncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        if let Inner::Sm2(key) = &self.inner {
            if algorithm != EncryptionAlgorithm::Sm2Pke {
                return Err(BAD_ALG);
            }
            return key.decrypt(ciphertext);
        }
        let Inner::Rsa(key) = &self.inner else {
            return Err(BAD_ALG);
        };
        let alg = oaep(algorithm)?;
        let mut out = Zeroizing::new(vec![0u8; key.decrypter.min_output_size()]);
        let plaintext = key
            .decrypter
            .decrypt(alg, ciphertext, &mut out, None)
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(secret(plaintext))
    }

    /// HMAC of `message` with this HMAC key.
    pub fn mac(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let Inner::Hmac(key) = &self.inner else {
            return Err(BAD_ALG);
        };
        Ok(hmac::sign(key, message).as_ref().to_vec())
    }

    /// Checks an HMAC in constant time.
    pub fn verify_mac(&self, message: &[u8], mac: &[u8]) -> Result<bool, CryptoError> {
        let Inner::Hmac(key) = &self.inner else {
            return Err(BAD_ALG);
        };
        Ok(hmac::verify(key, message, mac).is_ok())
    }

    /// ECDH with a peer's SubjectPublicKeyInfo on the same curve: the raw
    /// shared secret (the x-coordinate), as AWS's DeriveSharedSecret returns.
    pub fn derive_shared_secret(&self, peer_spki: &[u8]) -> Result<SecretBytes, CryptoError> {
        if let Inner::Sm2(key) = &self.inner {
            return key.derive(peer_spki);
        }
        let Inner::Ec {
            agreement: Some(private),
            ..
        } = &self.inner
        else {
            return Err(BAD_ALG);
        };
        // AWS takes only DER SubjectPublicKeyInfo (a SEQUENCE), not raw points.
        if peer_spki.first() != Some(&0x30) {
            return Err(CryptoError::InvalidInput(
                "the public key is not a DER SubjectPublicKeyInfo",
            ));
        }
        let peer = agreement::UnparsedPublicKey::new(private.algorithm(), peer_spki);
        agreement::agree(
            private,
            peer,
            CryptoError::InvalidInput("the public key is not a valid key on this key's curve"),
            |s| Ok(secret(s)),
        )
    }

    /// ML-KEM encapsulation with the public key: (ciphertext, shared secret).
    pub fn encapsulate(&self) -> Result<(Vec<u8>, SecretBytes), CryptoError> {
        let Inner::MlKem { ek, .. } = &self.inner else {
            return Err(BAD_ALG);
        };
        let (ciphertext, shared) = ek.encapsulate().map_err(|_| FAILED)?;
        Ok((ciphertext.as_ref().to_vec(), secret(shared.as_ref())))
    }

    /// ML-KEM decapsulation; a ciphertext of the wrong length is `Decrypt`.
    pub fn decapsulate(&self, ciphertext: &[u8]) -> Result<SecretBytes, CryptoError> {
        let Inner::MlKem { dk, .. } = &self.inner else {
            return Err(BAD_ALG);
        };
        let shared = dk
            .decapsulate(kem::Ciphertext::from(ciphertext))
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(secret(shared.as_ref()))
    }
}

/// The SHA-512 state Ed25519ph signs (PH(M) = SHA-512(M), RFC 8032 5.1).
fn prehashed(message: &[u8]) -> ed25519_dalek::Sha512 {
    use ed25519_dalek::Digest;
    ed25519_dalek::Sha512::new().chain_update(message)
}

const BAD_ALG: CryptoError = CryptoError::InvalidInput("the algorithm does not belong to this key");

fn rsa_alg(algorithm: SigningAlgorithm) -> Result<RsaAlg, CryptoError> {
    RSA_ALGS
        .iter()
        .find(|(a, ..)| *a == algorithm)
        .copied()
        .ok_or(BAD_ALG)
}

fn oaep(algorithm: EncryptionAlgorithm) -> Result<&'static rsa::OaepAlgorithm, CryptoError> {
    match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => Ok(&rsa::OAEP_SHA1_MGF1SHA1),
        EncryptionAlgorithm::RsaesOaepSha256 => Ok(&rsa::OAEP_SHA256_MGF1SHA256),
        _ => Err(BAD_ALG),
    }
}

fn import_digest(
    message: &[u8],
    alg: &'static digest::Algorithm,
) -> Result<digest::Digest, CryptoError> {
    digest::Digest::import_less_safe(message, alg).map_err(|_| {
        CryptoError::InvalidInput("the digest has the wrong length for this algorithm")
    })
}
