//! DisableKey: stops a key's use in cryptographic operations until enabled.

use serde_json::Value;
use trent_model::input::DisableKeyRequest;

use super::enable_key::set_enabled;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: DisableKeyRequest) -> Result<Value, KmsError> {
    set_enabled(ctx, &req.key_id, false, "kms:DisableKey").await
}
