//! EnableKey: lets a disabled key be used for cryptographic operations again.

use serde_json::{json, Value};
use trent_model::input::EnableKeyRequest;
use trent_store::{KeyRecord, KeyState};

use crate::keys::OpCtx;
use crate::keys::change::modify_key;
use crate::authz::Authorized;
use crate::keys::state;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, _req: EnableKeyRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    set_enabled(ctx, key, true).await
}

/// EnableKey and DisableKey: move between Enabled and Disabled; asking for
/// the state the key is already in succeeds and changes nothing.
pub(super) async fn set_enabled(ctx: &OpCtx<'_>, key: Authorized<KeyRecord>, enable: bool) -> Result<Value, KmsError> {
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
