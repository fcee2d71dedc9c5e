//! The audit events of sealing and unsealing, in CloudTrail's shape for
//! what a service does by itself. Written to the signed log, so only
//! while unsealed: the unseal's event once the log is open again (with the
//! failed attempts made while sealed), the seal's as the admin call's own
//! request event (`TrentAdmin.Seal`). An online root key rotation's
//! steps too. Failed attempts while sealed can
//! only go to the server's log: the audit signing key is sealed too.
//! The events of a rekey and of an offline rotation are made by the
//! offline command and written by the server at its next open
//! (`crate::audit::pending`).

use serde_json::{json, Value};

use super::config::SealConfig;

/// `generation`: the root key generation opened (`trent operator rotate-root`).
pub fn unsealed(config: &SealConfig, generation: u32, failed_attempts: u32, at: i64) -> Value {
    service_event("TrentUnseal", "trent", json!({ "sealMode": config.mode(), "rootKeyGeneration": generation, "failedAttemptsWhileSealed": failed_attempts }), "not evaluated: the root of trust was opened", at)
}

/// A step of an online root key rotation (`TrentAdmin.RotateRoot`):
/// `TrentRootRotationStarted`, `...Finished` or `...Failed`, with `details`
/// (the generations, values resealed, the error). The operator's call that
/// started it is its own request event.
pub fn rotation(name: &str, details: Value, at: i64) -> Value {
    service_event(name, "trent", details, "not evaluated: the server rotating its root key", at)
}

/// The offline `trent operator rotate-root` finished: the online rotation's
/// `TrentRootRotationFinished`, with `"offline": true`. Made by the command,
/// written by the server later ([`crate::audit::pending`]): `eventTime` is
/// when the rotation ended.
pub fn rotated_offline(generation: u32, resealed: usize, at: i64) -> Value {
    let details = json!({ "rootKeyGeneration": generation, "resealed": resealed, "offline": true });
    service_event("TrentRootRotationFinished", "trent operator rotate-root", details, "not evaluated: the operator opened the root of trust with its current seal", at)
}

/// `trent operator rekey`: the root key (generation `generation`) sealed
/// anew, `from` one configuration `to` another. Made by the offline
/// command, written by the server later ([`crate::audit::pending`]):
/// `eventTime` is when the rekey was made.
pub fn rekeyed(from: &SealConfig, to: &SealConfig, generation: u32, at: i64) -> Value {
    let details = json!({ "sealMode": to.mode(), "previousSealMode": from.mode(), "rootKeyGeneration": generation });
    service_event("TrentRekey", "trent operator rekey", details, "not evaluated: the operator opened the root of trust with its current seal", at)
}

/// `invoked_by`: `trent` (the server), or the offline command that made it.
fn service_event(name: &str, invoked_by: &str, details: Value, reason: &str, at: i64) -> Value {
    json!({
        "eventVersion": "1.11",
        "userIdentity": { "type": "AWSService", "invokedBy": invoked_by },
        "eventTime": crate::audit::event::format_time(at),
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "sourceIPAddress": "trent",
        "userAgent": "trent",
        "requestParameters": null,
        "responseElements": null,
        "additionalEventData": details,
        "eventID": uuid::Uuid::new_v4().to_string(),
        "readOnly": false,
        "eventType": "AwsServiceEvent",
        "managementEvent": true,
        "eventCategory": "Management",
        "trentAuthorizationReason": reason,
    })
}

