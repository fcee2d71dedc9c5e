//! The typed operation table, and the typed inputs read from validated bodies: what
//! validation dropped is not in them either.

use serde_json::{json, Value};
use trent_model::{input, operation_names, validate_input, InputError, Operation, Request};

fn valid(operation: &str, body: Value) -> Value {
    validate_input(operation, body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{operation}: {e}"))
}

fn parsed(operation: &str, body: Value) -> Request {
    let value = valid(operation, body);
    let op = Operation::from_name(operation).unwrap();
    Request::parse(op, value).unwrap()
}

#[test]
fn a_decrypt_reads_only_its_own_members() {
    let body = json!({
        "CiphertextBlob": "AAAA",
        "EncryptionContext": {"k": "v"},
        "DestinationEncryptionContext": {"purpose": "test"},
        "DestinationKeyId": "alias/x",
        "GrantTokens": ["t"],
    });
    let Request::Decrypt(req) = parsed("Decrypt", body) else {
        panic!("not a Decrypt")
    };
    assert_eq!(req.ciphertext_blob.unwrap().as_bytes(), [0, 0, 0]);
    assert_eq!(req.grant_tokens.unwrap(), ["t"]);
    assert!(req.key_id.is_none());
}

#[test]
fn constraints_read_only_their_own_members() {
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
    let Request::CreateGrant(req) = parsed("CreateGrant", body) else {
        panic!("not a CreateGrant")
    };
    let constraints = req.constraints.unwrap();
    assert!(constraints.encryption_context_equals.is_none());
    assert!(constraints.source_arn.is_none());
    assert_eq!(constraints.encryption_context_subset.unwrap().len(), 2);
}

#[test]
fn tags_read_only_their_own_members() {
    let body = json!({
        "Tags": [
            {"TagKey": "a", "TagValue": "1", "Extra": "x", "tagKey": "b"},
            {"TagKey": "c", "TagValue": "2"},
        ],
        "Description": "d",
        "description": "e",
    });
    assert_eq!(valid("CreateKey", body.clone())["Description"], "d");
    let Request::CreateKey(req) = parsed("CreateKey", body) else {
        panic!("not a CreateKey")
    };
    let tags: Vec<(String, String)> = req
        .tags
        .unwrap()
        .into_iter()
        .map(|t| (t.tag_key, t.tag_value))
        .collect();
    assert_eq!(tags, [("a".into(), "1".into()), ("c".into(), "2".into())]);
}

#[test]
fn the_operation_table_is_the_models() {
    let names: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
    assert_eq!(names, operation_names().collect::<Vec<_>>());
    for op in Operation::ALL {
        assert_eq!(Operation::from_name(op.name()), Some(op));
    }
    assert_eq!(Operation::from_name("Encrypt"), Some(Operation::Encrypt));
    assert_eq!(Operation::from_name("encrypt"), None);
    assert_eq!(Operation::from_name("EncryptRequest"), None);
    assert_eq!(Operation::from_name(""), None);
    let mut sorted = Operation::ALL;
    sorted.sort();
    assert_eq!(sorted, Operation::ALL);
}

/// Every operation whose input has no required member reads `{}`, as the right variant.
#[test]
fn requests_know_their_operation() {
    let mut read = 0;
    for op in Operation::ALL {
        let Ok(value) = validate_input(op.name(), b"{}") else {
            continue;
        };
        let request = Request::parse(op, value).unwrap();
        assert_eq!(request.operation(), op);
        read += 1;
    }
    assert!(read >= 8, "{read}");
}

#[test]
fn typed_inputs_hold_decoded_blobs_and_hide_secrets() {
    let Request::Encrypt(req) = parsed(
        "Encrypt",
        json!({"KeyId": "k", "Plaintext": "c2VjcmV0", "EncryptionContext": {"a": "b"}}),
    ) else {
        panic!("not an Encrypt")
    };
    assert_eq!(req.plaintext.expose(), b"secret");
    assert_eq!(req.encryption_context.as_ref().unwrap()["a"], "b");
    let shown = format!("{req:?}");
    assert!(
        !shown.contains("secret") && !shown.contains("c2VjcmV0"),
        "{shown}"
    );
    assert!(shown.contains("SecretBlob([REDACTED; 6 bytes])"), "{shown}");

    let Request::CreateCustomKeyStore(req) = parsed(
        "CreateCustomKeyStore",
        json!({
            "CustomKeyStoreName": "s",
            "KeyStorePassword": "hunter2-password",
            "XksProxyAuthenticationCredential": {
                "AccessKeyId": "ABCDEFGHIJKLMNOPQRST",
                "RawSecretAccessKey": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR",
                "Bogus": "x",
            },
        }),
    ) else {
        panic!("not a CreateCustomKeyStore")
    };
    assert_eq!(
        req.key_store_password.as_ref().unwrap().expose(),
        "hunter2-password"
    );
    let credential = req.xks_proxy_authentication_credential.as_ref().unwrap();
    assert_eq!(credential.access_key_id.expose(), "ABCDEFGHIJKLMNOPQRST");
    let shown = format!("{req:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("ABCDEFGHIJ"),
        "{shown}"
    );
}

#[test]
fn a_body_that_does_not_fit_is_a_serialization_error() {
    let err = Request::parse(Operation::DescribeKey, json!({"KeyId": 5})).unwrap_err();
    assert!(matches!(err, InputError::Serialization(_)), "{err:?}");
    assert!(err.message().contains("DescribeKey"), "{err}");
    let err = Request::parse(Operation::DescribeKey, json!({})).unwrap_err();
    assert!(err.message().contains("missing field `KeyId`"), "{err}");
    let err = Request::parse(
        Operation::Encrypt,
        json!({"KeyId": "k", "Plaintext": "c2VjcmV0!"}),
    )
    .unwrap_err();
    assert!(!err.message().contains("c2VjcmV0"), "{err}");
}

#[test]
fn generated_types_have_the_documented_shape() {
    // Compile-time checks of names, field types and derives.
    let grant = input::CreateGrantRequest {
        key_id: "k".into(),
        grantee_principal: None,
        retiring_principal: None,
        operations: vec!["Decrypt".into()],
        constraints: Some(input::GrantConstraints::default()),
        grant_tokens: None,
        name: None,
        dry_run: Some(true),
        grantee_service_principal: None,
        retiring_service_principal: None,
    };
    let copy = grant.clone();
    assert_eq!(copy.operations, ["Decrypt"]);
    let import = input::ImportKeyMaterialRequest {
        key_id: "k".into(),
        import_token: trent_model::Blob::new(vec![1]),
        encrypted_key_material: trent_model::Blob::new(vec![2]),
        valid_to: Some(1.5),
        expiration_model: None,
        import_type: None,
        key_material_description: None,
        key_material_id: None,
    };
    assert_eq!(import.clone().import_token.into_vec(), [1]);
    let _limit: Option<i64> = input::ListKeysRequest::default().limit;
}
