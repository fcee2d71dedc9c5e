//! ImportKeyMaterial: unwraps the caller's material with the import
//! token's wrapping key and makes it the key's material, with its
//! expiration terms. Re-importing the same material (after expiry or
//! deletion, or to change its terms) is allowed; different material is
//! refused, as AWS refuses it (for asymmetric and HMAC keys the material
//! can never change after the first import).

use serde::Deserialize;
use serde_json::{json, Value};
use trent_crypto::keytypes::KeySpec;
use trent_crypto::{CryptoError, SecretBytes};
use trent_store::{KeyImport, KeyRecord, KeyState, MaterialRecord, StoreError};
use uuid::Uuid;

use super::{blob, input, MAX_CHANGE_ATTEMPTS};
use crate::authz::{self, Aliases};
use crate::keys::import::{check_external, ImportToken, MAX_VALID_FOR_MILLIS};
use crate::keys::state;
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    key_id: String,
    import_token: String,
    encrypted_key_material: String,
    valid_to: Option<f64>,
    expiration_model: Option<String>,
    import_type: Option<String>,
    key_material_description: Option<String>,
    key_material_id: Option<String>,
}

const EXPIRES: &str = "KEY_MATERIAL_EXPIRES";

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let authorized = authz::key(ctx, &req.key_id, "kms:ImportKeyMaterial", Aliases::Rejected).await?;
    check_external(&authorized)?;
    let spec = KeySpec::parse(&authorized.key_spec).ok_or_else(|| KmsError::internal(format!("stored key spec {} is unknown", authorized.key_spec)))?;
    let symmetric = spec == KeySpec::SymmetricDefault;
    if !symmetric && (req.import_type.is_some() || req.key_material_id.is_some()) {
        return Err(KmsError::validation("ImportType and KeyMaterialId are only valid for symmetric encryption keys."));
    }
    state::not_pending_deletion(&authorized)?;
    let now = ctx.now();
    let terms = terms(&req, now)?;

    let token = ImportToken::open(&ctx.state.root_key, &blob(&req.import_token)?, &authorized.key_id, now)?;
    let wrapped = blob(&req.encrypted_key_material)?;
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

    let mut key = authorized.into_inner();
    for _ in 0..MAX_CHANGE_ATTEMPTS {
        check_material(&req, &key, &material_id)?;
        let mut next = key.clone();
        next.current_material_id = material_id.clone();
        next.import = terms.clone();
        if next.state == KeyState::PendingImport {
            next.state = KeyState::Enabled;
        }
        let material = MaterialRecord { key_id: key.key_id.clone(), material_id: material_id.clone(), stored: stored.0.clone(), created_at: now };
        let written = match ctx.state.store.get_material(&key.key_id, &material_id).await? {
            Some(_) => ctx.state.store.update_key(&next).await,
            None => ctx.state.store.rotate_key(&next, &material).await,
        };
        match written {
            Ok(_) => return Ok(json!({ "KeyId": key.arn, "KeyMaterialId": material_id })),
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

/// ExpirationModel and ValidTo as AWS requires them.
fn terms(req: &Input, now: i64) -> Result<KeyImport, KmsError> {
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
    Ok(KeyImport { expiration_model: Some(model), valid_to, material_description: req.key_material_description.clone() })
}

/// The same material as before, if the key ever had some.
fn check_material(req: &Input, key: &KeyRecord, material_id: &str) -> Result<(), KmsError> {
    let had = !key.current_material_id.is_empty();
    let import_type = req.import_type.as_deref().unwrap_or(if had { "EXISTING_KEY_MATERIAL" } else { "NEW_KEY_MATERIAL" });
    match import_type {
        "NEW_KEY_MATERIAL" if had => {
            return Err(KmsError::new(
                ErrorCode::UnsupportedOperation,
                "Importing new key material for on-demand rotation is not supported by Trent yet; re-import the same material.",
            ))
        }
        "NEW_KEY_MATERIAL" if req.key_material_id.is_some() => {
            return Err(KmsError::validation("KeyMaterialId cannot be given with ImportType NEW_KEY_MATERIAL."));
        }
        "EXISTING_KEY_MATERIAL" if !had => {
            return Err(KmsError::new(ErrorCode::IncorrectKeyMaterial, format!("{} has no key material to re-import; use ImportType NEW_KEY_MATERIAL.", key.arn)));
        }
        _ => {}
    }
    if had && key.current_material_id != material_id {
        return Err(KmsError::new(ErrorCode::IncorrectKeyMaterial, format!("The key material is not the material previously imported into {}.", key.arn)));
    }
    if req.key_material_id.as_deref().is_some_and(|id| id != material_id) {
        return Err(KmsError::new(ErrorCode::IncorrectKeyMaterial, "The key material does not match KeyMaterialId."));
    }
    Ok(())
}
