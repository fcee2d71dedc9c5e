//! EnableKey: lets a disabled key be used for cryptographic operations again.

use serde_json::{json, Value};
use trent_model::input::EnableKeyRequest;
use trent_store::KeyState;

use super::modify_key;
use crate::authz::{self, Aliases};
use crate::keys::state;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: EnableKeyRequest) -> Result<Value, KmsError> {
    set_enabled(ctx, &req.key_id, true, "kms:EnableKey").await
}

/// EnableKey and DisableKey: move between Enabled and Disabled; asking for
/// the state the key is already in succeeds and changes nothing.
pub(super) async fn set_enabled(ctx: &Ctx, key_id: &str, enable: bool, action: &'static str) -> Result<Value, KmsError> {
    let key = authz::key(ctx, key_id, action, Aliases::Rejected).await?;
    let (from, to) = if enable { (KeyState::Disabled, KeyState::Enabled) } else { (KeyState::Enabled, KeyState::Disabled) };
    if key.state == to {
        return Ok(json!({}));
    }
    modify_key(ctx, key, |key| {
        if key.state != from && key.state != to {
            return Err(state::invalid(key, key.state));
        }
        key.state = to;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}
