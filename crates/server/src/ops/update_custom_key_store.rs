//! UpdateCustomKeyStore: a CloudHSM key store's name, password (the token's
//! user PIN) or cluster (only a related one); an external key store's
//! name, proxy credential, URI path, endpoint or connectivity.

use serde_json::{json, Value};
use trent_model::input::UpdateCustomKeyStoreRequest;

use crate::authz::Authorized;
use crate::keys::key_stores::{self, KeyStoreUpdate};
use crate::keys::xks_stores::{Credential, XksUpdate};
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: UpdateCustomKeyStoreRequest, account: Authorized<String>) -> Result<Value, KmsError> {
    let xks = XksUpdate {
        uri_endpoint: req.xks_proxy_uri_endpoint,
        uri_path: req.xks_proxy_uri_path,
        connectivity: req.xks_proxy_connectivity,
        vpc_service_name: req.xks_proxy_vpc_endpoint_service_name,
        credential: req.xks_proxy_authentication_credential.map(|c| Credential { access_key_id: c.access_key_id, secret: c.raw_secret_access_key }),
    };
    let update = KeyStoreUpdate { new_name: req.new_custom_key_store_name, password: req.key_store_password, cluster_id: req.cloud_hsm_cluster_id, xks };
    key_stores::update(ctx, &account, &req.custom_key_store_id, update).await?;
    Ok(json!({}))
}
