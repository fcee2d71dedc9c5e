//! DisableKey: stops a key's use in cryptographic operations until enabled.

use serde::Deserialize;
use serde_json::{json, Value};
use trent_store::KeyState;

use super::{editable, input, save_key};
use crate::authz::{self, Aliases};
use crate::keys::state;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    key_id: String,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let mut key = editable(authz::key(ctx, &req.key_id, "kms:DisableKey", Aliases::Rejected).await?);
    match key.state {
        KeyState::Disabled => return Ok(json!({})),
        KeyState::Enabled => {}
        other => return Err(state::invalid(&key, other)),
    }
    key.state = KeyState::Disabled;
    save_key(ctx, &key).await?;
    Ok(json!({}))
}
