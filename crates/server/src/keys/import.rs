//! Imported key material (BYOK): import tokens, taking and saving the
//! material, removal and expiry.
//!
//! An import token is the one-time wrapping key's private half, the
//! KMS key it is for, the wrapping algorithm and its expiry (24 hours),
//! sealed under the root key. It needs no database row, so any node can
//! take it, and it cannot be altered or used for another key. The Region is
//! bound as AAD: the members of a multi-Region key share their key id, and
//! a token from one member must not import into another (AWS ties a token
//! to the key's ARN).

use trent_crypto::import::{WrappingAlgorithm, WrappingKey};
use trent_crypto::keytypes::KeySpec;
use trent_crypto::{CryptoError, RootKey, SecretBytes, StoredMaterial};
use trent_store::{KeyRecord, MaterialRecord, Millis, Store, StoreError};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::authz::Authorized;
use crate::keys::change::{reread, MAX_CHANGE_ATTEMPTS};
use crate::keys::materials::{self, ImportRequest};
use crate::keys::{state, OpCtx};
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub const TOKEN_LIFETIME_MILLIS: Millis = 24 * 60 * 60 * 1000;
/// ValidTo may be at most this far ahead (AWS: 365 days).
pub const MAX_VALID_FOR_MILLIS: Millis = 365 * 24 * 60 * 60 * 1000;
const TOKEN_AAD: &[u8] = b"trent/import-token/v2/";
const TOKEN_VERSION: u8 = 1;

/// What an import token carries.
pub struct ImportToken {
    pub key_id: Uuid,
    pub algorithm: WrappingAlgorithm,
    pub expires_at: Millis,
    pub wrapping_key: WrappingKey,
}

impl ImportToken {
    pub fn seal(&self, root: &RootKey, region: &str) -> Result<Vec<u8>, KmsError> {
        let pkcs8 = self.wrapping_key.to_pkcs8()?;
        let mut plain = Zeroizing::new(Vec::with_capacity(1 + 1 + 8 + 16 + pkcs8.len()));
        plain.push(TOKEN_VERSION);
        plain.push(self.algorithm.code());
        plain.extend_from_slice(&self.expires_at.to_be_bytes());
        plain.extend_from_slice(self.key_id.as_bytes());
        plain.extend_from_slice(pkcs8.as_bytes());
        Ok(root.seal(&plain, &token_aad(region))?)
    }

    /// Opens a token for `key_id` in `region` at `now`, with AWS's error for each way it can be wrong.
    pub fn open(root: &RootKey, token: &[u8], key_id: &str, region: &str, now: Millis) -> Result<ImportToken, KmsError> {
        let invalid = || KmsError::from(Error::InvalidImportToken);
        let plain = root.unseal(token, &token_aad(region)).map_err(|_| invalid())?;
        let bytes = plain.as_bytes();
        if bytes.len() < 26 || bytes[0] != TOKEN_VERSION {
            return Err(invalid());
        }
        let algorithm = WrappingAlgorithm::from_code(bytes[1]).ok_or_else(invalid)?;
        let expires_at = Millis::from_be_bytes(bytes[2..10].try_into().map_err(|_| invalid())?);
        let token_key = Uuid::from_slice(&bytes[10..26]).map_err(|_| invalid())?;
        if Some(token_key) != crate::keys::reference::key_id_bytes(key_id) {
            return Err(invalid());
        }
        if now >= expires_at {
            return Err(Error::ExpiredImportToken.into());
        }
        let wrapping_key = WrappingKey::from_pkcs8(algorithm, &bytes[26..]).map_err(|_| invalid())?;
        Ok(ImportToken { key_id: token_key, algorithm, expires_at, wrapping_key })
    }
}

fn token_aad(region: &str) -> Vec<u8> {
    [TOKEN_AAD, region.as_bytes()].concat()
}

/// Only keys made for imported material take it.
pub fn check_external(key: &KeyRecord) -> Result<(), KmsError> {
    if key.origin != "EXTERNAL" {
        return Err(Error::OriginNotValid { arn: key.arn.clone(), origin: key.origin.clone() }.into());
    }
    Ok(())
}

/// GetParametersForImport: a token for the key, sealed under the root key,
/// with the wrapping key's public half and when the token expires.
pub fn seal_token(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>, algorithm: WrappingAlgorithm, wrapping_key: WrappingKey) -> Result<(Vec<u8>, Vec<u8>, Millis), KmsError> {
    let key_id = crate::keys::reference::key_id_bytes(&key.key_id).ok_or_else(|| KmsError::internal("stored key id is malformed"))?;
    let expires_at = ctx.now() + TOKEN_LIFETIME_MILLIS;
    let public_key = wrapping_key.public_key_der()?;
    let token = ImportToken { key_id, algorithm, expires_at, wrapping_key }.seal(&ctx.state().root_key.load(), &key.region)?;
    Ok((token, public_key, expires_at))
}

