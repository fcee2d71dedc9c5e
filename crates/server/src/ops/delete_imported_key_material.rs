//! DeleteImportedKeyMaterial: one imported material (the one KeyMaterialId
//! names, else the current one) is deleted at once. Material that is part
//! of the key leaves the key waiting in PendingImport for the same material
//! again; material pending rotation is simply forgotten
//! ([`crate::keys::import::delete_material`]).

use serde_json::{json, Value};
use trent_model::input::DeleteImportedKeyMaterialRequest;
use trent_store::KeyRecord;

use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keys::import::{check_external, delete_material};
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: DeleteImportedKeyMaterialRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    check_external(&key)?;
    let (key, id) = delete_material(ctx, key, req.key_material_id).await?;
    Ok(json!({ "KeyId": key.arn, "KeyMaterialId": id }))
}
