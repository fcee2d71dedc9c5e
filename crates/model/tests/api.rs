//! The public API over the whole model, and the body-level (not per-member) rules.

use serde_json::json;
use trent_model::{
    enum_has, has_operation, is_exception, operation_names, output_member_names, validate_input, InputError, NOT_JSON,
};

#[test]
fn operation_names_are_the_models_sorted() {
    let names: Vec<&str> = operation_names().collect();
    for expected in [
        "CreateKey",
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "ListKeys",
        "Sign",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(names.len() >= 50, "{}", names.len());
}

#[test]
fn has_operation_is_exact() {
    assert!(has_operation("Encrypt"));
    assert!(!has_operation("encrypt"));
    assert!(!has_operation("EncryptRequest"));
    assert!(!has_operation(""));
}

#[test]
fn is_exception_only_for_error_shapes() {
    assert!(is_exception("NotFoundException"));
    assert!(is_exception("KMSInternalException"));
    assert!(!is_exception("CreateKeyRequest"));
    assert!(!is_exception("NoSuchShape"));
}

#[test]
fn enum_has_is_exact_and_only_for_enums() {
    assert!(enum_has("CustomerMasterKeySpec", "RSA_2048"));
    assert!(enum_has("KeySpec", "ML_DSA_65"));
    assert!(!enum_has("CustomerMasterKeySpec", "ML_DSA_65"), "the deprecated enum stopped growing");
    assert!(!enum_has("CustomerMasterKeySpec", "rsa_2048"));
    assert!(!enum_has("KeyIdType", "RSA_2048"), "not an enum");
    assert!(!enum_has("NoSuchShape", "RSA_2048"));
}

#[test]
fn output_member_names_of_encrypt() {
    assert_eq!(
        output_member_names("Encrypt"),
        ["CiphertextBlob", "EncryptionAlgorithm", "KeyId"]
    );
    assert!(output_member_names("NoSuchOperation").is_empty());
}

#[test]
fn error_codes_and_messages() {
    let s = InputError::Serialization("x".into());
    let v = InputError::Validation("y".into());
    assert_eq!(
        (s.aws_error_code(), s.message(), s.http_status()),
        ("SerializationException", "x", 400)
    );
    assert_eq!(
        (v.aws_error_code(), v.message(), v.http_status()),
        ("ValidationException", "y", 400)
    );
    assert_eq!(v.to_string(), "ValidationException: y");
}

/// Every operation's input shape resolves: `{}` either passes or fails only with one
/// `Member must not be null` per required member.
#[test]
fn every_operation_validates_an_empty_object() {
    for op in operation_names() {
        match validate_input(op, b"{}") {
            Ok(value) => assert_eq!(value, json!({}), "{op}"),
            Err(InputError::Validation(msg)) => {
                let (count, rest) = msg
                    .split_once(" detected: ")
                    .unwrap_or_else(|| panic!("{op}: {msg}"));
                let errors: Vec<&str> = rest.split("; ").collect();
                let n: usize = count
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                assert_eq!(n, errors.len(), "{op}: {msg}");
                for e in errors {
                    assert!(
                        e.ends_with("failed to satisfy constraint: Member must not be null"),
                        "{op}: {e}"
                    );
                }
            }
            Err(other) => panic!("{op}: {other:?}"),
        }
    }
}

#[test]
fn empty_body_counts_as_empty_object() {
    assert_eq!(validate_input("ListKeys", b""), Ok(json!({})));
}

/// AWS answers a body that is not JSON with a bare SerializationException;
/// Trent adds a message saying so.
#[test]
fn malformed_json_is_serialization() {
    for body in [
        &b"{\"KeyId\":"[..],
        b"hi",
        b"{'a':1}",
        b"{\"a\":1}x",
        b"\xff\xfe",
        b"  ",
    ] {
        let err = validate_input("DescribeKey", body).unwrap_err();
        assert_eq!(err, InputError::Serialization(NOT_JSON.to_owned()), "{body:?}");
        assert_eq!(err.aws_error_code(), "SerializationException");
    }
}

#[test]
fn non_object_top_level_is_serialization() {
    for body in ["\"x\"", "5", "true", "null"] {
        let err = validate_input("ListKeys", body.as_bytes()).unwrap_err();
        assert_eq!(err, InputError::Serialization(NOT_JSON.to_owned()), "{body}");
    }
    let err = validate_input("ListKeys", b"[]").unwrap_err();
    assert_eq!(
        err,
        InputError::Serialization("Start of list found where not expected".into())
    );
}

/// Unknown members are not an error, and nothing after validation sees them.
#[test]
fn unknown_members_are_ignored_and_dropped() {
    let value = validate_input("ListKeys", br#"{"Bogus":{"deep":[1]},"Limit":5}"#).unwrap();
    assert_eq!(value, json!({"Limit":5}));
}

#[test]
fn null_members_are_absent() {
    let value = validate_input("ListKeys", br#"{"Limit":null,"Marker":null}"#).unwrap();
    assert_eq!(value, json!({}));
    let err = validate_input("DescribeKey", br#"{"KeyId":null}"#).unwrap_err();
    assert_eq!(
        err.message(),
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn unknown_operation_only_needs_an_object() {
    assert_eq!(
        validate_input("NoSuchOperation", br#"{"KeyId":5}"#),
        Ok(json!({"KeyId":5}))
    );
    assert!(validate_input("NoSuchOperation", b"[").is_err());
}

/// Coral deserializes before it validates: a wrong type anywhere wins over every
/// constraint violation.
#[test]
fn serialization_wins_over_validation() {
    let err = validate_input("ListKeys", br#"{"Limit":0,"Marker":5}"#).unwrap_err();
    assert_eq!(
        err,
        InputError::Serialization("NUMBER_VALUE cannot be converted to String".into())
    );
    let err =
        validate_input("Encrypt", br#"{"Plaintext":"aGk=","GrantTokens":[true]}"#).unwrap_err();
    assert_eq!(
        err,
        InputError::Serialization("TRUE_VALUE cannot be converted to String".into())
    );
}