/// ImportKeyMaterial: the token a request brings, if it was made for the key.
pub fn open_token(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>, token: &[u8], now: Millis) -> Result<ImportToken, KmsError> {
    ImportToken::open(&ctx.state().root_key.load(), token, &key.key_id, &key.region, now)
}

/// ImportKeyMaterial: unwraps `wrapped` with the token's wrapping key and
/// has the key provider take it for the key: its stored form and material
/// id. RSA unwrapping and key checks are slow: on the blocking pool.
pub async fn take_material(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>, token: ImportToken, wrapped: Vec<u8>, spec: KeySpec) -> Result<(StoredMaterial, String), KmsError> {
    let symmetric = spec == KeySpec::SymmetricDefault;
    let provider = ctx.state().provider.clone();
    let key_uuid = crate::keys::reference::key_id_bytes(&key.key_id).ok_or_else(|| KmsError::internal("stored key id is malformed"))?;
    let (stored, material_id) = tokio::task::spawn_blocking(move || {
        let material: SecretBytes = token
            .wrapping_key
            .unwrap(token.algorithm, &wrapped)
            .map_err(|_| KmsError::from(Error::InvalidCiphertext))?;
        if symmetric && material.len() != 32 {
            return Err(KmsError::from(Error::SymmetricMaterialSize));
        }
        provider.import_key(key_uuid, spec, &material).map_err(|e| match e {
            CryptoError::InvalidInput(why) => Error::MaterialDoesNotFitSpec { why: why.to_string() }.into(),
            other => other.into(),
        })
    })
    .await
    .map_err(|e| KmsError::internal(format!("unwrapping task: {e}")))??;
    Ok((stored, hex::encode(material_id)))
}

