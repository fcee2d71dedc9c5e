//! Keys other than symmetric encryption keys (RSA, ECC, Ed25519, ML-DSA,
//! ML-KEM, HMAC): what a key record's spec and usage allow, AWS's errors
//! when a request asks for something else, and the parsed key from the
//! provider (cached there, so no request parses key material).

use std::sync::Arc;

use trent_crypto::keytypes::{EncryptionAlgorithm, KeySpec, KeyUsage, PrivateKey};
use trent_crypto::StoredMaterial;
use trent_store::KeyRecord;

use crate::authz::Authorized;
use crate::keys::{state, OpCtx};
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

/// The key's spec as the crypto crate names it.
pub fn spec_of(key: &KeyRecord) -> Result<KeySpec, KmsError> {
    KeySpec::parse(&key.key_spec).ok_or_else(|| KmsError::internal(format!("{} has unknown key spec {}", key.arn, key.key_spec)))
}

/// The key's usage as the crypto crate names it.
pub fn usage_of(key: &KeyRecord) -> Result<KeyUsage, KmsError> {
    KeyUsage::parse(&key.key_usage).ok_or_else(|| KmsError::internal(format!("{} has unknown key usage {}", key.arn, key.key_usage)))
}

/// `InvalidKeyUsageException` unless the key's usage is `usage`.
pub fn require_usage(key: &KeyRecord, usage: KeyUsage, operation: &str) -> Result<(KeySpec, KeyUsage), KmsError> {
    let spec = spec_of(key)?;
    let actual = usage_of(key)?;
    if actual != usage {
        return Err(wrong_usage(key, operation));
    }
    Ok((spec, actual))
}

pub fn wrong_usage(key: &KeyRecord, operation: &str) -> KmsError {
    Error::WrongKeyUsage { arn: key.arn.clone(), usage: key.key_usage.clone(), operation: operation.to_owned() }.into()
}

/// Whether the key is a symmetric encryption key (SYMMETRIC_DEFAULT).
pub fn is_symmetric(key: &KeyRecord) -> bool {
    key.key_spec == KeySpec::SymmetricDefault.as_str()
}

/// The RSA-OAEP (or SM2PKE) algorithm a request names, checked against the key.
pub fn encryption_algorithm(key: &KeyRecord, requested: Option<&str>, operation: &str) -> Result<EncryptionAlgorithm, KmsError> {
    let (spec, usage) = require_usage(key, KeyUsage::EncryptDecrypt, operation)?;
    let name = requested.unwrap_or(EncryptionAlgorithm::SymmetricDefault.as_str());
    let allowed = spec.encryption_algorithms(usage);
    match EncryptionAlgorithm::parse(name).filter(|a| allowed.contains(a)) {
        Some(alg) => Ok(alg),
        None => Err(Error::AlgorithmIncompatible { algorithm: name.to_owned(), spec: spec.to_string() }.into()),
    }
}

pub fn names<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// The parsed key of the key's current material, for a cryptographic
/// operation (the key must be enabled).
pub async fn private_key(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>) -> Result<Arc<PrivateKey>, KmsError> {
    state::usable_for_crypto(key)?;
    material_key(ctx, key, &key.current_material_id).await
}

/// The parsed key of one material version of `key`.
async fn material_key(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>, material_id: &str) -> Result<Arc<PrivateKey>, KmsError> {
    let spec = spec_of(key)?;
    let id = crate::keys::reference::key_id_bytes(&key.key_id).ok_or_else(|| KmsError::internal(format!("stored key id {} is malformed", key.key_id)))?;
    let mut mid = [0u8; 32];
    hex::decode_to_slice(material_id, &mut mid).map_err(|_| KmsError::internal(format!("stored material id {material_id} is not 64 hex digits")))?;
    // The hot path: a key used before is ready, with no store read and no parsing.
    let provider = &ctx.state().provider;
    if let Some(key) = provider.cached_private_key(id, &mid, spec) {
        return Ok(key);
    }
    let record = ctx
        .store()
        .get_material(&key.key_id, material_id)
        .await?
        .ok_or_else(|| KmsError::internal(format!("key {} has no material {material_id}", key.key_id)))?;
    let provider = provider.clone();
    let stored = StoredMaterial(record.stored);
    // A miss parses key material (milliseconds for RSA): keep it off the async threads.
    tokio::task::spawn_blocking(move || provider.private_key(id, &mid, spec, &stored))
        .await
        .map_err(|e| KmsError::internal(format!("key parsing task: {e}")))?
        .map_err(KmsError::from)
}

/// Runs slow key work (RSA key generation) on the blocking pool.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, trent_crypto::CryptoError> + Send + 'static) -> Result<T, KmsError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| KmsError::internal(format!("key task: {e}")))?.map_err(KmsError::from)
}

/// An encryption context is bound only by symmetric encryption; AWS
/// refuses one with asymmetric keys rather than ignore it.
fn no_context(context: Option<&crate::keys::symmetric::EncryptionContext>) -> Result<(), KmsError> {
    match context {
        Some(c) if !c.is_empty() => Err(Error::ContextNotSymmetric.into()),
        _ => Ok(()),
    }
}

/// Encrypt with the public key of an asymmetric ENCRYPT_DECRYPT key
/// (RSAES_OAEP_SHA_1 / _SHA_256), within AWS's plaintext limit for the
/// key size and hash (k - 2*hLen - 2 bytes: 214/190 for RSA_2048,
/// 342/318 for RSA_3072, 470/446 for RSA_4096).
pub async fn encrypt(
    ctx: &OpCtx<'_>,
    key: &Authorized<KeyRecord>,
    algorithm: Option<&str>,
    context: Option<&crate::keys::symmetric::EncryptionContext>,
    plaintext: &[u8],
    operation: &str,
) -> Result<(Vec<u8>, EncryptionAlgorithm), KmsError> {
    let algorithm = encryption_algorithm(key, algorithm, operation)?;
    no_context(context)?;
    let private = private_key(ctx, key).await?;
    let max = private.max_plaintext_len(algorithm).ok_or_else(|| KmsError::internal(format!("{} has no plaintext limit for {algorithm}", key.arn)))?;
    if plaintext.len() > max {
        return Err(Error::PlaintextTooLong { algorithm: algorithm.to_string(), spec: key.key_spec.clone(), max: max.to_string() }.into());
    }
    Ok((private.encrypt(algorithm, plaintext)?, algorithm))
}

/// Decrypt with the private key of an asymmetric ENCRYPT_DECRYPT key; a
/// ciphertext that does not decrypt is `InvalidCiphertextException`.
pub async fn decrypt(
    ctx: &OpCtx<'_>,
    key: &Authorized<KeyRecord>,
    algorithm: Option<&str>,
    context: Option<&crate::keys::symmetric::EncryptionContext>,
    ciphertext: &[u8],
    operation: &str,
) -> Result<(trent_crypto::SecretBytes, EncryptionAlgorithm), KmsError> {
    // Decrypt and ReEncrypt naming a key that cannot decrypt (an HMAC,
    // signing or key agreement key): AWS's IncorrectKeyException.
    if key.key_usage != KeyUsage::EncryptDecrypt.as_str() {
        return Err(Error::IncorrectKey.into());
    }
    let algorithm = encryption_algorithm(key, algorithm, operation)?;
    no_context(context)?;
    let private = private_key(ctx, key).await?;
    let plaintext = private.decrypt(algorithm, ciphertext).map_err(|e| match e {
        trent_crypto::CryptoError::Decrypt => Error::InvalidCiphertext.into(),
        other => KmsError::from(other),
    })?;
    Ok((plaintext, algorithm))
}
