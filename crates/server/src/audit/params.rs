//! What of a request and its answer goes into an event: `requestParameters`
//! and `responseElements` are built from the already-parsed JSON through
//! allow-lists, so a member not named here (Plaintext, CiphertextBlob,
//! Message, Signature, Mac, key material, import tokens, passwords, proxy
//! credentials...) can never reach the log, whatever operation it comes in.
//! Member names are turned into CloudTrail's camelCase (`KeyId` -> `keyId`);
//! encryption-context maps keep their keys as given.

use serde_json::{Map, Value};

/// Request members that are never secret, in any KMS operation.
const REQUEST_ALLOWED: &[&str] = &[
    "AliasName",
    "BypassPolicyLockoutSafetyCheck",
    "CloudHsmClusterId",
    "Constraints",
    "CustomKeyStoreId",
    "CustomKeyStoreName",
    "CustomKeyStoreType",
    "CustomerMasterKeySpec",
    "Description",
    "DestinationEncryptionAlgorithm",
    "DestinationEncryptionContext",
    "DestinationKeyId",
    "DryRun",
    "DryRunModifiers",
    "EncryptionAlgorithm",
    "EncryptionContext",
    "ExpirationModel",
    "GrantId",
    "GrantName",
    "GrantTokens",
    "GranteePrincipal",
    "ImportType",
    "IncludeKeyMaterial",
    "KeyAgreementAlgorithm",
    "KeyId",
    "KeyMaterialDescription",
    "KeyMaterialId",
    "KeySpec",
    "KeyUsage",
    "Limit",
    "MacAlgorithm",
    "Marker",
    "MessageType",
    "MultiRegion",
    "NumberOfBytes",
    "OnDemand",
    "Operations",
    "Origin",
    "PendingWindowInDays",
    "Policy",
    "PolicyName",
    "PrimaryRegion",
    "ReplicaRegion",
    "RetiringPrincipal",
    "RotationPeriodInDays",
    "SigningAlgorithm",
    "SourceEncryptionAlgorithm",
    "SourceEncryptionContext",
    "SourceKeyId",
    "TagKeys",
    "Tags",
    "TargetKeyId",
    "ValidTo",
    "WrappingAlgorithm",
    "WrappingKeySpec",
    "XksKeyId",
    "XksProxyConnectivity",
    "XksProxyUriEndpoint",
    "XksProxyUriPath",
    "XksProxyVpcEndpointServiceName",
];

/// Maps whose keys are the caller's data, not member names.
const MAPS: &[&str] = &["EncryptionContext", "SourceEncryptionContext", "DestinationEncryptionContext", "EncryptionContextSubset", "EncryptionContextEquals"];

/// `requestParameters`: the allowed members of the request, or null if none.
pub fn request(input: &Value) -> Value {
    let Some(obj) = input.as_object() else { return Value::Null };
    let mut out = Map::new();
    for (name, value) in obj {
        if REQUEST_ALLOWED.contains(&name.as_str()) {
            out.insert(camel(name), convert(name, value));
        }
    }
    if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    }
}

/// IAM and STS (Query protocol) parameters that are never secret. Access
/// key ids are, secrets and session tokens never reach a request anyway,
/// but passwords and SAML/web identity tokens would: they are not named.
const QUERY_ALLOWED: &[&str] = &[
    "AccessKeyId",
    "AssumeRolePolicyDocument",
    "Description",
    "DurationSeconds",
    "ExternalId",
    "GroupName",
    "Marker",
    "MaxItems",
    "MaxSessionDuration",
    "NewPath",
    "NewUserName",
    "Path",
    "PathPrefix",
    "PermissionsBoundary",
    "PolicyArn",
    "PolicyDocument",
    "PolicyName",
    "RoleArn",
    "RoleName",
    "RoleSessionName",
    "Scope",
    "SetAsDefault",
    "Status",
    "UserName",
    "VersionId",
];

/// `requestParameters` of an IAM or STS request, from its form parameters.
pub fn query_request(get: impl Fn(&str) -> Option<String>) -> Value {
    let out: Map<String, Value> = QUERY_ALLOWED.iter().filter_map(|name| get(name).map(|v| (camel(name), Value::String(v)))).collect();
    if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    }
}

/// `responseElements`: what AWS records of an answer, for the operations
/// where it records anything (CreateKey's metadata, the deletion schedule);
/// null for the rest, and so never a plaintext, data key or ciphertext.
pub fn response(operation: &str, output: &Value) -> Value {
    let allowed: &[&str] = match operation {
        "CreateKey" => &["KeyMetadata"],
        "ScheduleKeyDeletion" => &["KeyId", "DeletionDate", "KeyState", "PendingWindowInDays"],
        "CancelKeyDeletion" => &["KeyId"],
        "CreateGrant" => &["GrantId"],
        "ReplicateKey" => &["ReplicaKeyMetadata"],
        _ => &[],
    };
    let Some(obj) = output.as_object() else { return Value::Null };
    let out: Map<String, Value> = obj.iter().filter(|(k, _)| allowed.contains(&k.as_str())).map(|(k, v)| (camel(k), convert(k, v))).collect();
    if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    }
}

/// `KeyId` -> `keyId`, `AWSAccountId` -> `aWSAccountId` (as CloudTrail writes it).
pub fn camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn convert(name: &str, value: &Value) -> Value {
    if MAPS.contains(&name) {
        return value.clone();
    }
    match value {
        Value::Object(obj) => Value::Object(obj.iter().map(|(k, v)| (camel(k), convert(k, v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(|v| convert("", v)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_never_pass_and_names_become_camel_case() {
        let input = json!({
            "KeyId": "alias/a", "Plaintext": "c2VjcmV0", "CiphertextBlob": "AAAA", "Message": "bWVzc2FnZQ==",
            "Signature": "c2ln", "EncryptionContext": {"Dept": "x"}, "GrantTokens": ["t"],
            "Tags": [{"TagKey": "k", "TagValue": "v"}], "XksProxyAuthenticationCredential": {"AccessKeyId": "a", "RawSecretAccessKey": "s"},
            "KeyStorePassword": "p", "ImportToken": "i", "EncryptedKeyMaterial": "m", "Recipient": {"AttestationDocument": "d"}
        });
        let out = request(&input);
        assert_eq!(
            out,
            json!({"keyId": "alias/a", "encryptionContext": {"Dept": "x"}, "grantTokens": ["t"], "tags": [{"tagKey": "k", "tagValue": "v"}]})
        );
        assert_eq!(request(&json!({"Plaintext": "x"})), Value::Null);
        assert_eq!(response("GenerateDataKey", &json!({"Plaintext": "x", "CiphertextBlob": "y", "KeyId": "k"})), Value::Null);
        assert_eq!(response("CreateKey", &json!({"KeyMetadata": {"AWSAccountId": "1", "KeyId": "k"}})), json!({"keyMetadata": {"aWSAccountId": "1", "keyId": "k"}}));
    }
}