/// ImportKeyMaterial: saves the material and its terms (`request`) on the
/// key, re-reading and re-checking the key if another request changed it
/// first. The material's sealed copy is written unless it is stored
/// already (a re-import only to change the terms, or material another
/// member of a multi-Region set holds), in the same transaction. Returns
/// the key as read.
pub async fn save_import(ctx: &OpCtx<'_>, key: Authorized<KeyRecord>, request: &ImportRequest, stored: StoredMaterial, now: Millis) -> Result<KeyRecord, KmsError> {
    let store = ctx.store();
    let mut key = key.into_inner();
    for _ in 0..MAX_CHANGE_ATTEMPTS {
        let next = materials::with_import(&key, request)?;
        let material = MaterialRecord { key_id: key.key_id.clone(), material_id: request.material_id.clone(), stored: stored.0.clone(), created_at: now };
        match store.save_imported_material(&next, &material).await {
            Ok(_) => return Ok(key),
            // Changed meanwhile: same key, authorized above; re-read and re-check.
            Err(StoreError::Conflict | StoreError::AlreadyExists) => {
                key = reread(ctx, &key).await?;
                state::not_pending_deletion(&key)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(KmsError::internal(format!("{} kept changing while material was being imported", key.arn)))
}

/// DeleteImportedKeyMaterial: deletes the imported material `named` (else
/// the current one) at once; the key as read and the material's id.
/// Material that is part of the key leaves the key waiting in PendingImport
/// for the same material again; material pending rotation is simply
/// forgotten ([`materials::without`]). Nothing imported, or already
/// deleted: nothing to do.
pub async fn delete_material(ctx: &OpCtx<'_>, key: Authorized<KeyRecord>, named: Option<String>) -> Result<(KeyRecord, String), KmsError> {
    let mut key = key.into_inner();
    let current_asked = named.is_none();
    let id = named.unwrap_or_else(|| key.current_material_id.clone());
    for _ in 0..MAX_CHANGE_ATTEMPTS {
        let Some(material) = key.imported_materials().into_iter().find(|m| m.material_id == id) else {
            if current_asked {
                // Nothing was ever imported: nothing to delete.
                return Ok((key, id));
            }
            return Err(Error::KeyMaterialNotFound { material: id.to_string(), arn: key.arn.clone() }.into());
        };
        if !material.imported {
            // Already deleted (or expired): done.
            return Ok((key, id));
        }
        match remove_material(ctx.store(), &key, std::slice::from_ref(&id)).await {
            Ok(_) => {
                // Drop any parsed copy held for speed (asymmetric and HMAC keys).
                ctx.state().forget_parsed(&key);
                return Ok((key, id));
            }
            // Changed meanwhile: same key, authorized above; re-read and retry.
            Err(StoreError::Conflict) => {
                key = reread(ctx, &key).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(KmsError::internal(format!("{} kept changing while its material was being deleted", key.arn)))
}

/// The key without the named imported materials (their sealed copies
/// deleted; see [`materials::without`] for the key's state). Compare-and-set.
pub async fn remove_material(store: &dyn Store, key: &KeyRecord, material_ids: &[String]) -> Result<KeyRecord, StoreError> {
    let mut next = materials::without(key, material_ids);
    next.row_version = store.remove_key_material(&next, material_ids).await?;
    Ok(next)
}

/// Removes the key's materials whose ValidTo has passed; the key as it now is.
pub async fn expire_if_due(store: &dyn Store, key: KeyRecord, now: Millis, events: &dyn crate::lifecycle::events::JobEvents) -> Result<KeyRecord, StoreError> {
    let due = materials::expired(&key, now);
    if due.is_empty() {
        return Ok(key);
    }
    match remove_material(store, &key, &due).await {
        Ok(next) => {
            tracing::info!(key_id = %key.key_id, materials = ?due, "imported key material deleted: it expired");
            events.material_expired(&key, &due).await;
            Ok(next)
        }
        // Changed meanwhile (expired by another node, or re-imported): read it again.
        Err(StoreError::Conflict) => store.get_key(&key.key_id, &key.region).await?.ok_or(StoreError::NotFound),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::ErrorCode;
    use trent_crypto::import::WrappingKeySpec;

    #[test]
    fn an_sm2_token_holds_its_sm2_wrapping_key() {
        let root = RootKey::from_bytes(trent_crypto::random_secret(32).unwrap()).unwrap();
        let key_id = Uuid::new_v4();
        let wrapping_key = WrappingKey::generate(WrappingKeySpec::Sm2).unwrap();
        let public = wrapping_key.public_key_der().unwrap();
        let sealed = ImportToken { key_id, algorithm: WrappingAlgorithm::Sm2Pke, expires_at: 1_000, wrapping_key }.seal(&root, "us-east-1").unwrap();
        let opened = ImportToken::open(&root, &sealed, &key_id.to_string(), "us-east-1", 0).unwrap();
        assert_eq!((opened.algorithm, opened.wrapping_key.public_key_der().unwrap()), (WrappingAlgorithm::Sm2Pke, public));
    }

    #[test]
    fn a_token_opens_only_for_its_key_in_its_region_and_before_it_expires() {
        let root = RootKey::from_bytes(trent_crypto::random_secret(32).unwrap()).unwrap();
        let key_id = Uuid::new_v4();
        let token = ImportToken { key_id, algorithm: WrappingAlgorithm::RsaesOaepSha256, expires_at: 1_000, wrapping_key: WrappingKey::generate(WrappingKeySpec::Rsa2048).unwrap() };
        let sealed = token.seal(&root, "eu-west-1").unwrap();
        let opened = ImportToken::open(&root, &sealed, &key_id.to_string(), "eu-west-1", 999).unwrap();
        assert_eq!((opened.algorithm, opened.expires_at), (WrappingAlgorithm::RsaesOaepSha256, 1_000));
        assert_eq!(ImportToken::open(&root, &sealed, &key_id.to_string(), "eu-west-1", 1_000).err().unwrap().code, ErrorCode::ExpiredImportToken);
        assert_eq!(ImportToken::open(&root, &sealed, &Uuid::new_v4().to_string(), "eu-west-1", 0).err().unwrap().code, ErrorCode::InvalidImportToken);
        // A multi-Region key's members share the id: another member's Region is refused.
        assert_eq!(ImportToken::open(&root, &sealed, &key_id.to_string(), "us-east-1", 0).err().unwrap().code, ErrorCode::InvalidImportToken);
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert_eq!(ImportToken::open(&root, &tampered, &key_id.to_string(), "eu-west-1", 0).err().unwrap().code, ErrorCode::InvalidImportToken);
        let other_root = RootKey::from_bytes(trent_crypto::random_secret(32).unwrap()).unwrap();
        assert_eq!(ImportToken::open(&other_root, &sealed, &key_id.to_string(), "eu-west-1", 0).err().unwrap().code, ErrorCode::InvalidImportToken);
    }
}
