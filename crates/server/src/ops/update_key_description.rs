//! UpdateKeyDescription: replaces a key's description.

use serde_json::{json, Value};
use trent_model::input::UpdateKeyDescriptionRequest;

use super::modify_key;
use crate::authz::{self, Aliases};
use crate::keys::state;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: UpdateKeyDescriptionRequest) -> Result<Value, KmsError> {
    let key = authz::key(ctx, &req.key_id, "kms:UpdateKeyDescription", Aliases::Rejected).await?;
    modify_key(ctx, key, |key| {
        state::not_pending_deletion(key)?;
        key.description = req.description.clone();
        Ok(())
    })
    .await?;
    Ok(json!({}))
}
