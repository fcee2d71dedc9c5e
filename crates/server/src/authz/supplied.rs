//! What a request supplies to authorization, read from its typed input
//! (`trent_model::Request`), so only members of the operation's own input
//! shape can count: the `kms:` and `aws:` condition keys, the encryption
//! context grant constraints are checked against, and its grant tokens.
//!
//! ReEncrypt authorizes two keys, each with its own side of the request:
//! the source key sees the source context and algorithm, the destination
//! key the destination's ([`Side`]).
//!
//! The matches here are exhaustive over the operations: a new operation
//! does not compile until it says what it supplies.

use std::collections::BTreeMap;

use trent_model::input::{CreateGrantRequest, Tag};
use trent_model::Request;

use crate::policy::Facts;

pub type EncryptionContext = BTreeMap<String, String>;

/// Which key of a request is being authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The operation's one key (or none: account-level actions).
    Key,
    /// ReEncrypt's source key (`kms:ReEncryptFrom`).
    Source,
    /// ReEncrypt's destination key (`kms:ReEncryptTo`).
    Destination,
}

const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";

/// Adds the condition keys `request` supplies for `side` to `f` (only
/// those `f` keeps: see [`Facts::only`]).
pub fn add_facts(request: &Request, side: Side, f: &mut Facts) {
    use Request as R;
    match request {
        R::Encrypt(i) => {
            context(f, i.encryption_context.as_ref());
            f.set("kms:EncryptionAlgorithm", i.encryption_algorithm.as_deref().unwrap_or(SYMMETRIC_DEFAULT));
            request_alias(f, Some(&i.key_id));
        }
        R::Decrypt(i) => {
            context(f, i.encryption_context.as_ref());
            f.set("kms:EncryptionAlgorithm", i.encryption_algorithm.as_deref().unwrap_or(SYMMETRIC_DEFAULT));
            request_alias(f, i.key_id.as_deref());
        }
        R::ReEncrypt(i) => {
            let (ctx, algorithm, key) = match side {
                Side::Destination => (i.destination_encryption_context.as_ref(), i.destination_encryption_algorithm.as_deref(), Some(i.destination_key_id.as_str())),
                Side::Source | Side::Key => (i.source_encryption_context.as_ref(), i.source_encryption_algorithm.as_deref(), i.source_key_id.as_deref()),
            };
            context(f, ctx);
            f.set("kms:EncryptionAlgorithm", algorithm.unwrap_or(SYMMETRIC_DEFAULT));
            request_alias(f, key);
        }
        R::GenerateDataKey(i) => {
            context(f, i.encryption_context.as_ref());
            f.set("kms:EncryptionAlgorithm", SYMMETRIC_DEFAULT);
            request_alias(f, Some(&i.key_id));
        }
        R::GenerateDataKeyWithoutPlaintext(i) => {
            context(f, i.encryption_context.as_ref());
            f.set("kms:EncryptionAlgorithm", SYMMETRIC_DEFAULT);
            request_alias(f, Some(&i.key_id));
        }
        R::GenerateDataKeyPair(i) => {
            context(f, i.encryption_context.as_ref());
            f.set("kms:DataKeyPairSpec", i.key_pair_spec.clone());
            request_alias(f, Some(&i.key_id));
        }
        R::GenerateDataKeyPairWithoutPlaintext(i) => {
            context(f, i.encryption_context.as_ref());
            f.set("kms:DataKeyPairSpec", i.key_pair_spec.clone());
            request_alias(f, Some(&i.key_id));
        }
        R::Sign(i) => {
            f.set("kms:SigningAlgorithm", i.signing_algorithm.clone());
            if let Some(t) = &i.message_type {
                f.set("kms:MessageType", t.as_str());
            }
            request_alias(f, Some(&i.key_id));
        }
        R::Verify(i) => {
            f.set("kms:SigningAlgorithm", i.signing_algorithm.clone());
            if let Some(t) = &i.message_type {
                f.set("kms:MessageType", t.as_str());
            }
            request_alias(f, Some(&i.key_id));
        }
        R::GenerateMac(i) => {
            f.set("kms:MacAlgorithm", i.mac_algorithm.clone());
            request_alias(f, Some(&i.key_id));
        }
        R::VerifyMac(i) => {
            f.set("kms:MacAlgorithm", i.mac_algorithm.clone());
            request_alias(f, Some(&i.key_id));
        }
        R::DeriveSharedSecret(i) => {
            f.set("kms:KeyAgreementAlgorithm", i.key_agreement_algorithm.clone());
            request_alias(f, Some(&i.key_id));
        }
        R::Encapsulate(i) => request_alias(f, Some(&i.key_id)),
        R::Decapsulate(i) => request_alias(f, Some(&i.key_id)),
        R::DescribeKey(i) => request_alias(f, Some(&i.key_id)),
        R::GetPublicKey(i) => request_alias(f, Some(&i.key_id)),
        R::CreateGrant(i) => grant_facts(f, i),
        R::CreateKey(i) => {
            f.set("kms:KeySpec", i.key_spec.as_deref().or(i.customer_master_key_spec.as_deref()).unwrap_or(SYMMETRIC_DEFAULT));
            f.set("kms:KeyUsage", i.key_usage.as_deref().unwrap_or("ENCRYPT_DECRYPT"));
            f.set("kms:KeyOrigin", i.origin.as_deref().unwrap_or("AWS_KMS"));
            f.set("kms:MultiRegion", i.multi_region.unwrap_or(false).to_string());
            f.set("kms:BypassPolicyLockoutSafetyCheck", i.bypass_policy_lockout_safety_check.unwrap_or(false).to_string());
            request_tags(f, i.tags.as_deref());
        }
        R::PutKeyPolicy(i) => f.set("kms:BypassPolicyLockoutSafetyCheck", i.bypass_policy_lockout_safety_check.unwrap_or(false).to_string()),
        R::ScheduleKeyDeletion(i) => f.set("kms:ScheduleKeyDeletionPendingWindowInDays", i.pending_window_in_days.unwrap_or(30).to_string()),
        R::EnableKeyRotation(i) => {
            if let Some(days) = i.rotation_period_in_days {
                f.set("kms:RotationPeriodInDays", days.to_string());
            }
        }
        R::ImportKeyMaterial(i) => {
            f.set("kms:ExpirationModel", i.expiration_model.as_deref().unwrap_or("KEY_MATERIAL_EXPIRES"));
            if let Some(valid_to) = i.valid_to {
                f.set("kms:ValidTo", (valid_to as i64).to_string());
            }
        }
        R::GetParametersForImport(i) => {
            f.set("kms:WrappingAlgorithm", i.wrapping_algorithm.clone());
            f.set("kms:WrappingKeySpec", i.wrapping_key_spec.clone());
        }
        R::TagResource(i) => request_tags(f, Some(&i.tags)),
        R::UntagResource(i) => f.set_many("aws:TagKeys", i.tag_keys.clone()),
        R::ReplicateKey(i) => {
            f.set("kms:ReplicaRegion", i.replica_region.clone());
            f.set("kms:BypassPolicyLockoutSafetyCheck", i.bypass_policy_lockout_safety_check.unwrap_or(false).to_string());
            request_tags(f, i.tags.as_deref());
        }
        // No condition keys of their own (the caller's and the key's still count).
        R::CancelKeyDeletion(_)
        | R::ConnectCustomKeyStore(_)
        | R::CreateAlias(_)
        | R::CreateCustomKeyStore(_)
        | R::DeleteAlias(_)
        | R::DeleteCustomKeyStore(_)
        | R::DeleteImportedKeyMaterial(_)
        | R::DescribeCustomKeyStores(_)
        | R::DisableKey(_)
        | R::DisableKeyRotation(_)
        | R::DisconnectCustomKeyStore(_)
        | R::EnableKey(_)
        | R::GenerateRandom(_)
        | R::GetKeyLastUsage(_)
        | R::GetKeyPolicy(_)
        | R::GetKeyRotationStatus(_)
        | R::ListAliases(_)
        | R::ListGrants(_)
        | R::ListKeyPolicies(_)
        | R::ListKeyRotations(_)
        | R::ListKeys(_)
        | R::ListResourceTags(_)
        | R::ListRetirableGrants(_)
        | R::RetireGrant(_)
        | R::RevokeGrant(_)
        | R::RotateKeyOnDemand(_)
        | R::UpdateAlias(_)
        | R::UpdateCustomKeyStore(_)
        | R::UpdateKeyDescription(_) => {}
        R::UpdatePrimaryRegion(i) => f.set("kms:PrimaryRegion", i.primary_region.clone()),
    }
}

