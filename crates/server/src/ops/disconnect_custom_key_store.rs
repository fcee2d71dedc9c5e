//! DisconnectCustomKeyStore: its keys become unusable on every node.

use serde_json::{json, Value};
use trent_model::input::DisconnectCustomKeyStoreRequest;

use crate::authz::Authorized;
use crate::keys::key_stores;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: DisconnectCustomKeyStoreRequest, account: Authorized<String>) -> Result<Value, KmsError> {
    key_stores::disconnect(ctx, &account, &req.custom_key_store_id).await?;
    Ok(json!({}))
}
