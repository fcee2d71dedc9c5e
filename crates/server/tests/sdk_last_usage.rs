//! GetKeyLastUsage end to end: successful cryptographic operations are
//! recorded (ReEncrypt for both keys), failures are not, and the record
//! survives a graceful restart.

#[macro_use]
mod common;

use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use common::{Trent, REGION};

#[tokio::test]
async fn the_last_successful_use_is_reported_and_kept() {
    let mut trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let a = client.create_key().send().await.unwrap().key_metadata.unwrap();
    let b = client.create_key().send().await.unwrap().key_metadata.unwrap();

    let fresh = client.get_key_last_usage().key_id(a.key_id()).send().await.unwrap();
    assert_eq!(fresh.key_id(), a.arn());
    assert!(fresh.key_last_usage().unwrap().operation().is_none(), "a new key has no use");
    assert_eq!(fresh.key_creation_date(), a.creation_date());
    assert_eq!(fresh.tracking_start_date(), a.creation_date(), "tracking started before the key existed");

    let encrypted = client.encrypt().key_id(a.key_id()).plaintext(Blob::new(b"x".to_vec())).send().await.unwrap();
    let used = client.get_key_last_usage().key_id(a.key_id()).send().await.unwrap().key_last_usage.unwrap();
    assert_eq!(used.operation().map(|o| o.as_str()), Some("Encrypt"));
    assert_eq!(used.kms_request_id(), encrypted.request_id());
    assert!(used.timestamp().unwrap().secs() >= common::now_secs() - 60);

    let reencrypted = client.re_encrypt().ciphertext_blob(encrypted.ciphertext_blob.unwrap()).destination_key_id(b.key_id()).send().await.unwrap();
    for key in [a.key_id(), b.key_id()] {
        let used = client.get_key_last_usage().key_id(key).send().await.unwrap().key_last_usage.unwrap();
        assert_eq!(used.operation().map(|o| o.as_str()), Some("ReEncrypt"), "{key}");
        assert_eq!(used.kms_request_id(), reencrypted.request_id());
    }

    // A failed use is not a use; a management call is not one either.
    client.disable_key().key_id(b.key_id()).send().await.unwrap();
    assert_err!(client.encrypt().key_id(b.key_id()).plaintext(Blob::new(b"x".to_vec())).send().await, is_disabled_exception);
    client.describe_key().key_id(a.key_id()).send().await.unwrap();
    drop(client);

    trent.restart(&[]);
    let client = trent.client(REGION);
    for key in [a.key_id(), b.key_id()] {
        let used = client.get_key_last_usage().key_id(key).send().await.unwrap().key_last_usage.unwrap();
        assert_eq!(used.operation().map(|o| o.as_str()), Some("ReEncrypt"), "lost at restart: {key}");
    }
    assert_err!(client.get_key_last_usage().key_id("alias/none").send().await, is_not_found_exception);
}
