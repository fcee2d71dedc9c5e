//! What background work did, told to whoever must know: the audit log
//! (CloudTrail's `AwsServiceEvent`s `DeleteKey`, `RotateKey` and
//! `DeleteExpiredKeyMaterial`) and the key provider's cache of parsed keys.
//! Each is told only by the node whose compare-and-set did the work, so
//! each event is recorded once.

use serde_json::{json, Value};
use trent_store::KeyRecord;

use crate::state::AppState;

#[async_trait::async_trait]
pub trait JobEvents: Send + Sync {
    async fn key_destroyed(&self, key: &KeyRecord);
    async fn key_rotated(&self, key: &KeyRecord);
    /// `material_ids`: the key's materials that expired.
    async fn material_expired(&self, key: &KeyRecord, material_ids: &[String]);
}

/// For tests of the jobs alone.
pub struct NoEvents;

#[async_trait::async_trait]
impl JobEvents for NoEvents {
    async fn key_destroyed(&self, _: &KeyRecord) {}
    async fn key_rotated(&self, _: &KeyRecord) {}
    async fn material_expired(&self, _: &KeyRecord, _: &[String]) {}
}

#[async_trait::async_trait]
impl JobEvents for AppState {
    async fn key_destroyed(&self, key: &KeyRecord) {
        self.forget_parsed(key);
        crate::keys::key_stores::key_destroyed(self, key).await;
        self.record(service_event("DeleteKey", key, self.clock.now_millis(), None)).await;
    }

    async fn key_rotated(&self, key: &KeyRecord) {
        let extra = json!({ "keyMaterialId": key.current_material_id, "rotationType": "AUTOMATIC" });
        self.record(service_event("RotateKey", key, self.clock.now_millis(), Some(extra))).await;
    }

    async fn material_expired(&self, key: &KeyRecord, material_ids: &[String]) {
        self.forget_parsed(key);
        // One event per material, as each expiry is its own deletion.
        for id in material_ids {
            let extra = json!({ "keyMaterialId": id });
            self.record(service_event("DeleteExpiredKeyMaterial", key, self.clock.now_millis(), Some(extra))).await;
        }
    }
}

impl AppState {
    /// Drops the provider's parsed copies of a key whose material is gone.
    pub fn forget_parsed(&self, key: &KeyRecord) {
        if let Some(id) = crate::keys::reference::key_id_bytes(&key.key_id) {
            self.provider.forget_key(id);
        }
    }

    /// The work is done whatever happens here: a failure is logged (and,
    /// by default, the audit log then refuses further requests).
    async fn record(&self, event: Value) {
        if let Err(e) = self.audit.record(&event, true).await {
            tracing::error!(error = %e, event = %event["eventName"], "a background job's audit event could not be written");
        }
    }
}

/// CloudTrail's shape for what KMS does by itself.
pub fn service_event(name: &str, key: &KeyRecord, at: i64, additional: Option<Value>) -> Value {
    let mut e = json!({
        "eventVersion": "1.11",
        "userIdentity": { "accountId": key.account_id, "invokedBy": "kms.amazonaws.com" },
        "eventTime": crate::audit::event::format_time(at),
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": key.region,
        "sourceIPAddress": "kms.amazonaws.com",
        "userAgent": "kms.amazonaws.com",
        "requestParameters": null,
        "responseElements": null,
        "eventID": uuid::Uuid::new_v4().to_string(),
        "readOnly": false,
        "resources": [{ "accountId": key.account_id, "type": "AWS::KMS::Key", "ARN": key.arn }],
        "eventType": "AwsServiceEvent",
        "managementEvent": true,
        "recipientAccountId": key.account_id,
        "eventCategory": "Management",
        "trentAuthorizationReason": "not evaluated: work Trent does by itself",
    });
    if let Some(extra) = additional {
        e["additionalEventData"] = extra;
    }
    e
}
