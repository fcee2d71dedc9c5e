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
use trent_store::KeyRecord;

use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keys::import::{check_external, open_token, save_import, take_material, MAX_VALID_FOR_MILLIS};
use crate::keys::materials::ImportRequest;
use crate::keys::state;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

const EXPIRES: &str = "KEY_MATERIAL_EXPIRES";

pub async fn handle(ctx: &OpCtx<'_>, req: ImportKeyMaterialRequest, authorized: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    check_external(&authorized)?;
    let spec = KeySpec::parse(&authorized.key_spec).ok_or_else(|| KmsError::internal(format!("stored key spec {} is unknown", authorized.key_spec)))?;
    let symmetric = spec == KeySpec::SymmetricDefault;
    if !symmetric && (req.import_type.is_some() || req.key_material_id.is_some()) {
        return Err(Error::ImportTypeNotSymmetric.into());
    }
    state::not_pending_deletion(&authorized)?;
    let now = ctx.now();
    let terms = terms(&req, now)?;

    let token = open_token(ctx, &authorized, req.import_token.as_bytes(), now)?;
    let (stored, material_id) = take_material(ctx, &authorized, token, req.encrypted_key_material.into_vec(), spec).await?;

    let request = ImportRequest { material_id, import_type: req.import_type.clone(), named_id: req.key_material_id.clone(), ..terms };
    let key = save_import(ctx, authorized, &request, stored, now).await?;
    Ok(json!({ "KeyId": key.arn, "KeyMaterialId": request.material_id }))
}

/// ExpirationModel and ValidTo as AWS requires them (the material id is filled in once known).
fn terms(req: &ImportKeyMaterialRequest, now: i64) -> Result<ImportRequest, KmsError> {
    let model = req.expiration_model.clone().unwrap_or_else(|| EXPIRES.into());
    let valid_to = match (model.as_str(), req.valid_to) {
        (EXPIRES, None) => return Err(Error::ValidToRequired.into()),
        (EXPIRES, Some(seconds)) => {
            let at = (seconds * 1000.0) as i64;
            if at <= now || at > now + MAX_VALID_FOR_MILLIS {
                return Err(Error::ValidToOutOfRange.into());
            }
            Some(at)
        }
        (_, Some(_)) => return Err(Error::ValidToWithoutExpiry.into()),
        (_, None) => None,
    };
    Ok(ImportRequest { material_id: String::new(), expiration_model: model, valid_to, description: req.key_material_description.clone(), import_type: None, named_id: None })
}
