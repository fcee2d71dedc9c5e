//! GetKeyLastUsage: the key's last successful cryptographic operation, if
//! any since tracking started (when this deployment first ran a Trent that
//! tracks it, or the key's creation if later). See keys/usage.rs for how
//! fresh the answer is.

use serde_json::{json, Map, Value};
use trent_model::input::GetKeyLastUsageRequest;
use trent_store::{KeyRecord, KeyUsageRecord};

use crate::authz::Authorized;
use crate::clock::epoch_seconds;
use crate::keys::OpCtx;
use crate::keys::usage::{last_use_of, tracking_start};
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, _req: GetKeyLastUsageRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    let started = tracking_start(ctx, &key).await?;
    let used = last_use_of(ctx, &key).await?;
    Ok(json!({
        "KeyId": key.arn,
        "KeyLastUsage": key_last_usage(used.as_ref()),
        "TrackingStartDate": epoch_seconds(started.max(key.created_at)),
        "KeyCreationDate": epoch_seconds(key.created_at),
    }))
}

/// `KeyLastUsage`: empty for a key not used since tracking started;
/// otherwise the use's operation, time, request id and the eventID of its
/// audit event (`CloudTrailEventId`), each "absent if the key has not been
/// used" (the model). A use recorded before Trent kept event ids has none.
fn key_last_usage(used: Option<&KeyUsageRecord>) -> Map<String, Value> {
    let mut usage = Map::new();
    if let Some(used) = used {
        usage.insert("Operation".into(), json!(used.operation));
        usage.insert("Timestamp".into(), epoch_seconds(used.used_at));
        if let Some(event_id) = &used.event_id {
            usage.insert("CloudTrailEventId".into(), json!(event_id));
        }
        usage.insert("KmsRequestId".into(), json!(used.request_id));
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_use_names_its_request_and_its_audit_event() {
        let record = |event_id: Option<&str>| KeyUsageRecord {
            key_id: "k".into(),
            region: "us-east-1".into(),
            used_at: 1_700_000_000_000,
            operation: "Sign".into(),
            request_id: "r1".into(),
            event_id: event_id.map(str::to_owned),
        };
        let cases = [
            (None, json!({})),
            (
                Some(record(Some("e1"))),
                json!({"Operation": "Sign", "Timestamp": 1_700_000_000, "CloudTrailEventId": "e1", "KmsRequestId": "r1"}),
            ),
            (Some(record(None)), json!({"Operation": "Sign", "Timestamp": 1_700_000_000, "KmsRequestId": "r1"})),
        ];
        for (used, expected) in cases {
            assert_eq!(Value::Object(key_last_usage(used.as_ref())), expected, "{used:?}");
        }
    }
}
