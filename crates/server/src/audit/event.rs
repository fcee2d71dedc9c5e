//! One CloudTrail-shaped event per request (the shape of AWS KMS's
//! CloudTrail entries), plus `trentAuthorizationReason`.

use std::borrow::Cow;
use std::sync::Mutex;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Value};

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
    /// ReplicateKey: why `kms:CreateKey` in the replica's Region was
    /// allowed, the reason of its CreateKey event ([`replica_created`]).
    pub create_reason: Option<String>,
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

    pub fn create_reason(&self, reason: &str) {
        self.with(|n| n.create_reason = Some(reason.to_owned()))
    }

    pub fn take(&self) -> NotesInner {
        self.with(std::mem::take)
    }
}

/// Everything the HTTP layer learns about one request on its way.
#[derive(Debug, Default)]
pub struct Trail {
    pub request_id: String,
    /// The `eventID` of the request's event, chosen when the request
    /// arrives so that what the request records (a key's last use, for
    /// GetKeyLastUsage's `CloudTrailEventId`) names the event it gets.
    pub event_id: String,
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

/// Operations CloudTrail marks `readOnly`: reads and cryptographic use. A
/// KMS operation's row in the operation table says; IAM and STS actions
/// (the Query protocol) go by their names.
pub fn read_only(operation: &str) -> bool {
    if let Some(op) = trent_model::Operation::from_name(operation) {
        return !crate::dispatch::table::describe(op).changes;
    }
    operation.starts_with("Describe")
        || operation.starts_with("Get")
        || operation.starts_with("List")
        || operation.starts_with("Generate")
        || matches!(operation, "Encrypt" | "Decrypt" | "ReEncrypt" | "Sign" | "Verify" | "VerifyMac" | "DeriveSharedSecret")
}

/// Operations whose events carry `additionalEventData.keyMaterialId`, as AWS's do.
fn uses_key_material(operation: &str) -> bool {
    trent_model::Operation::from_name(operation).is_some_and(|op| crate::dispatch::table::describe(op).key_material_in_event)
}

/// The second event of a request whose row says so (ReplicateKey): AWS
/// documents that "a ReplicateKey request results in a ReplicateKey
/// operation and a CreateKey operation", the CreateKey in the replica's
/// Region. Same caller, time and requestID as the request's own event, an
/// eventID of its own; its resource is the replica, its `requestParameters`
/// the CreateKey members of the request (with the key's spec, usage and
/// origin), its `responseElements` the replica's metadata. None unless the
/// request succeeded (its answer named the replica).
pub fn replica_created(trail: &Trail) -> Option<Trail> {
    let op = trent_model::Operation::from_name(trail.operation?)?;
    if !crate::dispatch::table::describe(op).replica_create_event {
        return None;
    }
    let meta = trail.response_elements.get("replicaKeyMetadata")?;
    let arn = meta.get("arn")?.as_str()?;
    let account_id = meta.get("aWSAccountId")?.as_str()?;
    // arn:aws:kms:REGION:ACCOUNT:key/ID
    let region = arn.split(':').nth(3).filter(|r| !r.is_empty())?;
    let mut parameters = serde_json::Map::new();
    for name in ["description", "policy", "tags", "bypassPolicyLockoutSafetyCheck"] {
        if let Some(v) = trail.request_parameters.get(name) {
            parameters.insert(name.to_owned(), v.clone());
        }
    }
    for name in ["keySpec", "keyUsage", "origin"] {
        if let Some(v) = meta.get(name) {
            parameters.insert(name.to_owned(), v.clone());
        }
    }
    parameters.insert("multiRegion".to_owned(), Value::Bool(true));
    Some(Trail {
        request_id: trail.request_id.clone(),
        event_id: trent_crypto::new_uuid().to_string(),
        event_time_millis: trail.event_time_millis,
        source_ip: trail.source_ip.clone(),
        user_agent: trail.user_agent.clone(),
        operation: Some("CreateKey"),
        target: None,
        access_key_id: trail.access_key_id.clone(),
        principal: trail.principal.clone(),
        region: Some(region.to_owned()),
        request_parameters: Value::Object(parameters),
        response_elements: json!({ "keyMetadata": meta }),
        notes: NotesInner {
            resources: vec![Resource { arn: arn.to_owned(), account_id: account_id.to_owned(), kind: "AWS::KMS::Key" }],
            key_material_id: None,
            reason: trail.notes.create_reason.clone().or_else(|| trail.notes.reason.clone()),
            create_reason: None,
        },
        event_source: trail.event_source,
    })
}

/// The event for a finished request. `error` is the answer's exception
/// name and message, if it failed. It borrows from the trail and is
/// serialized straight to its JSON line (building a `serde_json::Value`
/// first cost ~6% of the server's time, docs/BENCHMARKS.md); the fields
/// are written in this order.
pub fn build<'a>(trail: &'a Trail, error: Option<(&'a str, &'a str)>) -> Event<'a> {
    let event_name = trail.operation.or(trail.target.as_deref()).unwrap_or("(none)");
    let key_material = match (trail.operation, &trail.notes.key_material_id, error) {
        (Some(op), Some(material), None) if uses_key_material(op) => Some(KeyMaterial { key_material_id: material }),
        _ => None,
    };
    Event {
        event_version: "1.11",
        user_identity: user_identity(trail),
        event_time: format_time(trail.event_time_millis),
        event_source: trail.event_source.unwrap_or("kms.amazonaws.com"),
        event_name,
        aws_region: trail.region.as_deref().unwrap_or(crate::auth::DEFAULT_REGION),
        source_ip_address: trail.source_ip.as_deref(),
        user_agent: trail.user_agent.as_deref(),
        error_code: error.map(|(code, _)| code),
        error_message: error.map(|(_, message)| message),
        request_parameters: &trail.request_parameters,
        response_elements: &trail.response_elements,
        additional_event_data: key_material,
        request_id: &trail.request_id,
        event_id: &trail.event_id,
        read_only: read_only(trail.operation.unwrap_or(event_name)),
        resources: &trail.notes.resources,
        event_type: "AwsApiCall",
        management_event: true,
        recipient_account_id: trail.principal.as_ref().map(|p| p.account_id.as_str()),
        event_category: "Management",
        trent_authorization_reason: authorization_reason(trail, error),
    }
}

