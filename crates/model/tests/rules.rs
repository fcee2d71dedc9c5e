//! One test per validation rule, on real KMS operations, checking the error code and
//! the exact message text.

use base64::Engine as _;
use serde_json::json;
use trent_model::{validate_input, InputError};

fn rejects(operation: &str, body: &str) -> InputError {
    match validate_input(operation, body.as_bytes()) {
        Ok(v) => panic!("{operation} accepted {body}: {v}"),
        Err(e) => e,
    }
}

fn validation(operation: &str, body: &str) -> String {
    match rejects(operation, body) {
        InputError::Validation(m) => m,
        other => panic!("{operation} {body}: expected ValidationException, got {other:?}"),
    }
}

fn serialization(operation: &str, body: &str) -> String {
    match rejects(operation, body) {
        InputError::Serialization(m) => m,
        other => panic!("{operation} {body}: expected SerializationException, got {other:?}"),
    }
}

fn one(error: &str) -> String {
    format!("1 validation error detected: {error}")
}

fn b64(len: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(vec![7u8; len])
}

#[test]
fn enum_lists_the_models_values() {
    assert_eq!(
        validation("CreateKey", r#"{"KeyUsage":"BOGUS"}"#),
        one("Value 'BOGUS' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: \
             [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]")
    );
    assert!(validate_input("CreateKey", br#"{"KeyUsage":"ENCRYPT_DECRYPT"}"#).is_ok());
}

#[test]
fn string_length_counts_characters() {
    let ok = "é".repeat(8192);
    assert!(validate_input(
        "CreateKey",
        json!({ "Description": ok }).to_string().as_bytes()
    )
    .is_ok());
    let long = "é".repeat(8193);
    assert_eq!(
        validation("CreateKey", &json!({ "Description": long }).to_string()),
        one(&format!(
            "Value '{long}' at 'description' failed to satisfy constraint: \
             Member must have length less than or equal to 8192"
        ))
    );
    assert_eq!(
        validation("DescribeKey", r#"{"KeyId":""}"#),
        one("Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1")
    );
}

#[test]
fn list_of_structures_uses_one_based_member_paths() {
    assert_eq!(
        validation("CreateKey", r#"{"Tags":[{"TagKey":"a","TagValue":"b"},{"TagKey":"k"}]}"#),
        one("Value null at 'tags.2.member.tagValue' failed to satisfy constraint: Member must not be null")
    );
    let long_key = "k".repeat(129);
    assert_eq!(
        validation(
            "TagResource",
            &json!({"KeyId":"k","Tags":[{"TagKey":long_key,"TagValue":""}]}).to_string()
        ),
        one(&format!(
            "Value '{long_key}' at 'tags.1.member.tagKey' failed to satisfy constraint: \
             Member must have length less than or equal to 128"
        ))
    );
    assert_eq!(
        validation("CreateKey", r#"{"Tags":[null]}"#),
        one("Value null at 'tags.1.member' failed to satisfy constraint: Member must not be null")
    );
}

#[test]
fn integer_range_and_type() {
    assert_eq!(
        validation("ListKeys", r#"{"Limit":0}"#),
        one("Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")
    );
    assert_eq!(
        validation("ListKeys", r#"{"Limit":1001}"#),
        one("Value '1001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 1000")
    );
    assert!(validate_input("ListKeys", br#"{"Limit":1000}"#).is_ok());
    assert_eq!(
        serialization("ListKeys", r#"{"Limit":"5"}"#),
        "STRING_VALUE cannot be converted to Integer"
    );
    assert_eq!(
        serialization("ListKeys", r#"{"Limit":1.5}"#),
        "DECIMAL_VALUE cannot be converted to Integer"
    );
    assert_eq!(
        serialization("ListKeys", r#"{"Limit":true}"#),
        "TRUE_VALUE cannot be converted to Integer"
    );
    assert_eq!(
        serialization("ListKeys", r#"{"Limit":[1]}"#),
        "Unrecognized collection type class java.lang.Integer"
    );
}

#[test]
fn generate_data_key_number_of_bytes() {
    // The exact text AWS recorded for GenerateRandom, same shape (NumberOfBytesType).
    assert_eq!(
        validation("GenerateDataKey", r#"{"KeyId":"k","NumberOfBytes":1025}"#),
        one(
            "Value '1025' at 'numberOfBytes' failed to satisfy constraint: \
             Member must have value less than or equal to 1024"
        )
    );
    assert!(validate_input("GenerateDataKey", br#"{"KeyId":"k","NumberOfBytes":1024}"#).is_ok());
}

#[test]
fn blob_must_be_base64() {
    assert_eq!(
        serialization("Encrypt", r#"{"KeyId":"k","Plaintext":"not base64!"}"#),
        "Base64 encoded length is expected a multiple of 4 bytes but found: 11"
    );
    assert_eq!(
        serialization("Encrypt", r#"{"KeyId":"k","Plaintext":"abc!"}"#),
        "Invalid Base64 character"
    );
    assert_eq!(
        serialization("Encrypt", r#"{"KeyId":"k","Plaintext":5}"#),
        "only base-64-encoded strings are convertible to bytes"
    );
}

#[test]
fn blob_length_is_decoded_bytes_and_sensitive_value_is_hidden() {
    let big = b64(4097);
    let err = rejects("Encrypt", &json!({"KeyId":"k","Plaintext":big}).to_string());
    assert_eq!(err.aws_error_code(), "ValidationException");
    assert_eq!(
        err.message(),
        one("Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096")
    );
    assert!(!err.message().contains(&big[..16]));
    let value = validate_input(
        "Encrypt",
        json!({"KeyId":"k","Plaintext":b64(4096)})
            .to_string()
            .as_bytes(),
    );
    assert!(value.is_ok());
    assert_eq!(
        validation("Encrypt", r#"{"KeyId":"k","Plaintext":""}"#),
        one("Value at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1")
    );
}

#[test]
fn non_sensitive_blob_hides_value_but_not_null() {
    assert_eq!(
        validation("Decrypt", r#"{"CiphertextBlob":""}"#),
        one("Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length greater than or equal to 1")
    );
    // (This model no longer marks Decrypt's CiphertextBlob required; Verify's Signature is.)
    assert_eq!(
        validation(
            "Verify",
            r#"{"KeyId":"k","Message":"aGk=","SigningAlgorithm":"ECDSA_SHA_256"}"#
        ),
        one("Value null at 'signature' failed to satisfy constraint: Member must not be null")
    );
    assert_eq!(
        validation(
            "Verify",
            r#"{"KeyId":"k","Signature":"aGk=","SigningAlgorithm":"ECDSA_SHA_256"}"#
        ),
        one("Value at 'message' failed to satisfy constraint: Member must not be null")
    );
}

#[test]
fn required_members_and_several_errors() {
    assert_eq!(
        validation("Encrypt", &json!({"Plaintext":b64(3)}).to_string()),
        one("Value null at 'keyId' failed to satisfy constraint: Member must not be null")
    );
    assert_eq!(
        validation("Encrypt", "{}"),
        "2 validation errors detected: \
         Value null at 'keyId' failed to satisfy constraint: Member must not be null; \
         Value at 'plaintext' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn alias_name_pattern() {
    let constraint = "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$";
    assert_eq!(
        validation(
            "CreateAlias",
            r#"{"AliasName":"alias/bad name","TargetKeyId":"k"}"#
        ),
        one(&format!(
            "Value 'alias/bad name' at 'aliasName' failed to satisfy constraint: {constraint}"
        ))
    );
    // Length before pattern, as AWS lists them for KeyId "" in GetPublicKey.
    assert_eq!(
        validation("CreateAlias", r#"{"AliasName":"","TargetKeyId":"k"}"#),
        format!(
            "2 validation errors detected: Value '' at 'aliasName' failed to satisfy constraint: \
             Member must have length greater than or equal to 1; \
             Value '' at 'aliasName' failed to satisfy constraint: {constraint}"
        )
    );
    assert!(validate_input(
        "CreateAlias",
        br#"{"AliasName":"alias/ok_1:x-y","TargetKeyId":"k"}"#
    )
    .is_ok());
}

#[test]
fn list_of_simple_values_is_reported_once() {
    let msg = validation(
        "CreateGrant",
        r#"{"KeyId":"k","Operations":["Encrypt","Bogus"]}"#,
    );
    assert!(
        msg.starts_with(
            "1 validation error detected: Value '[Encrypt, Bogus]' at 'operations' failed to satisfy constraint: \
             Member must satisfy constraint: [Member must satisfy enum value set: [Decrypt, Encrypt, "
        ),
        "{msg}"
    );
    assert!(msg.ends_with("]]"), "{msg}");
    assert_eq!(
        validation("ListKeys", r#"{"ResourceOwners":[]}"#),
        one("Value '[]' at 'resourceOwners' failed to satisfy constraint: Member must have length greater than or equal to 1")
    );
    let tokens: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    assert_eq!(
        validation("Encrypt", &json!({"KeyId":"k","Plaintext":"aGk=","GrantTokens":tokens}).to_string()),
        one(&format!(
            "Value '[{}]' at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10",
            tokens.join(", ")
        ))
    );
    assert_eq!(
        validation("UntagResource", r#"{"KeyId":"k","TagKeys":["a",""]}"#),
        one("Value '[a, ]' at 'tagKeys' failed to satisfy constraint: Member must satisfy constraint: \
             [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]")
    );
}

#[test]
fn map_values_must_be_strings_and_not_null() {
    assert!(validate_input(
        "Encrypt",
        br#"{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":{"a":"b"}}"#
    )
    .is_ok());
    assert_eq!(
        serialization(
            "Encrypt",
            r#"{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":{"a":1}}"#
        ),
        "NUMBER_VALUE cannot be converted to String"
    );
    assert_eq!(
        serialization(
            "Encrypt",
            r#"{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":"a"}"#
        ),
        "Unexpected field type"
    );
    assert_eq!(
        validation(
            "Encrypt",
            r#"{"KeyId":"k","Plaintext":"aGk=","EncryptionContext":{"a":null}}"#
        ),
        one(
            "Value '{a=null}' at 'encryptionContext' failed to satisfy constraint: \
             Map value must satisfy constraint: [Member must not be null]"
        )
    );
}

#[test]
fn other_json_types() {
    assert_eq!(
        serialization("CreateKey", r#"{"BypassPolicyLockoutSafetyCheck":"true"}"#),
        "Unexpected token received from parser"
    );
    assert_eq!(
        serialization("CreateKey", r#"{"Tags":"a"}"#),
        "Unexpected field type"
    );
    assert_eq!(
        serialization("CreateKey", r#"{"Tags":{}}"#),
        "Start of structure or map found where not expected"
    );
    assert_eq!(
        serialization("CreateKey", r#"{"Tags":[5]}"#),
        "Unexpected field type"
    );
    assert_eq!(
        serialization("CreateKey", r#"{"Description":{}}"#),
        "Start of structure or map found where not expected"
    );
    let import = r#"{"KeyId":"k","ImportToken":"aGk=","EncryptedKeyMaterial":"aGk=","ValidTo":"#;
    assert_eq!(
        serialization("ImportKeyMaterial", &format!("{import}\"2030\"}}")),
        "STRING_VALUE cannot be converted to Date"
    );
    assert!(validate_input(
        "ImportKeyMaterial",
        format!("{import}1900000000.5}}").as_bytes()
    )
    .is_ok());
}

#[test]
fn policy_pattern_uses_unicode_escapes() {
    assert!(validate_input("CreateKey", br#"{"Policy":"{\"Version\":\"2012-10-17\"}"}"#).is_ok());
    let msg = validation("CreateKey", &json!({"Policy":"snow \u{2603}"}).to_string());
    assert_eq!(
        msg,
        one("Value 'snow \u{2603}' at 'policy' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+")
    );
}
