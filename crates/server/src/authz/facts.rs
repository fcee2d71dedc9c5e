//! The condition keys of a request, derived in one place: from the
//! operation's already-validated input ([`request_facts`], called by
//! dispatch), from the caller ([`principal_facts`]) and from the key
//! ([`add_key_facts`]). Operations never compute condition keys themselves.

use std::collections::BTreeMap;

use serde_json::Value;
use trent_store::KeyRecord;

use crate::iam::access::{kind_of, Identity, Kind};
use crate::policy::Facts;
use crate::state::Ctx;

/// Operations whose `kms:EncryptionAlgorithm` is SYMMETRIC_DEFAULT when the
/// request names none, as AWS documents for symmetric keys.
const DEFAULT_ALGORITHM_OPS: &[&str] = &["Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext"];

/// What authorization reads from a request's input: its condition keys,
/// and for grants its encryption contexts and grant tokens.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    pub facts: Facts,
    /// `EncryptionContext`, or ReEncrypt's `DestinationEncryptionContext`.
    pub context: BTreeMap<String, String>,
    /// ReEncrypt's `SourceEncryptionContext`.
    pub source_context: BTreeMap<String, String>,
    pub grant_tokens: Vec<String>,
}

impl RequestFacts {
    /// The encryption context a grant constraint is checked against for `operation`.
    pub fn context_for(&self, operation: &str) -> &BTreeMap<String, String> {
        if operation == "ReEncryptFrom" {
            &self.source_context
        } else {
            &self.context
        }
    }
}

/// `input[name]`, by a scan of the few members a request has: this file
/// asks for some 25 names per request, and a lookup by hash (SipHash, in
/// serde_json's map) costs more than comparing a handful of short names.
fn field<'a>(input: &'a Value, name: &str) -> Option<&'a Value> {
    input.as_object()?.iter().find_map(|(k, v)| (k == name).then_some(v))
}

/// Everything authorization reads from one request's input.
pub fn request(operation: &str, input: &Value) -> RequestFacts {
    let map = |member: &str| -> BTreeMap<String, String> {
        field(input, member).and_then(Value::as_object).map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()).unwrap_or_default()
    };
    let context = if field(input, "DestinationEncryptionContext").is_some() { map("DestinationEncryptionContext") } else { map("EncryptionContext") };
    let grant_tokens = field(input, "GrantTokens").and_then(Value::as_array).map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default();
    RequestFacts { facts: request_facts(operation, input), context, source_context: map("SourceEncryptionContext"), grant_tokens }
}