/// One request's CloudTrail event, as written to the log.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event<'a> {
    event_version: &'static str,
    user_identity: UserIdentity<'a>,
    event_time: String,
    event_source: &'a str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: Option<&'a str>,
    user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: &'a Value,
    response_elements: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_event_data: Option<KeyMaterial<'a>>,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    resources: &'a [Resource],
    event_type: &'static str,
    management_event: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient_account_id: Option<&'a str>,
    event_category: &'static str,
    trent_authorization_reason: Option<Cow<'a, str>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyMaterial<'a> {
    key_material_id: &'a str,
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("accountId", &self.account_id)?;
        m.serialize_entry("type", self.kind)?;
        m.serialize_entry("ARN", &self.arn)?;
        m.end()
    }
}

/// Trent's own field: why the request was allowed or denied, as
/// authorization recorded it (see `authz::latest_reason`).
fn authorization_reason<'a>(trail: &'a Trail, error: Option<(&str, &str)>) -> Option<Cow<'a, str>> {
    match (error, &trail.notes.reason) {
        (Some(("AccessDeniedException", message)), _) => Some(Cow::Owned(format!("denied: {message}"))),
        (_, Some(reason)) => Some(Cow::Borrowed(reason)),
        (Some(_), None) if trail.principal.is_none() => Some(Cow::Borrowed("not evaluated: the request was not authenticated")),
        (Some(_), None) => Some(Cow::Borrowed("not evaluated: the request failed before authorization")),
        (None, None) => None,
    }
}

/// CloudTrail's `userIdentity`: the caller, or what is known of an
/// unauthenticated one (the access key it claimed).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_context: Option<Value>,
}