/// The member that names the key of an operation whose row authorizes
/// one key (`Resource::Key`, and ReplicateKey's primary): `KeyId` in every one of them.
pub fn key_member(request: &Request) -> Option<&str> {
    use Request as R;
    let key_id = match request {
        R::CancelKeyDeletion(i) => &i.key_id,
        R::CreateGrant(i) => &i.key_id,
        R::Decapsulate(i) => &i.key_id,
        R::DeleteImportedKeyMaterial(i) => &i.key_id,
        R::DeriveSharedSecret(i) => &i.key_id,
        R::DescribeKey(i) => &i.key_id,
        R::DisableKey(i) => &i.key_id,
        R::DisableKeyRotation(i) => &i.key_id,
        R::EnableKey(i) => &i.key_id,
        R::EnableKeyRotation(i) => &i.key_id,
        R::Encapsulate(i) => &i.key_id,
        R::Encrypt(i) => &i.key_id,
        R::GenerateDataKey(i) => &i.key_id,
        R::GenerateDataKeyPair(i) => &i.key_id,
        R::GenerateDataKeyPairWithoutPlaintext(i) => &i.key_id,
        R::GenerateDataKeyWithoutPlaintext(i) => &i.key_id,
        R::GenerateMac(i) => &i.key_id,
        R::GetKeyLastUsage(i) => &i.key_id,
        R::GetKeyPolicy(i) => &i.key_id,
        R::GetKeyRotationStatus(i) => &i.key_id,
        R::GetParametersForImport(i) => &i.key_id,
        R::GetPublicKey(i) => &i.key_id,
        R::ImportKeyMaterial(i) => &i.key_id,
        R::ListGrants(i) => &i.key_id,
        R::ListKeyPolicies(i) => &i.key_id,
        R::ListKeyRotations(i) => &i.key_id,
        R::ListResourceTags(i) => &i.key_id,
        R::PutKeyPolicy(i) => &i.key_id,
        R::ReplicateKey(i) => &i.key_id,
        R::RevokeGrant(i) => &i.key_id,
        R::RotateKeyOnDemand(i) => &i.key_id,
        R::ScheduleKeyDeletion(i) => &i.key_id,
        R::Sign(i) => &i.key_id,
        R::TagResource(i) => &i.key_id,
        R::UntagResource(i) => &i.key_id,
        R::UpdateKeyDescription(i) => &i.key_id,
        R::UpdatePrimaryRegion(i) => &i.key_id,
        R::Verify(i) => &i.key_id,
        R::VerifyMac(i) => &i.key_id,
        _ => return None,
    };
    Some(key_id)
}

