//! Symmetric encryption with an authorized KMS key: finds the key material
//! version in the store and lets the key provider do the crypto. Shared by Encrypt,
//! Decrypt, ReEncrypt and the GenerateDataKey family.

use std::collections::BTreeMap;

use trent_crypto::{Header, SecretBytes, StoredMaterial};
use trent_store::KeyRecord;
use uuid::Uuid;

use crate::authz::Authorized;
use crate::keys::{key_stores, state, xks_blob, xks_keys, OpCtx};
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub type EncryptionContext = BTreeMap<String, String>;

pub const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";

/// The only algorithm a symmetric key supports.
pub fn check_algorithm(key: &KeyRecord, algorithm: Option<&str>) -> Result<(), KmsError> {
    if key.key_usage != "ENCRYPT_DECRYPT" {
        return Err(Error::WrongKeyUsage { arn: key.arn.clone(), usage: key.key_usage.clone(), operation: "this operation".into() }.into());
    }
    if key.key_spec != SYMMETRIC_DEFAULT {
        return Err(Error::NotSymmetric { arn: key.arn.clone(), spec: key.key_spec.clone() }.into());
    }
    match algorithm {
        None | Some(SYMMETRIC_DEFAULT) => Ok(()),
        Some(other) => Err(Error::AlgorithmIncompatible { algorithm: other.to_owned(), spec: key.key_spec.clone() }.into()),
    }
}

/// Encrypts with the key's current material.
/// `operation` is the request's, for an external key store's proxy.
pub async fn encrypt(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>, operation: &str, context: &EncryptionContext, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
    state::usable_for_crypto(key)?;
    let header = Header { key_id: parse_uuid(&key.key_id)?, material_id: material_id_bytes(&key.current_material_id)? };
    let material = load_material(ctx, &key.key_id, &key.current_material_id).await?;
    if key.xks_key_id.is_some() {
        // Boxed, like the key store calls below: their futures (KiBs) would
        // otherwise take room in every Encrypt's future (docs/BENCHMARKS.md).
        return Box::pin(xks_keys::encrypt(ctx, key, operation, &material, header, context, plaintext)).await;
    }
    let Some(store_id) = &key.custom_key_store_id else {
        return Ok(ctx.state().provider.encrypt(&material, &header, context, plaintext)?);
    };
    let handle = Box::pin(key_stores::symmetric_key(ctx.state(), key, store_id, &material, header)).await?;
    match handle.encrypt(context, plaintext) {
        Ok(blob) => Ok(blob),
        Err(e) => Err(Box::pin(key_store_error(ctx, key, store_id, e)).await),
    }
}

/// A decrypted ciphertext and the key and material version it was made with.
pub struct Opened {
    pub key: Authorized<KeyRecord>,
    pub plaintext: SecretBytes,
    pub material_id: String,
}

/// Decrypts a ciphertext blob with `key`, the key authorization found for
/// it (the one its header names).
pub async fn decrypt(ctx: &OpCtx<'_>, key: Authorized<KeyRecord>, operation: &str, blob: &[u8], context: &EncryptionContext) -> Result<Opened, KmsError> {
    let invalid = || KmsError::from(Error::InvalidCiphertext);
    let header = xks_blob::any_header(blob).map_err(|_| invalid())?;
    if Some(header.key_id) != crate::keys::reference::key_id_bytes(&key.key_id) {
        return Err(Error::IncorrectKey.into());
    }
    state::usable_for_crypto(&key)?;
    let material_id = trent_sigv4::lower_hex(&header.material_id);
    if crate::keys::materials::is_pending(&key, &material_id) {
        // Imported for a rotation that has not happened: not the key's yet.
        return Err(invalid());
    }
    let material = match ctx.store().get_material(&key.key_id, &material_id).await? {
        Some(m) => StoredMaterial(m.stored),
        None => return Err(invalid()),
    };
    // A key in an external key store takes only double-encrypted blobs,
    // and only such keys take them.
    if key.xks_key_id.is_some() != xks_blob::is_outer(blob) {
        return Err(invalid());
    }
    if key.xks_key_id.is_some() {
        let plaintext = Box::pin(xks_keys::decrypt(ctx, &key, operation, &material, blob, context)).await?;
        return Ok(Opened { key, plaintext, material_id });
    }
    let opened = match &key.custom_key_store_id {
        None => ctx.state().provider.decrypt(&material, &header, blob, context),
        Some(store_id) => Box::pin(key_stores::symmetric_key(ctx.state(), &key, store_id, &material, header)).await?.decrypt(blob, context),
    };
    let plaintext = match opened {
        Ok(p) => p,
        Err(trent_crypto::CryptoError::Decrypt | trent_crypto::CryptoError::Malformed(_)) => return Err(invalid()),
        Err(e) => match &key.custom_key_store_id {
            Some(store_id) => return Err(Box::pin(key_store_error(ctx, &key, store_id, e)).await),
            None => return Err(e.into()),
        },
    };
    Ok(Opened { key, plaintext, material_id })
}

/// A key store's token failed while using the key: the key store is
/// FAILED (for every node) and the key unusable until it is connected again.
async fn key_store_error(ctx: &OpCtx<'_>, key: &KeyRecord, store_id: &str, e: trent_crypto::CryptoError) -> KmsError {
    if let trent_crypto::CryptoError::KeyStore(fault) = e {
        key_stores::note_crypto_fault(ctx.state(), store_id, fault).await;
        return Error::KeyStoreKeyUnusable { arn: key.arn.clone(), id: store_id.to_owned(), why: "its token failed".into() }.into();
    }
    e.into()
}

async fn load_material(ctx: &OpCtx<'_>, key_id: &str, material_id: &str) -> Result<StoredMaterial, KmsError> {
    let m = ctx.store().get_material(key_id, material_id).await?;
    m.map(|m| StoredMaterial(m.stored)).ok_or_else(|| KmsError::internal(format!("key {key_id} has no material {material_id}")))
}

fn parse_uuid(text: &str) -> Result<Uuid, KmsError> {
    crate::keys::reference::key_id_bytes(text).ok_or_else(|| KmsError::internal(format!("stored key id {text} is malformed")))
}

fn material_id_bytes(text: &str) -> Result<[u8; 32], KmsError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|_| KmsError::internal(format!("stored material id {text} is not 64 hex digits")))?;
    Ok(out)
}
