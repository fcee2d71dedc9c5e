//! One CloudTrail-shaped event per request (the shape of AWS KMS's
//! CloudTrail entries), plus `trentAuthorizationReason`.

use std::sync::Mutex;

use serde_json::{json, Map, Value};

use crate::state::Principal;

/// What authorization reports about a request while it runs: the keys and
/// aliases it touched (`resources`) and why it was allowed.
#[derive(Debug, Default)]
pub struct Notes(Mutex<NotesInner>);

#[derive(Debug, Default, Clone)]
pub struct NotesInner {
    pub resources: Vec<Resource>,
    pub key_material_id: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub arn: String,
    pub account_id: String,
    pub kind: &'static str,
}

impl Notes {
    fn with<R>(&self, f: impl FnOnce(&mut NotesInner) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-note; the notes are still usable.
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// A key the request was allowed to use, with the material it would use.
    pub fn key(&self, arn: &str, account_id: &str, material_id: &str, reason: &str) {
        self.with(|n| {
            if !n.resources.iter().any(|r| r.arn == arn) {
                n.resources.push(Resource { arn: arn.to_owned(), account_id: account_id.to_owned(), kind: "AWS::KMS::Key" });
            }
            if n.key_material_id.is_none() {
                n.key_material_id = Some(material_id.to_owned());
            }
            n.reason.get_or_insert_with(|| reason.to_owned());
        })
    }

    pub fn alias(&self, arn: &str, account_id: &str, reason: &str) {
        self.with(|n| {
            n.resources.push(Resource { arn: arn.to_owned(), account_id: account_id.to_owned(), kind: "AWS::KMS::Alias" });
            n.reason.get_or_insert_with(|| reason.to_owned());
        })
    }

    pub fn reason(&self, reason: &str) {
        self.with(|n| {
            n.reason.get_or_insert_with(|| reason.to_owned());
        })
    }

    pub fn take(&self) -> NotesInner {
        self.with(std::mem::take)
    }
}

/// Everything the HTTP layer learns about one request on its way.
#[derive(Debug, Default)]
pub struct Trail {
    pub request_id: String,
    pub event_time_millis: i64,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The operation `X-Amz-Target` names, if it is one of the model's.
    pub operation: Option<&'static str>,
    /// The raw `X-Amz-Target` suffix, for requests that name no known operation.
    pub target: Option<String>,
    pub access_key_id: Option<String>,
    pub principal: Option<Principal>,
    pub region: Option<String>,
    pub request_parameters: Value,
    pub response_elements: Value,
    pub notes: NotesInner,
    /// `iam.amazonaws.com` or `sts.amazonaws.com` for the Query protocol; KMS's otherwise.
    pub event_source: Option<&'static str>,
}

/// Operations CloudTrail marks `readOnly`: reads and cryptographic use.
pub fn read_only(operation: &str) -> bool {
    operation.starts_with("Describe")
        || operation.starts_with("Get")
        || operation.starts_with("List")
        || operation.starts_with("Generate")
        || matches!(operation, "Encrypt" | "Decrypt" | "ReEncrypt" | "Sign" | "Verify" | "VerifyMac" | "DeriveSharedSecret")
}

/// Operations whose events carry `additionalEventData.keyMaterialId`, as AWS's do.
fn uses_key_material(operation: &str) -> bool {
    matches!(operation, "Encrypt" | "Decrypt" | "ReEncrypt" | "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" | "GenerateDataKeyPair" | "GenerateDataKeyPairWithoutPlaintext")
}

/// The event for a finished request. `error` is the answer's exception
/// name and message, if it failed.
pub fn build(trail: &Trail, error: Option<(&str, &str)>) -> Value {
    let event_name = trail.operation.map(str::to_owned).or_else(|| trail.target.clone()).unwrap_or_else(|| "(none)".into());
    let account = trail.principal.as_ref().map(|p| p.account_id.clone());
    let mut e = Map::new();
    e.insert("eventVersion".into(), json!("1.11"));
    e.insert("userIdentity".into(), user_identity(trail));
    e.insert("eventTime".into(), json!(format_time(trail.event_time_millis)));
    e.insert("eventSource".into(), json!(trail.event_source.unwrap_or("kms.amazonaws.com")));
    e.insert("eventName".into(), json!(event_name));
    e.insert("awsRegion".into(), json!(trail.region.clone().unwrap_or_else(|| crate::auth::DEFAULT_REGION.to_owned())));
    e.insert("sourceIPAddress".into(), json!(trail.source_ip));
    e.insert("userAgent".into(), json!(trail.user_agent));
    if let Some((code, message)) = error {
        e.insert("errorCode".into(), json!(code));
        e.insert("errorMessage".into(), json!(message));
    }
    e.insert("requestParameters".into(), trail.request_parameters.clone());
    e.insert("responseElements".into(), trail.response_elements.clone());
    if let (Some(op), Some(material), None) = (trail.operation, &trail.notes.key_material_id, error) {
        if uses_key_material(op) {
            e.insert("additionalEventData".into(), json!({ "keyMaterialId": material }));
        }
    }
    e.insert("requestID".into(), json!(trail.request_id));
    e.insert("eventID".into(), json!(trent_crypto::new_uuid().to_string()));
    e.insert("readOnly".into(), json!(read_only(trail.operation.unwrap_or(&event_name))));
    let resources: Vec<Value> = trail.notes.resources.iter().map(|r| json!({ "accountId": r.account_id, "type": r.kind, "ARN": r.arn })).collect();
    if !resources.is_empty() {
        e.insert("resources".into(), Value::Array(resources));
    }
    e.insert("eventType".into(), json!("AwsApiCall"));
    e.insert("managementEvent".into(), json!(true));
    if let Some(account) = account {
        e.insert("recipientAccountId".into(), json!(account));
    }
    e.insert("eventCategory".into(), json!("Management"));
    e.insert("trentAuthorizationReason".into(), json!(authorization_reason(trail, error)));
    Value::Object(e)
}

/// Trent's own field: why the request was allowed or denied, as
/// authorization recorded it (see `authz::latest_reason`).
fn authorization_reason(trail: &Trail, error: Option<(&str, &str)>) -> Value {
    match (error, &trail.notes.reason) {
        (Some(("AccessDeniedException", message)), _) => json!(format!("denied: {message}")),
        (_, Some(reason)) => json!(reason),
        (Some(_), None) if trail.principal.is_none() => json!("not evaluated: the request was not authenticated"),
        (Some(_), None) => json!("not evaluated: the request failed before authorization"),
        (None, None) => Value::Null,
    }
}

/// CloudTrail's `userIdentity` for the caller (or what is known of an
/// unauthenticated one: the access key it claimed).
fn user_identity(trail: &Trail) -> Value {
    let Some(p) = &trail.principal else {
        let mut u = json!({ "type": "Unknown" });
        if let Some(id) = &trail.access_key_id {
            u["accessKeyId"] = json!(id);
        }
        return u;
    };
    // arn:partition:service:region:account:resource
    let resource = p.arn.splitn(6, ':').nth(5).unwrap_or("");
    let mut u = Map::new();
    if resource == "root" {
        u.insert("type".into(), json!("Root"));
        u.insert("principalId".into(), json!(p.account_id));
    } else if let Some(rest) = resource.strip_prefix("assumed-role/") {
        let (role, session) = rest.split_once('/').unwrap_or((rest, ""));
        u.insert("type".into(), json!("AssumedRole"));
        u.insert("principalId".into(), json!(format!("{role}:{session}")));
    } else if let Some(name) = resource.strip_prefix("user/") {
        u.insert("type".into(), json!("IAMUser"));
        u.insert("principalId".into(), json!(p.arn));
        u.insert("userName".into(), json!(name.rsplit('/').next().unwrap_or(name)));
    } else {
        u.insert("type".into(), json!("Unknown"));
        u.insert("principalId".into(), json!(p.arn));
    }
    u.insert("arn".into(), json!(p.arn));
    u.insert("accountId".into(), json!(p.account_id));
    if let Some(id) = &trail.access_key_id {
        u.insert("accessKeyId".into(), json!(id));
    }
    if let Some(rest) = resource.strip_prefix("assumed-role/") {
        let role = rest.split('/').next().unwrap_or(rest);
        u.insert(
            "sessionContext".into(),
            json!({
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": role,
                    "arn": format!("arn:aws:iam::{}:role/{role}", p.account_id),
                    "accountId": p.account_id,
                    "userName": role,
                },
                "attributes": { "mfaAuthenticated": "false" },
            }),
        );
    }
    Value::Object(u)
}

