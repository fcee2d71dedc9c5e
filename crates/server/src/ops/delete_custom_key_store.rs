//! DeleteCustomKeyStore: a DISCONNECTED key store with no keys; the token
//! is not touched.

use serde_json::{json, Value};
use trent_model::input::DeleteCustomKeyStoreRequest;

use crate::authz::Authorized;
use crate::keys::key_stores;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: DeleteCustomKeyStoreRequest, account: Authorized<String>) -> Result<Value, KmsError> {
    key_stores::delete(ctx, &account, &req.custom_key_store_id).await?;
    Ok(json!({}))
}
