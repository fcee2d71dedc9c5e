//! What survives validation: only the members of the operation's input shape, at every
//! depth of structures. Map entries are data and all stay; null members read as absent.

use serde_json::{json, Value};
use trent_model::validate_input;

fn valid(operation: &str, body: Value) -> Value {
    validate_input(operation, body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{operation}: {e}"))
}

#[test]
fn foreign_members_and_case_variants_are_dropped() {
    let body = json!({
        "KeyId": "alias/a",
        "Plaintext": "aGk=",
        "keyId": "alias/b",
        "KEYID": "alias/c",
        "Keyid": "alias/d",
        "plaintext": "eA==",
        "Bogus": {"deep": [1]},
        // Members of other operations.
        "DestinationEncryptionContext": {"a": "b"},
        "SourceKeyId": "alias/e",
        "Recipient": {"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256"},
    });
    assert_eq!(
        valid("Encrypt", body),
        json!({"KeyId": "alias/a", "Plaintext": "aGk="})
    );
}

#[test]
fn members_of_other_operations_are_gone_from_decrypt() {
    let body = json!({
        "CiphertextBlob": "AAAA",
        "EncryptionContext": {"k": "v"},
        "DestinationEncryptionContext": {"purpose": "test"},
        "DestinationKeyId": "alias/x",
        "GrantTokens": ["t"],
    });
    assert_eq!(
        valid("Decrypt", body),
        json!({"CiphertextBlob": "AAAA", "EncryptionContext": {"k": "v"}, "GrantTokens": ["t"]})
    );
}

#[test]
fn nested_foreign_members_are_dropped_but_map_entries_stay() {
    let body = json!({
        "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "GranteePrincipal": "arn:aws:iam::111122223333:root",
        "Operations": ["Decrypt"],
        "Constraints": {
            "EncryptionContextSubset": {"Department": "IT", "EncryptionContextEquals": "x"},
            "encryptionContextEquals": {"a": "b"},
            "Bogus": 1,
        },
    });
    assert_eq!(
        valid("CreateGrant", body)["Constraints"],
        json!({"EncryptionContextSubset": {"Department": "IT", "EncryptionContextEquals": "x"}})
    );
}

#[test]
fn list_items_are_walked() {
    let body = json!({
        "Tags": [
            {"TagKey": "a", "TagValue": "1", "Extra": "x", "tagKey": "b"},
            {"TagKey": "c", "TagValue": "2"},
        ],
        "Description": "d",
        "description": "e",
    });
    assert_eq!(
        valid("CreateKey", body),
        json!({
            "Tags": [{"TagKey": "a", "TagValue": "1"}, {"TagKey": "c", "TagValue": "2"}],
            "Description": "d",
        })
    );
}

#[test]
fn a_case_variant_does_not_stand_in_for_a_required_member() {
    let err =
        validate_input("DescribeKey", br#"{"keyId":"alias/a","KEYID":"alias/b"}"#).unwrap_err();
    assert_eq!(
        err.message(),
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    );
    let err = validate_input(
        "TagResource",
        br#"{"KeyId":"k","Tags":[{"TagKey":"a","tagValue":"1"}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.message(),
        "1 validation error detected: Value null at 'tags.1.member.tagValue' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn null_members_are_dropped_at_every_depth() {
    let body = json!({
        "KeyId": "k",
        "GranteePrincipal": "arn:aws:iam::111122223333:root",
        "Operations": ["Encrypt"],
        "Name": null,
        "Constraints": {"EncryptionContextEquals": null, "EncryptionContextSubset": {"a": "b"}},
    });
    assert_eq!(
        valid("CreateGrant", body),
        json!({
            "KeyId": "k",
            "GranteePrincipal": "arn:aws:iam::111122223333:root",
            "Operations": ["Encrypt"],
            "Constraints": {"EncryptionContextSubset": {"a": "b"}},
        })
    );
}

/// A body with nothing foreign comes back as it was sent.
#[test]
fn a_clean_body_is_unchanged() {
    let body = json!({
        "KeyId": "k",
        "Plaintext": "aGk=",
        "EncryptionContext": {"a": "b", "c": "d"},
        "GrantTokens": ["t1", "t2"],
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "DryRun": false,
    });
    assert_eq!(valid("Encrypt", body.clone()), body);
}
