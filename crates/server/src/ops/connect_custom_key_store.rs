//! ConnectCustomKeyStore: logs in to the key store's token; the outcome is
//! its ConnectionState (DescribeCustomKeyStores), as in AWS.

use serde_json::{json, Value};
use trent_model::input::ConnectCustomKeyStoreRequest;

use crate::authz::Authorized;
use crate::keys::key_stores;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: ConnectCustomKeyStoreRequest, account: Authorized<String>) -> Result<Value, KmsError> {
    key_stores::connect(ctx, &account, &req.custom_key_store_id).await?;
    Ok(json!({}))
}
