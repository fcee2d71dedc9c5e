//! SigV4 authentication in the default (secure) mode, through the official
//! AWS SDK: who may call, and the region a request is signed for.

#[macro_use]
mod common;

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::KeyState;
use common::{Trent, REGION};

/// The HTTP status, and the error code and message of the service error's metadata.
fn failure<E: ProvideErrorMetadata + std::fmt::Debug>(err: SdkError<E, aws_sdk_kms::config::http::HttpResponse>) -> (u16, String, String) {
    match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let e = service.err();
            (status, e.code().unwrap_or("<no code>").to_owned(), e.message().unwrap_or("").to_owned())
        }
        other => panic!("expected a service error, got {other:?}"),
    }
}

const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
     Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

#[tokio::test]
async fn the_admin_keys_in_the_credentials_file_sign_requests() {
    let trent = Trent::start(&[]);
    let path = trent.data_dir().join("credentials");
    // The file holds the admin's secret: only its owner may read it.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).expect("DATA_DIR/credentials").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "credentials file mode {mode:o}");
    let mode = std::fs::metadata(trent.data_dir().join("root.key")).expect("DATA_DIR/root.key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "root key mode {mode:o}");
    let mode = std::fs::metadata(trent.data_dir()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "data directory mode {mode:o}");
    let (id, secret) = trent.admin_keys();
    assert!(id.starts_with("AKIA") && id.len() == 20, "{id}");
    assert_eq!(secret.len(), 40);

    let client = trent.client(REGION);
    let key = client.create_key().send().await.expect("CreateKey signed by the admin").key_metadata.unwrap();
    assert_eq!(client.list_keys().send().await.unwrap().keys().len(), 1);
    assert_eq!(key.key_state(), Some(&KeyState::Enabled));
}

#[tokio::test]
async fn a_wrong_secret_gets_invalid_signature_exception() {
    let trent = Trent::start(&[]);
    let (id, secret) = trent.admin_keys();
    let good = trent.client(REGION);
    let key = good.create_key().send().await.unwrap().key_metadata.unwrap();

    // The right access key id with a secret that differs in one character.
    let mut wrong = secret.clone().into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let bad = trent.client_with(REGION, &id, std::str::from_utf8(&wrong).unwrap());

    let (status, code, message) = failure(bad.list_keys().send().await.expect_err("ListKeys with a wrong secret"));
    assert_eq!(code, "InvalidSignatureException");
    assert_eq!(status, 400);
    assert_eq!(message, SIGNATURE_MISMATCH);
    // The same for an operation on a key, and nothing is done.
    let (_, code, _) = failure(bad.disable_key().key_id(key.key_id()).send().await.expect_err("DisableKey with a wrong secret"));
    assert_eq!(code, "InvalidSignatureException");
    let (_, code, _) = failure(bad.create_key().send().await.expect_err("CreateKey with a wrong secret"));
    assert_eq!(code, "InvalidSignatureException");

    let keys = good.list_keys().send().await.unwrap();
    assert_eq!(keys.keys().len(), 1, "a refused CreateKey made no key");
    assert_eq!(good.describe_key().key_id(key.key_id()).send().await.unwrap().key_metadata().unwrap().key_state(), Some(&KeyState::Enabled));
}

#[tokio::test]
async fn an_unknown_access_key_gets_unrecognized_client_exception() {
    let trent = Trent::start(&[]);
    let (_, secret) = trent.admin_keys();
    for (id, secret) in [("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), ("AKIAAAAAAAAAAAAAAAAA", secret.as_str())] {
        let client = trent.client_with(REGION, id, secret);
        let (status, code, message) = failure(client.list_keys().send().await.expect_err("ListKeys with an unknown access key"));
        assert_eq!(code, "UnrecognizedClientException", "access key {id}");
        assert_eq!(status, 400);
        assert_eq!(message, "The security token included in the request is invalid.");
        let (_, code, _) = failure(client.generate_random().number_of_bytes(8).send().await.expect_err("GenerateRandom"));
        assert_eq!(code, "UnrecognizedClientException");
    }
}

#[tokio::test]
async fn a_server_clock_more_than_five_minutes_off_rejects_signatures() {
    // The SDK signs with the real time; Trent's clock is 10 minutes ahead, then behind.
    for (offset, expected_start) in [("600", "Signature expired: "), ("-600", "Signature not yet current: ")] {
        let trent = Trent::start(&["--clock-offset-secs", offset]);
        let client = trent.client(REGION);
        let (status, code, message) = failure(client.list_keys().send().await.expect_err("ListKeys with a skewed clock"));
        assert_eq!((status, code.as_str()), (400, "InvalidSignatureException"), "offset {offset}: {message}");
        assert!(message.starts_with(expected_start), "offset {offset}: {message}");
    }
    // Within five minutes, it is accepted.
    let trent = Trent::start(&["--clock-offset-secs", "-200"]);
    trent.client(REGION).list_keys().send().await.expect("ListKeys with a 200 s skew");
}

#[tokio::test]
async fn another_region_sees_none_of_the_keys_of_us_east_1() {
    let trent = Trent::start(&[]);
    let east = trent.client(REGION);
    let west = trent.client("eu-west-1");

    let key = east.create_key().description("east").send().await.unwrap().key_metadata.unwrap();
    let arn = key.arn().unwrap().to_owned();
    assert!(arn.starts_with("arn:aws:kms:us-east-1:"), "{arn}");
    east.create_alias().alias_name("alias/regional").target_key_id(key.key_id()).send().await.unwrap();
    let blob = east.encrypt().key_id(key.key_id()).plaintext(Blob::new(b"east only".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();

    let keys = west.list_keys().send().await.expect("ListKeys in eu-west-1");
    assert!(keys.keys().is_empty(), "eu-west-1 lists {:?}", keys.keys());
    let aliases = west.list_aliases().send().await.expect("ListAliases in eu-west-1");
    assert!(aliases.aliases().iter().all(|a| a.alias_name() != Some("alias/regional")), "{:?}", aliases.aliases());
    assert_err!(west.describe_key().key_id(key.key_id()).send().await, is_not_found_exception);
    assert_err!(west.describe_key().key_id(&arn).send().await, is_not_found_exception);
    assert_err!(west.describe_key().key_id("alias/regional").send().await, is_not_found_exception);
    assert_err!(west.encrypt().key_id(key.key_id()).plaintext(Blob::new(b"x".to_vec())).send().await, is_not_found_exception);
    assert_err!(west.disable_key().key_id(key.key_id()).send().await, is_not_found_exception);
    assert_err!(west.decrypt().ciphertext_blob(blob.clone()).send().await, is_invalid_ciphertext_exception);

    // Each region has its own keys and its own alias names.
    let west_key = west.create_key().description("west").send().await.unwrap().key_metadata.unwrap();
    assert!(west_key.arn().unwrap().starts_with("arn:aws:kms:eu-west-1:"), "{:?}", west_key.arn());
    assert_eq!(west_key.aws_account_id(), key.aws_account_id());
    west.create_alias().alias_name("alias/regional").target_key_id(west_key.key_id()).send().await.expect("the same alias name in another region");
    assert_eq!(west.describe_key().key_id("alias/regional").send().await.unwrap().key_metadata().unwrap().key_id(), west_key.key_id());
    assert_eq!(east.describe_key().key_id("alias/regional").send().await.unwrap().key_metadata().unwrap().key_id(), key.key_id());
    let east_keys: Vec<_> = east.list_keys().send().await.unwrap().keys().iter().map(|k| k.key_id().unwrap().to_owned()).collect();
    assert_eq!(east_keys, [key.key_id()]);
    let west_keys: Vec<_> = west.list_keys().send().await.unwrap().keys().iter().map(|k| k.key_id().unwrap().to_owned()).collect();
    assert_eq!(west_keys, [west_key.key_id()]);

    // And us-east-1 still has everything it had.
    assert_eq!(east.describe_key().key_id(&arn).send().await.unwrap().key_metadata().unwrap().key_state(), Some(&KeyState::Enabled));
    let dec = east.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"east only");
}
