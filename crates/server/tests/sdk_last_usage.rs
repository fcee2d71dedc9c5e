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

/// The `eventID` of the one event of request `request_id`.
fn event_id_of(data_dir: &std::path::Path, request_id: &str) -> String {
    let events: Vec<serde_json::Value> = common::audit_events(data_dir).into_iter().filter(|e| e["requestID"] == request_id).collect();
    assert_eq!(events.len(), 1, "one event for request {request_id}");
    events[0]["eventID"].as_str().expect("eventID").to_owned()
}

/// One use of a key, by a cryptographic operation its spec and usage allow.
async fn use_key(client: &aws_sdk_kms::Client, key_id: &str, spec: &str) -> String {
    use aws_sdk_kms::types::{MacAlgorithmSpec, MessageType, SigningAlgorithmSpec};
    let message = Blob::new(b"last use".to_vec());
    let sign = |algorithm: SigningAlgorithmSpec| client.sign().key_id(key_id).message(message.clone()).message_type(MessageType::Raw).signing_algorithm(algorithm);
    let request_id = match spec {
        "SYMMETRIC_DEFAULT" => client.encrypt().key_id(key_id).plaintext(message.clone()).send().await.unwrap().request_id().map(str::to_owned),
        "HMAC_256" => client.generate_mac().key_id(key_id).message(message.clone()).mac_algorithm(MacAlgorithmSpec::HmacSha256).send().await.unwrap().request_id().map(str::to_owned),
        "RSA_2048" => sign(SigningAlgorithmSpec::RsassaPssSha256).send().await.unwrap().request_id().map(str::to_owned),
        "ECC_NIST_P256" => sign(SigningAlgorithmSpec::EcdsaSha256).send().await.unwrap().request_id().map(str::to_owned),
        "ECC_NIST_EDWARDS25519" => sign(SigningAlgorithmSpec::from("ED25519_SHA_512")).send().await.unwrap().request_id().map(str::to_owned),
        "ML_DSA_44" => sign(SigningAlgorithmSpec::from("ML_DSA_SHAKE_256")).send().await.unwrap().request_id().map(str::to_owned),
        "SM2" => sign(SigningAlgorithmSpec::Sm2Dsa).send().await.unwrap().request_id().map(str::to_owned),
        "ML_KEM_768" => client.encapsulate().key_id(key_id).encapsulation_algorithm("ML_KEM".into()).send().await.unwrap().request_id().map(str::to_owned),
        other => panic!("no use for {other}"),
    };
    request_id.expect("x-amzn-RequestId")
}

#[tokio::test]
async fn the_last_use_names_its_audit_event_for_every_key_type_and_keeps_it() {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    // (spec, usage, the operation `use_key` makes)
    let cases = [
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Encrypt"),
        ("HMAC_256", "GENERATE_VERIFY_MAC", "GenerateMac"),
        ("RSA_2048", "SIGN_VERIFY", "Sign"),
        ("ECC_NIST_P256", "SIGN_VERIFY", "Sign"),
        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "Sign"),
        ("ML_DSA_44", "SIGN_VERIFY", "Sign"),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE", "Encapsulate"),
        ("SM2", "SIGN_VERIFY", "Sign"),
    ];
    let mut trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let mut used = Vec::new();
    for (spec, usage, operation) in cases {
        let key = client.create_key().key_spec(KeySpec::from(spec)).key_usage(KeyUsageType::from(usage)).send().await.unwrap().key_metadata.unwrap();
        let fresh = client.get_key_last_usage().key_id(key.key_id()).send().await.unwrap().key_last_usage.unwrap();
        assert_eq!(fresh.cloud_trail_event_id(), None, "{spec}: a new key has no use");
        let request_id = use_key(&client, key.key_id(), spec).await;
        let event_id = event_id_of(&trent.data_dir(), &request_id);
        let last = client.get_key_last_usage().key_id(key.key_id()).send().await.unwrap().key_last_usage.unwrap();
        assert_eq!(last.operation().map(|o| o.as_str()), Some(operation), "{spec}");
        assert_eq!(last.kms_request_id(), Some(request_id.as_str()), "{spec}");
        assert_eq!(last.cloud_trail_event_id(), Some(event_id.as_str()), "{spec}: the eventID of the use's audit event");
        used.push((spec, key.key_id().to_owned(), request_id, event_id));
    }
    // ReEncrypt's event is the last use of both its keys.
    let (a, b) = (&used[0].1, client.create_key().send().await.unwrap().key_metadata.unwrap().key_id().to_owned());
    let blob = client.encrypt().key_id(a).plaintext(Blob::new(b"x".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();
    let reencrypted = client.re_encrypt().ciphertext_blob(blob).destination_key_id(&b).send().await.unwrap();
    let reencrypt_event = event_id_of(&trent.data_dir(), reencrypted.request_id().unwrap());
    for key in [a, &b] {
        let last = client.get_key_last_usage().key_id(key).send().await.unwrap().key_last_usage.unwrap();
        assert_eq!(last.cloud_trail_event_id(), Some(reencrypt_event.as_str()), "ReEncrypt {key}");
    }
    used[0] = ("SYMMETRIC_DEFAULT", a.clone(), reencrypted.request_id().unwrap().to_owned(), reencrypt_event);
    drop(client);

    // Written to the store at the graceful stop, read back after the restart.
    trent.restart(&[]);
    let client = trent.client(REGION);
    for (spec, key, request_id, event_id) in &used {
        let last = client.get_key_last_usage().key_id(key).send().await.unwrap().key_last_usage.unwrap();
        assert_eq!(last.kms_request_id(), Some(request_id.as_str()), "{spec} after a restart");
        assert_eq!(last.cloud_trail_event_id(), Some(event_id.as_str()), "{spec} after a restart");
    }
}
