//! ImportKeyMaterial: unwraps the caller's material with the import
//! token's wrapping key and imports it with its expiration terms: the
//! first material, new material for an on-demand rotation of a symmetric
//! key (`ImportType=NEW_KEY_MATERIAL`), or a re-import of material the key
//! already has (after expiry or deletion, or to change its terms). The
//! rules are in [`crate::keys::materials`]; asymmetric and HMAC keys keep
//! their first material for life.

use serde_json::{json, Value};
use trent_model::input::ImportKeyMaterialRequest;
use trent_crypto::keytypes::KeySpec;
use trent_crypto::{CryptoError, SecretBytes};
use trent_store::{KeyRecord, MaterialRecord, StoreError};
use uuid::Uuid;

use super::MAX_CHANGE_ATTEMPTS;
use crate::authz::Authorized;
use crate::keys::import::{check_external, ImportToken, MAX_VALID_FOR_MILLIS};
use crate::keys::materials::{self, ImportRequest};
use crate::keys::state;
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

const EXPIRES: &str = "KEY_MATERIAL_EXPIRES";

pub async fn handle(ctx: &Ctx, req: ImportKeyMaterialRequest, authorized: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    check_external(&authorized)?;
    let spec = KeySpec::parse(&authorized.key_spec).ok_or_else(|| KmsError::internal(format!("stored key spec {} is unknown", authorized.key_spec)))?;
    let symmetric = spec == KeySpec::SymmetricDefault;
    if !symmetric && (req.import_type.is_some() || req.key_material_id.is_some()) {
        return Err(KmsError::validation("ImportType and KeyMaterialId are only valid for symmetric encryption keys."));
    }
    state::not_pending_deletion(&authorized)?;
    let now = ctx.now();
    let terms = terms(&req, now)?;

    let token = ImportToken::open(&ctx.state.root_key, req.import_token.as_bytes(), &authorized.key_id, now)?;
    let wrapped = req.encrypted_key_material.into_vec();
    let provider = ctx.state.provider.clone();
    let key_uuid = Uuid::try_parse(&authorized.key_id).map_err(|_| KmsError::internal("stored key id is not a UUID"))?;
    let (stored, material_id) = tokio::task::spawn_blocking(move || {
        let material: SecretBytes = token
            .wrapping_key
            .unwrap(token.algorithm, &wrapped)
            .map_err(|_| KmsError::new(ErrorCode::InvalidCiphertext, "The encrypted key material could not be decrypted with this import token's wrapping key and algorithm."))?;
        if symmetric && material.len() != 32 {
            return Err(KmsError::new(ErrorCode::IncorrectKeyMaterial, "Symmetric key material must be 256 bits (32 bytes)."));
        }
        provider.import_key(key_uuid, spec, &material).map_err(|e| match e {
            CryptoError::InvalidInput(why) => KmsError::new(ErrorCode::IncorrectKeyMaterial, format!("The key material does not fit the KMS key's key spec: {why}.")),
            other => other.into(),
        })
    })
    .await
    .map_err(|e| KmsError::internal(format!("unwrapping task: {e}")))??;
    let material_id = hex::encode(material_id);

    let request = ImportRequest { material_id, import_type: req.import_type.clone(), named_id: req.key_material_id.clone(), ..terms };

    let mut key = authorized.into_inner();
    for _ in 0..MAX_CHANGE_ATTEMPTS {
        let next = materials::with_import(&key, &request)?;
        let material = MaterialRecord { key_id: key.key_id.clone(), material_id: request.material_id.clone(), stored: stored.0.clone(), created_at: now };
        // The material's sealed copy is written unless the key still has it
        // (a re-import only to change the terms).
        let written = match ctx.state.store.get_material(&key.key_id, &request.material_id).await? {
            Some(_) => ctx.state.store.update_key(&next).await,
            None => ctx.state.store.rotate_key(&next, &material).await,
        };
        match written {
            Ok(_) => return Ok(json!({ "KeyId": key.arn, "KeyMaterialId": request.material_id })),
            // Changed meanwhile: same key, authorized above; re-read and re-check.
            Err(StoreError::Conflict | StoreError::AlreadyExists) => {
                key = super::reread_key(ctx, &key).await?;
                state::not_pending_deletion(&key)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(KmsError::internal(format!("{} kept changing while material was being imported", key.arn)))
}

/// ExpirationModel and ValidTo as AWS requires them (the material id is filled in once known).
fn terms(req: &ImportKeyMaterialRequest, now: i64) -> Result<ImportRequest, KmsError> {
    let model = req.expiration_model.clone().unwrap_or_else(|| EXPIRES.into());
    let valid_to = match (model.as_str(), req.valid_to) {
        (EXPIRES, None) => return Err(KmsError::validation("ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.")),
        (EXPIRES, Some(seconds)) => {
            let at = (seconds * 1000.0) as i64;
            if at <= now || at > now + MAX_VALID_FOR_MILLIS {
                return Err(KmsError::validation("ValidTo must be in the future and at most 365 days from now."));
            }
            Some(at)
        }
        (_, Some(_)) => return Err(KmsError::validation("ValidTo is not valid when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.")),
        (_, None) => None,
    };
    Ok(ImportRequest { material_id: String::new(), expiration_model: model, valid_to, description: req.key_material_description.clone(), import_type: None, named_id: None })
}