/// The encryption contexts a request carries for its key(s): its own, or
/// ReEncrypt's source and destination (the second only for ReEncrypt).
pub fn encryption_contexts(request: &Request) -> [Option<&EncryptionContext>; 2] {
    use Request as R;
    match request {
        R::Encrypt(i) => [i.encryption_context.as_ref(), None],
        R::Decrypt(i) => [i.encryption_context.as_ref(), None],
        R::GenerateDataKey(i) => [i.encryption_context.as_ref(), None],
        R::GenerateDataKeyWithoutPlaintext(i) => [i.encryption_context.as_ref(), None],
        R::GenerateDataKeyPair(i) => [i.encryption_context.as_ref(), None],
        R::GenerateDataKeyPairWithoutPlaintext(i) => [i.encryption_context.as_ref(), None],
        R::ReEncrypt(i) => [i.source_encryption_context.as_ref(), i.destination_encryption_context.as_ref()],
        _ => [None, None],
    }
}

/// The encryption context a grant's constraints are checked against when
/// the grant is used for `side` of `request` (empty when it has none;
/// constraints apply only to operations with an encryption context).
pub fn grant_context(request: &Request, side: Side) -> &EncryptionContext {
    static EMPTY: EncryptionContext = BTreeMap::new();
    let [own, destination] = encryption_contexts(request);
    let context = if side == Side::Destination { destination } else { own };
    context.unwrap_or(&EMPTY)
}

