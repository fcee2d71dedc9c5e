//! External key stores on the KMS side when the proxy's answers go wrong:
//! an Encrypt answer corrupted on its way (the spec's ciphertext data
//! integrity value), a proxy that timed out reaching its key manager
//! (DependencyTimeoutException) or throttles. aws-sdk-kms against the real
//! `trent serve`; the fake proxy relays to a real `trent xks-proxy`.

#[allow(unused_macros)] // assert_err! is for the other test files.
mod common;
#[allow(dead_code)] // xks_proxy.rs uses the rest of the harness.
mod xks;
#[allow(dead_code)] // sdk_external_key_stores.rs uses the rest.
mod xks_kms;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::ConnectionStateType;
use common::code;
use xks_kms::*;

/// A change made to the proxy's Encrypt answer on its way to Trent.
type Tamper = fn(&mut serde_json::Value);

/// The spec's ciphertext data integrity value: Trent's KMS side asks for
/// it on every Encrypt and checks it, so an answer corrupted between the
/// proxy's key manager and Trent is refused at once, rather than becoming
/// a blob that never decrypts (as AWS: KMSInvalidStateException).
#[tokio::test(flavor = "multi_thread")]
async fn encrypt_answers_that_fail_their_integrity_value_are_refused() {
    let s = Setup::start();
    let client = s.client();
    s.relay(|_| {});
    let store = create(&client, "relayed", FAKE, &path(), &s.proxy.credential).await.unwrap();
    assert_eq!(connect(&client, &store).await, (ConnectionStateType::Connected, None));
    let key = create_xks_key(&client, &store, "key-1").await.unwrap();
    // Answers as the proxy made them pass their check.
    let blob = encrypt(&client, &key, b"relayed", &[("k", "v")]).await;
    assert_eq!(decrypt(&client, &blob, &[("k", "v")]).await.unwrap().0, b"relayed");

    let tampered: [(&str, Tamper); 6] = [
        ("a ciphertext bit", |a| flip(a, "ciphertext")),
        ("an iv bit", |a| flip(a, "initializationVector")),
        ("a tag bit", |a| flip(a, "authenticationTag")),
        ("metadata added", |a| a["ciphertextMetadata"] = "AQ==".into()),
        ("a CDIV bit", |a| flip(a, "ciphertextDataIntegrityValue")),
        ("no CDIV", |a| drop(a.as_object_mut().unwrap().remove("ciphertextDataIntegrityValue"))),
    ];
    for (what, tamper) in tampered {
        s.relay(tamper);
        let e = client.encrypt().key_id(&key).plaintext(Blob::new(b"x".to_vec())).send().await.unwrap_err();
        assert_eq!(code(&e), "KMSInvalidStateException", "{what}");
        let message = e.as_service_error().and_then(|e| e.meta().message()).unwrap_or("").to_owned();
        assert!(message.contains("XKS_PROXY_INVALID_RESPONSE") && message.contains("ciphertextDataIntegrityValue"), "{what}: {message}");
        let e = client.generate_data_key().key_id(&key).number_of_bytes(32).send().await.unwrap_err();
        assert_eq!(code(&e), "KMSInvalidStateException", "{what}");
        // Decrypt never asks for a CDIV: the earlier blob still opens.
        assert_eq!(decrypt(&client, &blob, &[("k", "v")]).await.unwrap().0, b"relayed", "{what}");
    }
    // The key store is left CONNECTED, and works once the answers are whole.
    assert_eq!(entry(&client, &store).await.connection_state(), Some(&ConnectionStateType::Connected));
    s.relay(|_| {});
    let blob = encrypt(&client, &key, b"whole again", &[]).await;
    assert_eq!(decrypt(&client, &blob, &[]).await.unwrap().0, b"whole again");
}

/// A proxy that timed out reaching its key manager (the spec's
/// DependencyTimeoutException, which `trent xks-proxy` answers when its
/// token's sessions stay busy) or throttles: AWS's exceptions for each
/// operation, from the XKS spec's table, with its messages.
#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_that_times_out_on_its_key_manager_or_throttles_is_refused_as_aws_does() {
    let s = Setup::start();
    let client = s.client();
    s.relay(|_| {});
    let store = create(&client, "busy", FAKE, &path(), &s.proxy.credential).await.unwrap();
    assert_eq!(connect(&client, &store).await, (ConnectionStateType::Connected, None));
    let key = create_xks_key(&client, &store, "key-1").await.unwrap();
    let blob = encrypt(&client, &key, b"busy", &[]).await;
    for (status, name, says) in [(503, "DependencyTimeoutException", "in the time allotted"), (429, "ThrottlingException", "very high request rate")] {
        s.fake.set(Mode::Answer(status, format!(r#"{{"errorName":"{name}","errorMessage":"busy"}}"#)));
        let e = client.encrypt().key_id(&key).plaintext(Blob::new(b"x".to_vec())).send().await.unwrap_err();
        assert_eq!(code(&e), "KMSInvalidStateException", "{name}");
        assert!(message(&e).contains(says), "{name}: {}", message(&e));
        let e = client.decrypt().ciphertext_blob(Blob::new(blob.clone())).send().await.unwrap_err();
        assert_eq!(code(&e), "KMSInvalidStateException", "{name}");
        assert!(message(&e).contains(says), "{name}: {}", message(&e));
        assert_eq!(create_xks_key(&client, &store, "key-2").await.unwrap_err(), "CustomKeyStoreInvalidStateException", "{name}");
        let e = client.update_custom_key_store().custom_key_store_id(&store).xks_proxy_authentication_credential(credential(&s.proxy.credential)).send().await.unwrap_err();
        assert_eq!(code(&e), "XksProxyUriUnreachableException", "{name}");
    }
    assert_eq!(entry(&client, &store).await.connection_state(), Some(&ConnectionStateType::Connected));
    s.relay(|_| {});
    assert_eq!(decrypt(&client, &blob, &[]).await.unwrap().0, b"busy");
}
