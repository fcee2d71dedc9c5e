//! DisableKey: stops a key's use in cryptographic operations until enabled.

use serde_json::Value;
use trent_model::input::DisableKeyRequest;

use trent_store::KeyRecord;

use super::enable_key::set_enabled;
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, _req: DisableKeyRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    set_enabled(ctx, key, false).await
}