/// The grant tokens a request presents.
pub fn grant_tokens(request: &Request) -> &[String] {
    use Request as R;
    let tokens = match request {
        R::CreateGrant(i) => i.grant_tokens.as_deref(),
        R::Decapsulate(i) => i.grant_tokens.as_deref(),
        R::Decrypt(i) => i.grant_tokens.as_deref(),
        R::DeriveSharedSecret(i) => i.grant_tokens.as_deref(),
        R::DescribeKey(i) => i.grant_tokens.as_deref(),
        R::Encapsulate(i) => i.grant_tokens.as_deref(),
        R::Encrypt(i) => i.grant_tokens.as_deref(),
        R::GenerateDataKey(i) => i.grant_tokens.as_deref(),
        R::GenerateDataKeyPair(i) => i.grant_tokens.as_deref(),
        R::GenerateDataKeyPairWithoutPlaintext(i) => i.grant_tokens.as_deref(),
        R::GenerateDataKeyWithoutPlaintext(i) => i.grant_tokens.as_deref(),
        R::GenerateMac(i) => i.grant_tokens.as_deref(),
        R::GetPublicKey(i) => i.grant_tokens.as_deref(),
        R::ReEncrypt(i) => i.grant_tokens.as_deref(),
        R::Sign(i) => i.grant_tokens.as_deref(),
        R::Verify(i) => i.grant_tokens.as_deref(),
        R::VerifyMac(i) => i.grant_tokens.as_deref(),
        _ => None,
    };
    tokens.unwrap_or_default()
}

/// The encryption-context facts of a request Trent imagines (the explain endpoint).
pub fn add_context_facts(f: &mut Facts, c: &EncryptionContext) {
    context(f, Some(c));
}

/// `kms:EncryptionContext:<key>` for each pair and `kms:EncryptionContextKeys`.
/// Keys are case-insensitive in condition keys; a context with two keys
/// that differ only by case has no one value for that condition key, which
/// is marked so that a condition reading it fails closed.
fn context(f: &mut Facts, context: Option<&EncryptionContext>) {
    let Some(context) = context.filter(|c| !c.is_empty()) else { return };
    let mut seen: Vec<String> = Vec::with_capacity(context.len());
    for (k, v) in context {
        let name = format!("kms:EncryptionContext:{k}");
        let folded = k.to_lowercase();
        if seen.contains(&folded) {
            f.set_ambiguous(&name);
        } else {
            seen.push(folded);
        }
        f.set(&name, v.as_str());
    }
    f.set_many("kms:EncryptionContextKeys", context.keys().cloned().collect());
}

