//! DeleteImportedKeyMaterial: the key's imported material is deleted at
//! once and the key waits in PendingImport for the same material again.

use serde::Deserialize;
use serde_json::{json, Value};
use trent_store::{KeyState, StoreError};

use super::input;
use crate::authz::{self, Aliases};
use crate::keys::import::{check_external, remove_material};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    key_id: String,
    key_material_id: Option<String>,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let mut key = authz::key(ctx, &req.key_id, "kms:DeleteImportedKeyMaterial", Aliases::Rejected).await?.into_inner();
    check_external(&key)?;
    if let Some(id) = &req.key_material_id {
        if *id != key.current_material_id {
            return Err(KmsError::not_found(format!("Key material {id} is not associated with {}.", key.arn)));
        }
    }
    for _ in 0..super::MAX_CHANGE_ATTEMPTS {
        if key.state == KeyState::PendingImport {
            // Nothing imported, or already deleted: done.
            return Ok(json!({ "KeyId": key.arn, "KeyMaterialId": key.current_material_id }));
        }
        match remove_material(ctx.state.store.as_ref(), &key).await {
            Ok(_) => {
                // Drop any parsed copy held for speed (asymmetric and HMAC keys).
                ctx.state.forget_parsed(&key);
                return Ok(json!({ "KeyId": key.arn, "KeyMaterialId": key.current_material_id }));
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
