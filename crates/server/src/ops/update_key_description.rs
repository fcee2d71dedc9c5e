//! UpdateKeyDescription: replaces a key's description.

use serde_json::{json, Value};
use trent_model::input::UpdateKeyDescriptionRequest;

use crate::keys::OpCtx;
use crate::keys::change::modify_key;
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::state;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: UpdateKeyDescriptionRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    modify_key(ctx, key, |key| {
        state::not_pending_deletion(key)?;
        key.description = req.description.clone();
        Ok(())
    })
    .await?;
    Ok(json!({}))
}