/// The `kms:` and `aws:` keys an operation's input supplies.
pub fn request_facts(operation: &str, input: &Value) -> Facts {
    let mut f = Facts::default();
    let s = |name: &str| field(input, name).and_then(Value::as_str);
    // Encryption context: ReEncrypt's source and destination both count.
    let mut context_keys = Vec::new();
    for member in ["EncryptionContext", "SourceEncryptionContext", "DestinationEncryptionContext"] {
        if let Some(ctx) = field(input, member).and_then(Value::as_object) {
            for (k, v) in ctx {
                if let Some(v) = v.as_str() {
                    f.set(&format!("kms:EncryptionContext:{k}"), v);
                    context_keys.push(k.clone());
                }
            }
        }
    }
    if let Some(constraints) = field(input, "Constraints").and_then(Value::as_object) {
        let mut types = Vec::new();
        for kind in ["EncryptionContextEquals", "EncryptionContextSubset"] {
            if let Some(ctx) = constraints.get(kind).and_then(Value::as_object) {
                types.push(kind.to_owned());
                for (k, v) in ctx {
                    if let Some(v) = v.as_str() {
                        f.set(&format!("kms:EncryptionContext:{k}"), v);
                        context_keys.push(k.clone());
                    }
                }
            }
        }
        f.set_many("kms:GrantConstraintType", types);
    }
    if !context_keys.is_empty() {
        context_keys.sort();
        context_keys.dedup();
        f.set_many("kms:EncryptionContextKeys", context_keys);
    }
    match s("EncryptionAlgorithm").or(s("DestinationEncryptionAlgorithm")).or(s("SourceEncryptionAlgorithm")) {
        Some(alg) => f.set("kms:EncryptionAlgorithm", alg),
        None if DEFAULT_ALGORITHM_OPS.contains(&operation) => f.set("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT"),
        None => {}
    }
    for (member, key) in [
        ("SigningAlgorithm", "kms:SigningAlgorithm"),
        ("MacAlgorithm", "kms:MacAlgorithm"),
        ("MessageType", "kms:MessageType"),
        ("KeyPairSpec", "kms:DataKeyPairSpec"),
        ("ReplicaRegion", "kms:ReplicaRegion"),
        ("WrappingAlgorithm", "kms:WrappingAlgorithm"),
        ("WrappingKeySpec", "kms:WrappingKeySpec"),
        ("GranteePrincipal", "kms:GranteePrincipal"),
        ("RetiringPrincipal", "kms:RetiringPrincipal"),
    ] {
        if let Some(v) = s(member) {
            f.set(key, v);
        }
    }
    if let Some(days) = field(input, "RotationPeriodInDays").and_then(Value::as_i64) {
        f.set("kms:RotationPeriodInDays", days.to_string());
    }
    match operation {
        "CreateKey" => {
            f.set("kms:KeySpec", s("KeySpec").or(s("CustomerMasterKeySpec")).unwrap_or("SYMMETRIC_DEFAULT"));
            f.set("kms:KeyUsage", s("KeyUsage").unwrap_or("ENCRYPT_DECRYPT"));
            f.set("kms:KeyOrigin", s("Origin").unwrap_or("AWS_KMS"));
            f.set("kms:MultiRegion", field(input, "MultiRegion").and_then(Value::as_bool).unwrap_or(false).to_string());
        }
        "ScheduleKeyDeletion" => {
            f.set("kms:ScheduleKeyDeletionPendingWindowInDays", field(input, "PendingWindowInDays").and_then(Value::as_i64).unwrap_or(30).to_string());
        }
        "ImportKeyMaterial" => {
            f.set("kms:ExpirationModel", s("ExpirationModel").unwrap_or("KEY_MATERIAL_EXPIRES"));
            if let Some(valid_to) = field(input, "ValidTo").and_then(Value::as_f64) {
                f.set("kms:ValidTo", (valid_to as i64).to_string());
            }
        }
        "CreateGrant" => {
            f.set("kms:GrantIsForAWSResource", "false");
            if let Some(ops) = field(input, "Operations").and_then(Value::as_array) {
                f.set_many("kms:GrantOperations", ops.iter().filter_map(Value::as_str).map(str::to_owned).collect());
            }
        }
        _ => {}
    }
    if matches!(operation, "CreateKey" | "PutKeyPolicy") {
        f.set("kms:BypassPolicyLockoutSafetyCheck", field(input, "BypassPolicyLockoutSafetyCheck").and_then(Value::as_bool).unwrap_or(false).to_string());
    }
    // The alias a request named its key by (not the alias operations' own alias).
    for member in ["KeyId", "DestinationKeyId", "SourceKeyId"] {
        if let Some(alias) = s(member).and_then(alias_name) {
            f.set("kms:RequestAlias", alias);
        }
    }
    // Tags: CreateKey and TagResource send them; UntagResource names keys.
    if let Some(tags) = field(input, "Tags").and_then(Value::as_array) {
        let mut keys = Vec::new();
        for t in tags {
            if let (Some(k), Some(v)) = (t.get("TagKey").and_then(Value::as_str), t.get("TagValue").and_then(Value::as_str)) {
                f.set(&format!("aws:RequestTag/{k}"), v);
                keys.push(k.to_owned());
            }
        }
        f.set_many("aws:TagKeys", keys);
    }
    if let Some(keys) = field(input, "TagKeys").and_then(Value::as_array) {
        f.set_many("aws:TagKeys", keys.iter().filter_map(Value::as_str).map(str::to_owned).collect());
    }
    f
}

/// `alias/x` from `alias/x` or an alias ARN.
fn alias_name(reference: &str) -> Option<String> {
    if reference.starts_with("alias/") {
        return Some(reference.to_owned());
    }
    let rest = reference.strip_prefix("arn:")?;
    let resource = rest.splitn(5, ':').nth(4)?;
    resource.starts_with("alias/").then(|| resource.to_owned())
}

/// The caller's keys: `aws:PrincipalArn` (a session's role), account, user
/// name and id, tags, `kms:CallerAccount`, the time and the transport.
pub fn principal_facts(ctx: &Ctx, identity: &Identity) -> Facts {
    let mut f = Facts::default();
    add_principal_facts(&mut f, ctx, identity);
    f
}

