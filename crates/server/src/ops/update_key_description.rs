//! UpdateKeyDescription: replaces a key's description.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{input, modify_key};
use crate::authz::{self, Aliases};
use crate::keys::state;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    key_id: String,
    description: String,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let key = authz::key(ctx, &req.key_id, "kms:UpdateKeyDescription", Aliases::Rejected).await?;
    modify_key(ctx, key, |key| {
        state::not_pending_deletion(key)?;
        key.description = req.description.clone();
        Ok(())
    })
    .await?;
    Ok(json!({}))
}
