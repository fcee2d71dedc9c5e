//! DeleteImportedKeyMaterial: one imported material (the one KeyMaterialId
//! names, else the current one) is deleted at once. Material that is part
//! of the key leaves the key waiting in PendingImport for the same material
//! again; material pending rotation is simply forgotten
//! ([`crate::keys::materials::without`]).

use serde_json::{json, Value};
use trent_model::input::DeleteImportedKeyMaterialRequest;
use trent_store::{KeyRecord, StoreError};

use crate::authz::Authorized;
use crate::keys::import::{check_external, remove_material};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: DeleteImportedKeyMaterialRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    let mut key = key.into_inner();
    check_external(&key)?;
    let id = req.key_material_id.clone().unwrap_or_else(|| key.current_material_id.clone());
    for _ in 0..super::MAX_CHANGE_ATTEMPTS {
        let Some(material) = key.imported_materials().into_iter().find(|m| m.material_id == id) else {
            if req.key_material_id.is_none() {
                // Nothing was ever imported: nothing to delete.
                return Ok(json!({ "KeyId": key.arn, "KeyMaterialId": id }));
            }
            return Err(KmsError::not_found(format!("Key material {id} is not associated with {}.", key.arn)));
        };
        if !material.imported {
            // Already deleted (or expired): done.
            return Ok(json!({ "KeyId": key.arn, "KeyMaterialId": id }));
        }
        match remove_material(ctx.state.store.as_ref(), &key, std::slice::from_ref(&id)).await {
            Ok(_) => {
                // Drop any parsed copy held for speed (asymmetric and HMAC keys).
                ctx.state.forget_parsed(&key);
                return Ok(json!({ "KeyId": key.arn, "KeyMaterialId": id }));
            }
            // Changed meanwhile: same key, authorized above; re-read and retry.
            Err(StoreError::Conflict) => {
                key = super::reread_key(ctx, &key).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(KmsError::internal(format!("{} kept changing while its material was being deleted", key.arn)))
}
