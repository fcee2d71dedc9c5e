//! GetKeyLastUsage: the key's last successful cryptographic operation, if
//! any since tracking started (when this deployment first ran a Trent that
//! tracks it, or the key's creation if later). See keys/usage.rs for how
//! fresh the answer is.

use serde_json::{json, Map, Value};
use trent_model::input::GetKeyLastUsageRequest;
use trent_store::{KeyRecord, Millis, Store, StoreError};

use crate::authz::Authorized;
use crate::clock::epoch_seconds;
use crate::keys::usage::last_use;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

const TRACKING_START: &str = "usage-tracking-start";

/// Records when this deployment started tracking, once (at first start).
pub async fn start_tracking(store: &dyn Store, now: Millis) -> Result<(), StoreError> {
    match store.insert_setting(TRACKING_START, &now.to_be_bytes()).await {
        Ok(()) | Err(StoreError::AlreadyExists) => Ok(()),
        Err(e) => Err(e),
    }
}

pub async fn handle(ctx: &Ctx, _req: GetKeyLastUsageRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    let started = match ctx.state.store.get_setting(TRACKING_START).await? {
        Some(bytes) => bytes.try_into().map(Millis::from_be_bytes).map_err(|_| KmsError::internal("malformed usage-tracking-start setting"))?,
        None => key.created_at,
    };
    let mut usage = Map::new();
    if let Some(used) = last_use(ctx.state.store.as_ref(), &ctx.state.usage, &key.key_id).await? {
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
