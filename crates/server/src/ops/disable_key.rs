//! DisableKey: stops a key's use in cryptographic operations until enabled.

use serde_json::Value;

use super::enable_key::set_enabled;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    set_enabled(ctx, body, false, "kms:DisableKey").await
}
