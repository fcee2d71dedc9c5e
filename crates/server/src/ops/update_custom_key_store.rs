//! UpdateCustomKeyStore: a CloudHSM key store's name, password (the token's
//! user PIN) or cluster (only a related one).

use serde_json::{json, Value};
use trent_model::input::UpdateCustomKeyStoreRequest;

use super::validation_unsupported;
use crate::authz::Authorized;
use crate::keys::key_stores::{self, KeyStoreUpdate};
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: UpdateCustomKeyStoreRequest, account: Authorized<String>) -> Result<Value, KmsError> {
    let xks = req.xks_proxy_uri_endpoint.is_some() || req.xks_proxy_uri_path.is_some() || req.xks_proxy_vpc_endpoint_service_name.is_some() || req.xks_proxy_authentication_credential.is_some() || req.xks_proxy_connectivity.is_some();
    if xks {
        return Err(validation_unsupported("external key store (XKS) properties".into()));
    }
    let update = KeyStoreUpdate { new_name: req.new_custom_key_store_name, password: req.key_store_password, cluster_id: req.cloud_hsm_cluster_id };
    key_stores::update(ctx, &account, &req.custom_key_store_id, update).await?;
    Ok(json!({}))
}