fn user_identity(trail: &Trail) -> UserIdentity<'_> {
    let access_key_id = trail.access_key_id.as_deref();
    let mut u = UserIdentity { kind: "Unknown", principal_id: None, user_name: None, arn: None, account_id: None, access_key_id, session_context: None };
    let Some(p) = &trail.principal else { return u };
    u.arn = Some(&p.arn);
    u.account_id = Some(&p.account_id);
    // arn:partition:service:region:account:resource
    let resource = p.arn.splitn(6, ':').nth(5).unwrap_or("");
    if resource == "root" {
        u.kind = "Root";
        u.principal_id = Some(Cow::Borrowed(&p.account_id));
    } else if let Some(rest) = resource.strip_prefix("assumed-role/") {
        let (role, session) = rest.split_once('/').unwrap_or((rest, ""));
        u.kind = "AssumedRole";
        u.principal_id = Some(Cow::Owned(format!("{role}:{session}")));
        u.session_context = Some(json!({
            "sessionIssuer": {
                "type": "Role",
                "principalId": role,
                "arn": format!("arn:aws:iam::{}:role/{role}", p.account_id),
                "accountId": p.account_id,
                "userName": role,
            },
            "attributes": { "mfaAuthenticated": "false" },
        }));
    } else if let Some(name) = resource.strip_prefix("user/") {
        u.kind = "IAMUser";
        u.principal_id = Some(Cow::Borrowed(&p.arn));
        u.user_name = Some(name.rsplit('/').next().unwrap_or(name));
    } else {
        u.principal_id = Some(Cow::Borrowed(&p.arn));
    }
    u
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
    fn the_event_id_is_the_one_the_request_was_given() {
        let trail = Trail { request_id: "r1".into(), event_id: "e1".into(), operation: Some("Encrypt"), ..Trail::default() };
        for error in [None, Some(("DisabledException", "disabled"))] {
            let event = serde_json::to_value(build(&trail, error)).unwrap();
            assert_eq!((event["requestID"].as_str(), event["eventID"].as_str()), (Some("r1"), Some("e1")), "{error:?}");
        }
    }

    #[test]
    fn only_a_successful_replicate_key_has_a_second_event() {
        let meta = json!({"arn": "arn:aws:kms:eu-west-1:111122223333:key/mrk-1", "aWSAccountId": "111122223333", "keySpec": "SYMMETRIC_DEFAULT"});
        let mut trail = Trail { request_id: "r1".into(), event_id: "e1".into(), operation: Some("ReplicateKey"), region: Some("us-east-1".into()), ..Trail::default() };
        trail.request_parameters = json!({"keyId": "mrk-1", "replicaRegion": "eu-west-1", "description": "d"});
        assert!(replica_created(&trail).is_none(), "a refused ReplicateKey made no replica");
        trail.response_elements = json!({ "replicaKeyMetadata": meta });
        let second = replica_created(&trail).expect("the replica's CreateKey");
        assert_eq!((second.operation, second.region.as_deref(), second.request_id.as_str()), (Some("CreateKey"), Some("eu-west-1"), "r1"));
        assert_ne!(second.event_id, "e1");
        assert_eq!(second.request_parameters, json!({"description": "d", "keySpec": "SYMMETRIC_DEFAULT", "multiRegion": true}));
        trail.operation = Some("CreateKey");
        assert!(replica_created(&trail).is_none(), "only the rows that say so");
    }

    #[test]
    fn identities_follow_the_arn() {
        let mut trail = Trail { access_key_id: Some("AKIAX".into()), ..Trail::default() };
        trail.principal = Principal::from_arn("arn:aws:iam::111122223333:user/dev/alice");
        let u = serde_json::to_value(user_identity(&trail)).unwrap();
        assert_eq!((u["type"].as_str(), u["userName"].as_str(), u["accessKeyId"].as_str()), (Some("IAMUser"), Some("alice"), Some("AKIAX")));
        trail.principal = Principal::from_arn("arn:aws:sts::111122223333:assumed-role/ops/s1");
        let u = serde_json::to_value(user_identity(&trail)).unwrap();
        assert_eq!(u["type"], "AssumedRole");
        assert_eq!(u["sessionContext"]["sessionIssuer"]["arn"], "arn:aws:iam::111122223333:role/ops");
        trail.principal = None;
        assert_eq!(serde_json::to_value(user_identity(&trail)).unwrap(), json!({"type": "Unknown", "accessKeyId": "AKIAX"}));
    }
}