/// CreateGrant: the grant's constraints stand for the encryption context
/// (AWS evaluates `kms:EncryptionContext:` keys against them), its
/// operations, grantee and retiring principal.
fn grant_facts(f: &mut Facts, i: &CreateGrantRequest) {
    f.set("kms:GrantIsForAWSResource", "false");
    f.set_many("kms:GrantOperations", i.operations.clone());
    if let Some(p) = &i.grantee_principal {
        f.set("kms:GranteePrincipal", p.as_str());
    }
    if let Some(p) = &i.retiring_principal {
        f.set("kms:RetiringPrincipal", p.as_str());
    }
    let Some(c) = &i.constraints else { return };
    let mut types = Vec::new();
    let mut merged = EncryptionContext::new();
    for (kind, map) in [("EncryptionContextEquals", &c.encryption_context_equals), ("EncryptionContextSubset", &c.encryption_context_subset)] {
        if let Some(map) = map {
            types.push(kind.to_owned());
            merged.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    f.set_many("kms:GrantConstraintType", types);
    context(f, Some(&merged));
}

/// `kms:RequestAlias`: the alias a request named its key by, if it did.
fn request_alias(f: &mut Facts, reference: Option<&str>) {
    if let Some(alias) = reference.and_then(alias_name) {
        f.set("kms:RequestAlias", alias);
    }
}

/// `alias/x` from `alias/x` or an alias ARN.
fn alias_name(reference: &str) -> Option<&str> {
    if reference.starts_with("alias/") {
        return Some(reference);
    }
    let rest = reference.strip_prefix("arn:")?;
    let resource = rest.splitn(5, ':').nth(4)?;
    resource.starts_with("alias/").then_some(resource)
}

/// `aws:RequestTag/<key>` per tag and `aws:TagKeys`.
/// True if a request that makes a key (CreateKey, ReplicateKey) tags it.
pub fn has_request_tags(request: &Request) -> bool {
    let tags = match request {
        Request::CreateKey(i) => i.tags.as_deref(),
        Request::ReplicateKey(i) => i.tags.as_deref(),
        _ => None,
    };
    tags.is_some_and(|t| !t.is_empty())
}

fn request_tags(f: &mut Facts, tags: Option<&[Tag]>) {
    let Some(tags) = tags else { return };
    for t in tags {
        f.set(&format!("aws:RequestTag/{}", t.tag_key), t.tag_value.as_str());
    }
    f.set_many("aws:TagKeys", tags.iter().map(|t| t.tag_key.clone()).collect());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(op: &str, body: serde_json::Value) -> Request {
        let op = trent_model::Operation::from_name(op).unwrap();
        let value = trent_model::validate_input(op.name(), body.to_string().as_bytes()).unwrap();
        Request::parse(op, value).unwrap()
    }

    fn facts(r: &Request, side: Side) -> Facts {
        let mut f = Facts::default();
        add_facts(r, side, &mut f);
        f
    }

    fn one(f: &Facts, key: &str) -> Option<String> {
        f.get(key).map(|v| v.join(","))
    }

    #[test]
    fn facts_come_from_the_operations_own_members() {
        let r = parse("Encrypt", json!({"KeyId": "alias/app", "Plaintext": "aGk=", "EncryptionContext": {"Dept": "IT", "app": "x"}}));
        let f = facts(&r, Side::Key);
        assert_eq!(one(&f, "kms:encryptioncontext:dept").as_deref(), Some("IT"));
        assert_eq!(one(&f, "kms:EncryptionContextKeys").as_deref(), Some("Dept,app"));
        assert_eq!(one(&f, "kms:EncryptionAlgorithm").as_deref(), Some("SYMMETRIC_DEFAULT"));
        assert_eq!(one(&f, "kms:RequestAlias").as_deref(), Some("alias/app"));
        let r = parse("CreateKey", json!({"Tags": [{"TagKey": "team", "TagValue": "red"}]}));
        let f = facts(&r, Side::Key);
        assert_eq!(one(&f, "kms:KeySpec").as_deref(), Some("SYMMETRIC_DEFAULT"));
        assert_eq!(one(&f, "aws:RequestTag/team").as_deref(), Some("red"));
        assert_eq!(one(&f, "aws:TagKeys").as_deref(), Some("team"));
        assert_eq!(one(&f, "kms:BypassPolicyLockoutSafetyCheck").as_deref(), Some("false"));
        let r = parse("ScheduleKeyDeletion", json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "PendingWindowInDays": 7}));
        assert_eq!(one(&facts(&r, Side::Key), "kms:ScheduleKeyDeletionPendingWindowInDays").as_deref(), Some("7"));
        let r = parse("CreateGrant", json!({"KeyId": "k", "Operations": ["Decrypt"], "GranteePrincipal": "arn:aws:iam::111122223333:user/a", "Constraints": {"EncryptionContextSubset": {"a": "b"}}}));
        let f = facts(&r, Side::Key);
        assert_eq!(one(&f, "kms:GrantConstraintType").as_deref(), Some("EncryptionContextSubset"));
        assert_eq!(one(&f, "kms:GrantOperations").as_deref(), Some("Decrypt"));
        assert_eq!(one(&f, "kms:EncryptionContext:a").as_deref(), Some("b"));
    }

    /// The attacks of the review: members another operation has, added to
    /// a request, supply nothing.
    #[test]
    fn foreign_members_supply_nothing() {
        let r = parse("Decrypt", json!({"CiphertextBlob": "aGk=", "DestinationEncryptionContext": {"tenant": "a"}, "SourceEncryptionContext": {"tenant": "a"}, "DestinationKeyId": "alias/x"}));
        let f = facts(&r, Side::Key);
        assert_eq!(one(&f, "kms:EncryptionContext:tenant"), None);
        assert_eq!(one(&f, "kms:RequestAlias"), None);
        assert!(grant_context(&r, Side::Key).is_empty());
        let r = parse("CreateGrant", json!({"KeyId": "k", "Operations": ["Decrypt"], "GranteePrincipal": "arn:aws:iam::111122223333:user/a", "EncryptionContext": {"tenant": "a"}}));
        assert_eq!(one(&facts(&r, Side::Key), "kms:EncryptionContext:tenant"), None);
        let r = parse("Encrypt", json!({"KeyId": "k", "Plaintext": "aGk=", "encryptionContext": {"tenant": "a"}, "ENCRYPTIONCONTEXT": {"tenant": "a"}}));
        assert_eq!(one(&facts(&r, Side::Key), "kms:EncryptionContext:tenant"), None);
    }

    #[test]
    fn re_encrypt_sides_see_their_own_context() {
        let r = parse(
            "ReEncrypt",
            json!({"CiphertextBlob": "aGk=", "SourceKeyId": "alias/src", "SourceEncryptionContext": {"tenant": "src"}, "DestinationKeyId": "alias/dst", "DestinationEncryptionContext": {"tenant": "dst"}}),
        );
        let (src, dst) = (facts(&r, Side::Source), facts(&r, Side::Destination));
        assert_eq!(one(&src, "kms:EncryptionContext:tenant").as_deref(), Some("src"));
        assert_eq!(one(&dst, "kms:EncryptionContext:tenant").as_deref(), Some("dst"));
        assert_eq!(one(&src, "kms:RequestAlias").as_deref(), Some("alias/src"));
        assert_eq!(one(&dst, "kms:RequestAlias").as_deref(), Some("alias/dst"));
        assert_eq!(grant_context(&r, Side::Source).get("tenant").map(String::as_str), Some("src"));
        assert_eq!(grant_context(&r, Side::Destination).get("tenant").map(String::as_str), Some("dst"));
    }

    #[test]
    fn context_keys_differing_by_case_are_ambiguous() {
        let r = parse("Encrypt", json!({"KeyId": "k", "Plaintext": "aGk=", "EncryptionContext": {"Tenant": "a", "tenant": "b"}}));
        let f = facts(&r, Side::Key);
        assert!(f.is_ambiguous("kms:EncryptionContext:tenant"));
        let r = parse("Encrypt", json!({"KeyId": "k", "Plaintext": "aGk=", "EncryptionContext": {"tenant": "a", "other": "b"}}));
        assert!(!facts(&r, Side::Key).has_ambiguous());
    }
}