/// `2026-11-30T13:35:51Z`, as CloudTrail writes times (UTC, seconds).
pub fn format_time(millis: i64) -> String {
    crate::clock::iso8601(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_cloudtrail_utc() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_709_251_199_999), "2024-02-29T23:59:59Z");
        assert_eq!(format_time(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn identities_follow_the_arn() {
        let mut trail = Trail { access_key_id: Some("AKIAX".into()), ..Trail::default() };
        trail.principal = Some(Principal { account_id: "111122223333".into(), arn: "arn:aws:iam::111122223333:user/dev/alice".into() });
        let u = user_identity(&trail);
        assert_eq!((u["type"].as_str(), u["userName"].as_str(), u["accessKeyId"].as_str()), (Some("IAMUser"), Some("alice"), Some("AKIAX")));
        trail.principal = Some(Principal { account_id: "111122223333".into(), arn: "arn:aws:sts::111122223333:assumed-role/ops/s1".into() });
        let u = user_identity(&trail);
        assert_eq!(u["type"], "AssumedRole");
        assert_eq!(u["sessionContext"]["sessionIssuer"]["arn"], "arn:aws:iam::111122223333:role/ops");
        trail.principal = None;
        assert_eq!(user_identity(&trail), json!({"type": "Unknown", "accessKeyId": "AKIAX"}));
    }
}
