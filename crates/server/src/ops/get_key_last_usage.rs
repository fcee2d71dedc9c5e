//! GetKeyLastUsage: the key's last successful cryptographic operation, if
//! any since tracking started (when this deployment first ran a Trent that
//! tracks it, or the key's creation if later). See keys/usage.rs for how
//! fresh the answer is.

use serde_json::{json, Map, Value};
use trent_model::input::GetKeyLastUsageRequest;
use trent_store::KeyRecord;

use crate::authz::Authorized;
use crate::clock::epoch_seconds;
use crate::keys::OpCtx;
use crate::keys::usage::{last_use_of, tracking_start};
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, _req: GetKeyLastUsageRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    let started = tracking_start(ctx, &key).await?;
    let mut usage = Map::new();
    if let Some(used) = last_use_of(ctx, &key).await? {
        usage.insert("Operation".into(), json!(used.operation));
        usage.insert("Timestamp".into(), epoch_seconds(used.used_at));
        usage.insert("KmsRequestId".into(), json!(used.request_id));
    }
    Ok(json!({
        "KeyId": key.arn,
        "KeyLastUsage": usage,
        "TrackingStartDate": epoch_seconds(started.max(key.created_at)),
        "KeyCreationDate": epoch_seconds(key.created_at),
    }))
}
