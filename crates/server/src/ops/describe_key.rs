//! DescribeKey: a key's metadata, by any of the four reference forms.

use serde_json::{json, Value};
use trent_model::input::DescribeKeyRequest;

use crate::authz::Authorized;
use trent_store::{ConnectionState, KeyRecord, KeyState};
use crate::keys::OpCtx;
use crate::keys::{key_stores, metadata, multi_region};
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, _req: DescribeKeyRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    let mut m = metadata::key_metadata(&key);
    // Every member shows the whole set, read from the rows sharing its id.
    let members = multi_region::members(ctx, &key).await?;
    if let Some(configuration) = multi_region::configuration(&key, &members) {
        m["MultiRegionConfiguration"] = configuration;
    }
    if let Some(id) = &key.custom_key_store_id {
        m["CustomKeyStoreId"] = json!(id);
        if let Some((cluster, connection)) = key_stores::cluster_of(ctx, &key).await? {
            // An external key store's cluster id is its own id: not shown.
            if key.xks_key_id.is_none() {
                m["CloudHsmClusterId"] = json!(cluster);
            }
            // AWS: keys of a key store that is not connected are Unavailable
            // (their own state returns when it reconnects), unless pending deletion.
            if connection != ConnectionState::Connected && key.state != KeyState::PendingDeletion {
                m["KeyState"] = json!(KeyState::Unavailable.as_str());
                m["Enabled"] = json!(false);
            }
        }
    }
    Ok(json!({ "KeyMetadata": m }))
}
