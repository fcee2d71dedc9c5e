//! Symmetric encryption with an authorized KMS key: finds the key material
//! version in the store and lets the key provider do the crypto. Shared by Encrypt,
//! Decrypt, ReEncrypt and the GenerateDataKey family.

use std::collections::BTreeMap;

use trent_crypto::{ciphertext, Header, SecretBytes, StoredMaterial};
use trent_store::KeyRecord;
use uuid::Uuid;

use crate::authz::Authorized;
use crate::keys::{state, OpCtx};
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
pub async fn encrypt(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>, context: &EncryptionContext, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
    state::usable_for_crypto(key)?;
    let header = Header { key_id: parse_uuid(&key.key_id)?, material_id: material_id_bytes(&key.current_material_id)? };
    let material = load_material(ctx, &key.key_id, &key.current_material_id).await?;
    Ok(ctx.state().provider.encrypt(&material, &header, context, plaintext)?)
}

/// A decrypted ciphertext and the key and material version it was made with.
pub struct Opened {
    pub key: Authorized<KeyRecord>,
    pub plaintext: SecretBytes,
    pub material_id: String,
}

/// Decrypts a ciphertext blob with `key`, the key authorization found for
/// it (the one its header names).
pub async fn decrypt(ctx: &OpCtx<'_>, key: Authorized<KeyRecord>, blob: &[u8], context: &EncryptionContext) -> Result<Opened, KmsError> {
    let invalid = || KmsError::from(Error::InvalidCiphertext);
    let header = ciphertext::parse_header(blob).map_err(|_| invalid())?;
    if header.key_id.to_string() != key.key_id {
        return Err(Error::IncorrectKey.into());
    }
    state::usable_for_crypto(&key)?;
    let material_id = hex::encode(header.material_id);
    if crate::keys::materials::is_pending(&key, &material_id) {
        // Imported for a rotation that has not happened: not the key's yet.
        return Err(invalid());
    }
    let material = match ctx.store().get_material(&key.key_id, &material_id).await? {
        Some(m) => StoredMaterial(m.stored),
        None => return Err(invalid()),
    };
    let plaintext = ctx.state().provider.decrypt(&material, &header, blob, context).map_err(|e| match e {
        trent_crypto::CryptoError::Decrypt | trent_crypto::CryptoError::Malformed(_) => invalid(),
        other => KmsError::from(other),
    })?;
    Ok(Opened { key, plaintext, material_id })
}

async fn load_material(ctx: &OpCtx<'_>, key_id: &str, material_id: &str) -> Result<StoredMaterial, KmsError> {
    let m = ctx.store().get_material(key_id, material_id).await?;
    m.map(|m| StoredMaterial(m.stored)).ok_or_else(|| KmsError::internal(format!("key {key_id} has no material {material_id}")))
}

fn parse_uuid(text: &str) -> Result<Uuid, KmsError> {
    Uuid::try_parse(text).map_err(|_| KmsError::internal(format!("stored key id {text} is not a UUID")))
}

fn material_id_bytes(text: &str) -> Result<[u8; 32], KmsError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|_| KmsError::internal(format!("stored material id {text} is not 64 hex digits")))?;
    Ok(out)
}