/// [`principal_facts`], added to `f` (only those it keeps).
pub fn add_principal_facts(f: &mut Facts, ctx: &Ctx, identity: &Identity) {
    let p = &ctx.principal;
    let kind = kind_of(p);
    let principal_arn = match &kind {
        Kind::Session { role, .. } => format!("arn:aws:iam::{}:role/{role}", p.account_id),
        _ => p.arn.clone(),
    };
    f.set("aws:PrincipalArn", principal_arn);
    f.set("aws:PrincipalAccount", p.account_id.clone());
    f.set("kms:CallerAccount", p.account_id.clone());
    f.set("aws:PrincipalType", match &kind {
        Kind::Root => "Account",
        Kind::User(_) => "User",
        Kind::Session { .. } => "AssumedRole",
    });
    match (&kind, &identity.unique_id) {
        (Kind::User(name), Some(id)) => {
            f.set("aws:username", name.clone());
            f.set("aws:userid", id.clone());
        }
        (Kind::User(name), None) => f.set("aws:username", name.clone()),
        (Kind::Session { session, .. }, Some(id)) => f.set("aws:userid", format!("{id}:{session}")),
        (Kind::Root, _) => f.set("aws:userid", p.account_id.clone()),
        _ => {}
    }
    for tag in &identity.tags {
        f.set(&format!("aws:PrincipalTag/{}", tag.key), tag.value.clone());
    }
    let now = ctx.now();
    if f.wants("aws:CurrentTime") {
        f.set("aws:CurrentTime", crate::clock::iso8601(now));
    }
    if f.wants("aws:EpochTime") {
        f.set("aws:EpochTime", (now / 1000).to_string());
    }
    // Trent serves plain HTTP; TLS is terminated in front of it, if at all.
    f.set("aws:SecureTransport", "false");
}

/// The key's own keys: spec, usage, origin, multi-Region, `aws:ResourceTag/...`.
pub fn add_key_facts(f: &mut Facts, key: &KeyRecord) {
    f.set("kms:KeySpec", key.key_spec.clone());
    f.set("kms:KeyUsage", key.key_usage.clone());
    f.set("kms:KeyOrigin", key.origin.clone());
    f.set("kms:MultiRegion", key.multi_region.to_string());
    for tag in &key.tags {
        f.set(&format!("aws:ResourceTag/{}", tag.key), tag.value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_come_from_the_input() {
        let f = request_facts("Encrypt", &json!({"KeyId": "alias/app", "EncryptionContext": {"Dept": "IT", "app": "x"}}));
        assert_eq!(f.get("kms:encryptioncontext:dept"), Some(&["IT".to_owned()][..]));
        assert_eq!(f.get("kms:EncryptionContextKeys").map(<[String]>::len), Some(2));
        assert_eq!(f.get("kms:EncryptionAlgorithm"), Some(&["SYMMETRIC_DEFAULT".to_owned()][..]));
        assert_eq!(f.get("kms:RequestAlias"), Some(&["alias/app".to_owned()][..]));
        let f = request_facts("CreateKey", &json!({"Tags": [{"TagKey": "team", "TagValue": "red"}]}));
        assert_eq!(f.get("kms:KeySpec"), Some(&["SYMMETRIC_DEFAULT".to_owned()][..]));
        assert_eq!(f.get("aws:RequestTag/team"), Some(&["red".to_owned()][..]));
        assert_eq!(f.get("aws:TagKeys"), Some(&["team".to_owned()][..]));
        assert_eq!(f.get("kms:BypassPolicyLockoutSafetyCheck"), Some(&["false".to_owned()][..]));
        let f = request_facts("ScheduleKeyDeletion", &json!({"KeyId": "arn:aws:kms:us-east-1:111122223333:alias/x", "PendingWindowInDays": 7}));
        assert_eq!(f.get("kms:ScheduleKeyDeletionPendingWindowInDays"), Some(&["7".to_owned()][..]));
        assert_eq!(f.get("kms:RequestAlias"), Some(&["alias/x".to_owned()][..]));
        let f = request_facts("CreateGrant", &json!({"Operations": ["Decrypt"], "GranteePrincipal": "arn:aws:iam::1:user/a", "Constraints": {"EncryptionContextSubset": {"a": "b"}}}));
        assert_eq!(f.get("kms:GrantConstraintType"), Some(&["EncryptionContextSubset".to_owned()][..]));
        assert_eq!(f.get("kms:GrantOperations"), Some(&["Decrypt".to_owned()][..]));
        assert_eq!(f.get("kms:EncryptionContext:a"), Some(&["b".to_owned()][..]));
    }

    #[test]
    fn times_print_as_iso8601() {
        assert_eq!(crate::clock::iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(crate::clock::iso8601(951_868_800_000 + 3_723_000), "2000-03-01T01:02:03Z");
        assert_eq!(crate::policy::condition::parse_date(&crate::clock::iso8601(1_764_504_000_000)), Some(1_764_504_000_000));
    }
}
