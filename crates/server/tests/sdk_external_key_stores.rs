//! External key stores on the KMS side, end to end: aws-sdk-kms against the
//! real `trent serve`, which calls a real `trent xks-proxy` over TLS (and,
//! for answers the real proxy never gives, a small fake proxy on TLS).
//! The six custom key store operations, each refusal, and each XKS
//! `ConnectionErrorCode` by breaking the proxy that way; keys in an
//! external key store (sdk_external_key_store_faults.rs: a proxy's
//! corrupted, busy or throttled answers).

#[macro_use]
mod common;
#[allow(dead_code)] // xks_proxy.rs uses the rest of the harness.
mod xks;
#[allow(dead_code)] // sdk_external_key_store_faults.rs uses the rest.
mod xks_kms;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{ConnectionErrorCodeType, ConnectionStateType, CustomKeyStoreType, DataKeySpec, KeySpec, KeyState, OriginType, XksProxyConnectivityType};
use common::code;
use xks::{Credential, Proxy};
use xks_kms::*;

#[tokio::test(flavor = "multi_thread")]
async fn an_external_key_store_is_created_connected_updated_and_deleted() {
    let mut s = Setup::start();
    let client = s.client();
    let c = s.proxy.credential.clone();
    let id = create(&client, "xks-1", REAL, &path(), &c).await.unwrap();
    assert!(id.starts_with("cks-") && id.len() == 21, "{id}");

    let e = entry(&client, &id).await;
    assert_eq!(e.custom_key_store_name(), Some("xks-1"));
    assert_eq!(e.custom_key_store_type(), Some(&CustomKeyStoreType::ExternalKeyStore));
    assert_eq!(e.connection_state(), Some(&ConnectionStateType::Disconnected));
    assert_eq!(e.cloud_hsm_cluster_id(), None);
    assert_eq!(e.trust_anchor_certificate(), None);
    let x = e.xks_proxy_configuration().unwrap();
    assert_eq!(x.connectivity(), Some(&XksProxyConnectivityType::PublicEndpoint));
    assert_eq!(x.access_key_id(), Some(c.access_key_id.as_str()));
    assert_eq!(x.uri_endpoint(), Some(REAL));
    assert_eq!(x.uri_path(), Some(path().as_str()));
    // Listed by name too, and in the list of all.
    let by_name = client.describe_custom_key_stores().custom_key_store_name("xks-1").send().await.unwrap();
    assert_eq!(by_name.custom_key_stores()[0].custom_key_store_id(), Some(id.as_str()));

    assert_eq!(connect(&client, &id).await, (ConnectionStateType::Connected, None));
    // Connecting a connected key store does nothing.
    assert_eq!(connect(&client, &id).await, (ConnectionStateType::Connected, None));

    // GenerateRandom never takes an external key store.
    assert_err!(client.generate_random().number_of_bytes(16).custom_key_store_id(&id).send().await, is_unsupported_operation_exception);
    // An AWS_CLOUDHSM key cannot be made in an external key store.
    let key = client.create_key().origin(aws_sdk_kms::types::OriginType::AwsCloudhsm).custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(code(&key), "UnsupportedOperationException");

    // While CONNECTED: the name and the credential (tested) may change,
    // the endpoint may not.
    client.update_custom_key_store().custom_key_store_id(&id).new_custom_key_store_name("xks-renamed").send().await.unwrap();
    let endpoint = client.update_custom_key_store().custom_key_store_id(&id).xks_proxy_uri_endpoint(FAKE).send().await.unwrap_err();
    assert_eq!(code(&endpoint), "CustomKeyStoreInvalidStateException");
    let connectivity = client.update_custom_key_store().custom_key_store_id(&id).xks_proxy_connectivity(XksProxyConnectivityType::PublicEndpoint).send().await.unwrap_err();
    assert_eq!(code(&connectivity), "CustomKeyStoreInvalidStateException");
    let wrong = Credential { access_key_id: "A".repeat(24), secret: "B".repeat(44) };
    let refused = client.update_custom_key_store().custom_key_store_id(&id).xks_proxy_authentication_credential(credential(&wrong)).send().await.unwrap_err();
    assert_eq!(code(&refused), "XksProxyIncorrectAuthenticationCredentialException");
    let bad_path = client.update_custom_key_store().custom_key_store_id(&id).xks_proxy_uri_path("/other/kms/xks/v1").send().await.unwrap_err();
    assert_eq!(code(&bad_path), "XksProxyInvalidConfigurationException");
    // A CloudHSM property on an external key store.
    let password = client.update_custom_key_store().custom_key_store_id(&id).key_store_password("kmsuser-pin").send().await.unwrap_err();
    assert_eq!(code(&password), "ValidationException");
    // Rotation as the XKS spec describes it: a new credential on the proxy,
    // given to KMS, then the old one deleted on the proxy.
    let out = xks::trent(s.proxy.dir.path(), &["credential", "create"]);
    let field = |name: &str| out.lines().find_map(|l| l.strip_prefix(name)).unwrap().trim().to_string();
    let rotated = Credential { access_key_id: field("AccessKeyId:"), secret: field("SecretAccessKey:") };
    client.update_custom_key_store().custom_key_store_id(&id).xks_proxy_authentication_credential(credential(&rotated)).send().await.unwrap();
    xks::trent(s.proxy.dir.path(), &["credential", "delete", "--access-key-id", &c.access_key_id]);
    let e = entry(&client, &id).await;
    assert_eq!(e.custom_key_store_name(), Some("xks-renamed"));
    assert_eq!(e.xks_proxy_configuration().unwrap().access_key_id(), Some(rotated.access_key_id.as_str()));
    assert_eq!(e.xks_proxy_configuration().unwrap().uri_path(), Some(path().as_str()), "a refused update changes nothing");

    // Deleting needs DISCONNECTED.
    let busy = client.delete_custom_key_store().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(code(&busy), "CustomKeyStoreInvalidStateException");
    disconnect(&client, &id).await;
    // Reconnecting uses the rotated credential.
    assert_eq!(connect(&client, &id).await, (ConnectionStateType::Connected, None));
    disconnect(&client, &id).await;
    let again = client.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(code(&again), "CustomKeyStoreInvalidStateException");
    // While DISCONNECTED the endpoint may change, to a proxy that answers.
    client.update_custom_key_store().custom_key_store_id(&id).xks_proxy_uri_endpoint(FAKE).xks_proxy_uri_path("/kms/xks/v1").send().await.unwrap();
    assert_eq!(entry(&client, &id).await.xks_proxy_configuration().unwrap().uri_endpoint(), Some(FAKE));
    client.delete_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    let gone = client.describe_custom_key_stores().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(code(&gone), "CustomKeyStoreNotFoundException");

    // The secrets never reach the log, the database or the audit log.
    s.trent.stop();
    let mut written = s.trent.log().into_bytes();
    let mut dirs = vec![s.trent.data_dir()];
    let mut files = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                written.extend(std::fs::read(&path).unwrap());
                files += 1;
            }
        }
    }
    assert!(files > 3 && String::from_utf8_lossy(&written).contains(&id), "the files hold the key store's requests");
    for secret in [&c.secret, &rotated.secret] {
        assert!(!written.windows(secret.len()).any(|w| w == secret.as_bytes()), "a proxy secret reached Trent's files");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn creation_refusals_are_awss() {
    let s = Setup::start();
    let client = s.client();
    let c = s.proxy.credential.clone();
    let wrong = Credential { access_key_id: c.access_key_id.clone(), secret: "C".repeat(44) };
    assert_eq!(create(&client, "a", REAL, &path(), &wrong).await, Err("XksProxyIncorrectAuthenticationCredentialException".into()));
    assert_eq!(create(&client, "a", REAL, "/wrong/kms/xks/v1", &c).await, Err("XksProxyInvalidConfigurationException".into()));
    // Nothing listens on nowhere.invalid's port 443; nor answers silent.test.
    assert_eq!(create(&client, "a", "https://nowhere.invalid", &path(), &c).await, Err("XksProxyUriUnreachableException".into()));
    assert_eq!(create(&client, "a", SILENT, &path(), &c).await, Err("XksProxyUriUnreachableException".into()));
    // The model's formats: https only, no port, the path's suffix, the credential's alphabet and lengths.
    for (endpoint, path) in [("http://localhost", path()), ("https://localhost:8443", path()), (REAL, "/kms/xks/v2x".into()), (REAL, "/prefix/kms/xks".into())] {
        assert_eq!(create(&client, "a", endpoint, &path, &c).await, Err("ValidationException".into()), "{endpoint} {path}");
    }
    for bad in [Credential { access_key_id: "short".into(), ..c.clone() }, Credential { secret: "x".repeat(42), ..c.clone() }, Credential { secret: "x!".repeat(30), ..c.clone() }] {
        assert_eq!(create(&client, "a", REAL, &path(), &bad).await, Err("ValidationException".into()));
    }
    // VPC endpoint services: Trent has none.
    let vpc = client
        .create_custom_key_store()
        .custom_key_store_name("vpc")
        .custom_key_store_type(CustomKeyStoreType::ExternalKeyStore)
        .xks_proxy_uri_endpoint(REAL)
        .xks_proxy_uri_path(path())
        .xks_proxy_authentication_credential(credential(&c))
        .xks_proxy_connectivity(XksProxyConnectivityType::VpcEndpointService)
        .xks_proxy_vpc_endpoint_service_name("com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&vpc), "XksProxyVpcEndpointServiceNotFoundException");
    // Missing members; a CloudHSM member on an external key store.
    let missing = client.create_custom_key_store().custom_key_store_name("m").custom_key_store_type(CustomKeyStoreType::ExternalKeyStore).xks_proxy_uri_endpoint(REAL).send().await.unwrap_err();
    assert_eq!(code(&missing), "ValidationException");
    let cloudhsm = client
        .create_custom_key_store()
        .custom_key_store_name("h")
        .custom_key_store_type(CustomKeyStoreType::ExternalKeyStore)
        .xks_proxy_uri_endpoint(REAL)
        .xks_proxy_uri_path(path())
        .xks_proxy_authentication_credential(credential(&c))
        .xks_proxy_connectivity(XksProxyConnectivityType::PublicEndpoint)
        .cloud_hsm_cluster_id("cluster-abcdefghijk")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&cloudhsm), "ValidationException");
    let none = client.describe_custom_key_stores().send().await.unwrap();
    assert!(none.custom_key_stores().is_empty(), "a refused creation leaves nothing");

    // Uniqueness: the name; the endpoint and path together.
    let id = create(&client, "first", REAL, &path(), &c).await.unwrap();
    assert_eq!(create(&client, "first", FAKE, "/kms/xks/v1", &c).await, Err("CustomKeyStoreNameInUseException".into()));
    assert_eq!(create(&client, "second", REAL, &path(), &c).await, Err("XksProxyUriInUseException".into()));
    // The same endpoint under another path, or another endpoint, is free.
    let other = create(&client, "second", FAKE, &path(), &c).await.unwrap();
    let third = create(&client, "third", FAKE, "/kms/xks/v1", &c).await.unwrap();
    // Updating onto another's endpoint and path.
    let onto = client.update_custom_key_store().custom_key_store_id(&third).xks_proxy_uri_path(path()).send().await.unwrap_err();
    assert_eq!(code(&onto), "XksProxyUriInUseException");
    assert_eq!(client.describe_custom_key_stores().send().await.unwrap().custom_key_stores().len(), 3, "{id} {other} {third}");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_broken_proxy_fails_the_connection_with_awss_code() {
    let s = Setup::start();
    let client = s.client();
    let c = s.proxy.credential.clone();
    let real = create(&client, "real", REAL, &path(), &c).await.unwrap();
    let fake = create(&client, "fake", FAKE, "/kms/xks/v1", &c).await.unwrap();

    // (state to set, expected code) on the fake proxy.
    let cases = [
        (Mode::Answer(403, r#"{"errorName":"AccessDeniedException","errorMessage":"no"}"#.into()), ConnectionErrorCodeType::XksProxyAccessDenied),
        (Mode::Answer(404, r#"{"errorName":"InvalidUriPathException","errorMessage":"no"}"#.into()), ConnectionErrorCodeType::XksProxyInvalidConfiguration),
        (Mode::Answer(200, "this is not JSON".into()), ConnectionErrorCodeType::XksProxyInvalidResponse),
        (Mode::Answer(200, r#"{"xksProxyFleetSize":1}"#.into()), ConnectionErrorCodeType::XksProxyInvalidResponse),
        (Mode::Answer(200, HEALTHY.replace("ACTIVE", "UNAVAILABLE")), ConnectionErrorCodeType::XksProxyNotReachable),
        (Mode::Answer(401, r#"{"errorName":"AuthenticationFailedException","errorMessage":"no"}"#.into()), ConnectionErrorCodeType::InvalidCredentials),
        (Mode::Answer(503, r#"{"errorName":"DependencyTimeoutException","errorMessage":"busy"}"#.into()), ConnectionErrorCodeType::XksProxyTimedOut),
        (Mode::Answer(429, r#"{"errorName":"ThrottlingException","errorMessage":"slow down"}"#.into()), ConnectionErrorCodeType::XksProxyNotReachable),
        (Mode::Silent, ConnectionErrorCodeType::XksProxyTimedOut),
        (Mode::Mute, ConnectionErrorCodeType::XksProxyTimedOut),
    ];
    for (mode, want) in cases {
        s.fake.set(mode);
        assert_eq!(connect(&client, &fake).await, (ConnectionStateType::Failed, Some(want.clone())), "{want:?}");
        // FAILED: connect again is refused; disconnect first, as AWS.
        let refused = client.connect_custom_key_store().custom_key_store_id(&fake).send().await.unwrap_err();
        assert_eq!(code(&refused), "CustomKeyStoreInvalidStateException");
        disconnect(&client, &fake).await;
        assert_eq!(entry(&client, &fake).await.connection_error_code(), None);
    }
    // The fake as a healthy proxy, then with a certificate Trent does not trust.
    s.fake.set(Mode::Answer(200, HEALTHY.into()));
    assert_eq!(connect(&client, &fake).await, (ConnectionStateType::Connected, None));
    disconnect(&client, &fake).await;
    s.fake.set(Mode::Untrusted);
    assert_eq!(connect(&client, &fake).await, (ConnectionStateType::Failed, Some(ConnectionErrorCodeType::XksProxyInvalidTlsConfiguration)));
    disconnect(&client, &fake).await;
    // Stopped: nothing listens any more.
    s.fake.stop();
    assert_eq!(connect(&client, &fake).await, (ConnectionStateType::Failed, Some(ConnectionErrorCodeType::XksProxyNotReachable)));

    // The real proxy: its credential deleted on the proxy.
    assert_eq!(connect(&client, &real).await, (ConnectionStateType::Connected, None));
    disconnect(&client, &real).await;
    xks::trent(s.proxy.dir.path(), &["credential", "delete", "--access-key-id", &c.access_key_id]);
    assert_eq!(connect(&client, &real).await, (ConnectionStateType::Failed, Some(ConnectionErrorCodeType::InvalidCredentials)));
    disconnect(&client, &real).await;
    // And stopped.
    drop(s.proxy);
    assert_eq!(connect(&client, &real).await, (ConnectionStateType::Failed, Some(ConnectionErrorCodeType::XksProxyNotReachable)));
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_in_an_external_key_store_are_created_as_aws_checks() {
    let s = Setup::start();
    let client = s.client();
    let store = create(&client, "xks-keys", REAL, &path(), &s.proxy.credential).await.unwrap();
    // Not connected yet.
    assert_eq!(create_xks_key(&client, &store, "key-1").await.unwrap_err(), "CustomKeyStoreInvalidStateException");
    assert_eq!(connect(&client, &store).await, (ConnectionStateType::Connected, None));

    // The proxy's GetKeyMetadata decides: unknown, disabled.
    assert_eq!(create_xks_key(&client, &store, "no-such-key").await.unwrap_err(), "XksKeyNotFoundException");
    proxy_key(&s, "create", "key-off");
    proxy_key(&s, "disable", "key-off");
    assert_eq!(create_xks_key(&client, &store, "key-off").await.unwrap_err(), "XksKeyInvalidConfigurationException");

    let key = create_xks_key(&client, &store, "key-1").await.unwrap();
    let m = client.describe_key().key_id(&key).send().await.unwrap().key_metadata().unwrap().clone();
    assert_eq!(m.origin(), Some(&OriginType::ExternalKeyStore));
    assert_eq!(m.custom_key_store_id(), Some(store.as_str()));
    assert_eq!(m.xks_key_configuration().and_then(|x| x.id()), Some("key-1"));
    assert_eq!(m.cloud_hsm_cluster_id(), None);
    assert_eq!(m.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(m.key_state(), Some(&KeyState::Enabled));

    // One KMS key per external key in a key store.
    assert_eq!(create_xks_key(&client, &store, "key-1").await.unwrap_err(), "XksKeyAlreadyInUseException");
    // The same external key through another key store is allowed (AWS's
    // rule is per key store): one_external_key_serves_a_kms_key_in_each_of_two_key_stores.

    // The XksKeyId goes with this origin only; only symmetric keys.
    let no_id = client.create_key().origin(OriginType::ExternalKeyStore).custom_key_store_id(&store).send().await.unwrap_err();
    assert_eq!(code(&no_id), "ValidationException");
    let stray = client.create_key().xks_key_id("key-1").send().await.unwrap_err();
    assert_eq!(code(&stray), "ValidationException");
    let rsa = client
        .create_key()
        .origin(OriginType::ExternalKeyStore)
        .custom_key_store_id(&store)
        .xks_key_id("key-1")
        .key_spec(KeySpec::Rsa2048)
        .key_usage(aws_sdk_kms::types::KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&rsa), "UnsupportedOperationException");
    // Rotation and imported material, refused as AWS does.
    assert!(client.enable_key_rotation().key_id(&key).send().await.is_err());
    assert!(client.get_parameters_for_import().key_id(&key).wrapping_algorithm(aws_sdk_kms::types::AlgorithmSpec::RsaesOaepSha256).wrapping_key_spec(aws_sdk_kms::types::WrappingKeySpec::Rsa2048).send().await.is_err());

    // Disconnected: the key is Unavailable and unusable.
    disconnect(&client, &store).await;
    let m = client.describe_key().key_id(&key).send().await.unwrap().key_metadata().unwrap().clone();
    assert_eq!(m.key_state(), Some(&KeyState::Unavailable));
    let e = client.encrypt().key_id(&key).plaintext(Blob::new(b"x".to_vec())).send().await.unwrap_err();
    assert_eq!(code(&e), "KMSInvalidStateException");
    assert_eq!(create_xks_key(&client, &store, "key-2").await.unwrap_err(), "CustomKeyStoreInvalidStateException");
}

#[tokio::test(flavor = "multi_thread")]
async fn double_encryption_round_trips_through_the_proxy() {
    let s = Setup::start();
    let client = s.client();
    let store = connected_store(&s, "xks-de").await;
    let key = create_xks_key(&client, &store, "key-1").await.unwrap();
    let ctx = [("purpose", "test"), ("tenant", "a")];

    for plaintext in [&b"x"[..], &[7u8; 4096][..]] {
        let blob = encrypt(&client, &key, plaintext, &ctx).await;
        // Format version 2, naming the key; bigger than a version 1 blob.
        assert_eq!(&blob[..2], &[0x54, 0x02]);
        assert_eq!(uuid::Uuid::from_slice(&blob[2..18]).unwrap().to_string(), key);
        assert!(blob.len() > plaintext.len() + 94 + 2 + 16);
        let (back, key_arn) = decrypt(&client, &blob, &ctx).await.unwrap();
        assert_eq!(back, plaintext);
        assert!(key_arn.ends_with(&key));
        // The context must match.
        assert_eq!(decrypt(&client, &blob, &[("purpose", "test")]).await.unwrap_err(), "InvalidCiphertextException");
        assert_eq!(decrypt(&client, &blob, &[]).await.unwrap_err(), "InvalidCiphertextException");
    }

    // GenerateDataKey(WithoutPlaintext) and ReEncrypt take the same path.
    let dk = client.generate_data_key().key_id(&key).key_spec(DataKeySpec::Aes256).send().await.unwrap();
    assert_eq!(&dk.ciphertext_blob().unwrap().as_ref()[..2], &[0x54, 0x02]);
    assert_eq!(decrypt(&client, dk.ciphertext_blob().unwrap().as_ref(), &[]).await.unwrap().0, dk.plaintext().unwrap().as_ref());
    let wp = client.generate_data_key_without_plaintext().key_id(&key).number_of_bytes(16).send().await.unwrap();
    assert_eq!(decrypt(&client, wp.ciphertext_blob().unwrap().as_ref(), &[]).await.unwrap().0.len(), 16);
    let plain_key = client.create_key().send().await.unwrap().key_metadata().unwrap().key_id().to_owned();
    let blob = encrypt(&client, &key, b"moving", &[]).await;
    let moved = client.re_encrypt().ciphertext_blob(Blob::new(blob.clone())).destination_key_id(&plain_key).send().await.unwrap();
    assert_eq!(moved.source_key_id().map(|a| a.ends_with(&key)), Some(true));
    let software = moved.ciphertext_blob().unwrap().as_ref().to_vec();
    assert_eq!(software[1], 0x01);
    let back = client.re_encrypt().ciphertext_blob(Blob::new(software.clone())).destination_key_id(&key).send().await.unwrap();
    let again = back.ciphertext_blob().unwrap().as_ref().to_vec();
    assert_eq!(again[1], 0x02);
    assert_eq!(decrypt(&client, &again, &[]).await.unwrap().0, b"moving");

    // Every byte after the key id changed: refused (a changed key id names
    // another key: NotFound or InvalidCiphertext, as for any blob).
    for i in 18..blob.len() {
        let mut bad = blob.clone();
        bad[i] ^= 0x01;
        assert_eq!(decrypt(&client, &bad, &[]).await.unwrap_err(), "InvalidCiphertextException", "byte {i} of {}", blob.len());
    }
    for n in [1, 2, 18, 50, 51, 70, blob.len() - 1] {
        assert_eq!(decrypt(&client, &blob[..n], &[]).await.unwrap_err(), "InvalidCiphertextException", "{n} bytes");
    }
    let mut longer = blob.clone();
    longer.push(0);
    assert_eq!(decrypt(&client, &longer, &[]).await.unwrap_err(), "InvalidCiphertextException");

    // Another key's blob: a second key on another external key, its blob
    // relabelled to the first key (key id and material id), refused; the
    // software key's blob relabelled to the external key's id too.
    proxy_key(&s, "create", "key-2");
    let other = create_xks_key(&client, &store, "key-2").await.unwrap();
    let other_blob = encrypt(&client, &other, b"other", &[]).await;
    let mut relabelled = other_blob.clone();
    relabelled[2..50].copy_from_slice(&blob[2..50]);
    assert_eq!(decrypt(&client, &relabelled, &[]).await.unwrap_err(), "InvalidCiphertextException");
    let mut v1 = software.clone();
    v1[2..50].copy_from_slice(&blob[2..50]);
    assert_eq!(decrypt(&client, &v1, &[]).await.unwrap_err(), "InvalidCiphertextException");
    // And a version 2 blob relabelled to the software key.
    let mut to_software = blob.clone();
    to_software[2..50].copy_from_slice(&software[2..50]);
    assert_eq!(decrypt(&client, &to_software, &[]).await.unwrap_err(), "InvalidCiphertextException");
    assert_eq!(decrypt(&client, &other_blob, &[]).await.unwrap().0, b"other");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_holds_the_outer_layer() {
    let mut s = Setup::start();
    let client = s.client();
    let store = connected_store(&s, "xks-use").await;
    let key = create_xks_key(&client, &store, "key-1").await.unwrap();
    let blob = encrypt(&client, &key, b"secret", &[]).await;

    // The external key disabled in the proxy: AWS answers
    // KMSInvalidStateException; enabled again, it works.
    proxy_key(&s, "disable", "key-1");
    assert_eq!(decrypt(&client, &blob, &[]).await.unwrap_err(), "KMSInvalidStateException");
    let e = client.encrypt().key_id(&key).plaintext(Blob::new(b"x".to_vec())).send().await.unwrap_err();
    assert_eq!(code(&e), "KMSInvalidStateException");
    proxy_key(&s, "enable", "key-1");
    assert_eq!(decrypt(&client, &blob, &[]).await.unwrap().0, b"secret");

    // Without the proxy nothing decrypts: the outer layer is the
    // external key's. The key store stays CONNECTED, as in AWS.
    s.proxy.kill();
    assert_eq!(decrypt(&client, &blob, &[]).await.unwrap_err(), "KMSInvalidStateException");
    let e = client.generate_data_key().key_id(&key).number_of_bytes(32).send().await.unwrap_err();
    assert_eq!(code(&e), "KMSInvalidStateException");
    assert_eq!(entry(&client, &store).await.connection_state(), Some(&ConnectionStateType::Connected));
}

/// Trent-as-client against Trent-as-proxy with the external key in a
/// PKCS#11 token (SoftHSM2): the outer layer is made inside the token.
#[tokio::test(flavor = "multi_thread")]
async fn keys_held_in_a_pkcs11_token_behind_the_proxy_round_trip() {
    use common::softhsm::{TestToken, USER_PIN};
    let Some(token) = TestToken::new("keys_held_in_a_pkcs11_token_behind_the_proxy_round_trip", "xks-token") else { return };
    let pin_file = token.path().join("user.pin");
    std::fs::write(&pin_file, USER_PIN).unwrap();
    let args = vec![
        "--pkcs11-module".to_string(),
        token.module.display().to_string(),
        "--pkcs11-token-label".into(),
        "xks-token".into(),
        "--pkcs11-pin-file".into(),
        pin_file.display().to_string(),
    ];
    let env = token.env().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let proxy = Proxy::start_on(true, args, env);
    assert_eq!(token.secret_key_labels(), vec!["key-1".to_string()]);
    let s = Setup::start_on(proxy, Some(token));
    let client = s.client();
    let store = connected_store(&s, "xks-hsm").await;
    let key = create_xks_key(&client, &store, "key-1").await.unwrap();
    assert_eq!(create_xks_key(&client, &store, "not-in-the-token").await.unwrap_err(), "XksKeyNotFoundException");
    let ctx = [("purpose", "hsm")];
    let blob = encrypt(&client, &key, b"held by the token", &ctx).await;
    assert_eq!(&blob[..2], &[0x54, 0x02]);
    assert_eq!(decrypt(&client, &blob, &ctx).await.unwrap().0, b"held by the token");
    assert_eq!(decrypt(&client, &blob, &[]).await.unwrap_err(), "InvalidCiphertextException");
    // Disabled in the proxy (its data directory), KMS says so.
    s.proxy.trent(&["key", "disable", "--key-id", "key-1"]);
    assert_eq!(decrypt(&client, &blob, &ctx).await.unwrap_err(), "KMSInvalidStateException");
    s.proxy.trent(&["key", "enable", "--key-id", "key-1"]);
    assert_eq!(decrypt(&client, &blob, &ctx).await.unwrap().0, b"held by the token");
}

/// AWS's rule is one KMS key per external key *in a key store*
/// (XksKeyAlreadyInUseException). Two key stores on one proxy (two URI
/// paths: AWS wants endpoint and path together unique in an account and
/// Region) may each have a KMS key on the same external key. Their blobs
/// stay apart: each names its KMS key, and the proxy's AAD binds its ARN.
#[tokio::test(flavor = "multi_thread")]
async fn one_external_key_serves_a_kms_key_in_each_of_two_key_stores() {
    let s = Setup::start_on(Proxy::start_full(true, Vec::new(), &["--uri-path-prefix", "/second"], Vec::new()), None);
    let client = s.client();
    let c = s.proxy.credential.clone();
    let first = connected_store(&s, "first").await;
    let second = create(&client, "second", REAL, "/second/kms/xks/v1", &c).await.unwrap();
    assert_eq!(connect(&client, &second).await, (ConnectionStateType::Connected, None));
    assert_eq!(create(&client, "third", REAL, "/second/kms/xks/v1", &c).await, Err("XksProxyUriInUseException".into()));

    let a = create_xks_key(&client, &first, "key-1").await.unwrap();
    let b = create_xks_key(&client, &second, "key-1").await.unwrap();
    assert_ne!(a, b);
    for (key, store) in [(&a, &first), (&b, &second)] {
        let m = client.describe_key().key_id(key).send().await.unwrap().key_metadata().unwrap().clone();
        assert_eq!((m.custom_key_store_id(), m.xks_key_configuration().and_then(|x| x.id())), (Some(store.as_str()), Some("key-1")));
        // Still one KMS key per external key in each key store.
        assert_eq!(create_xks_key(&client, store, "key-1").await.unwrap_err(), "XksKeyAlreadyInUseException");
    }

    let blob_a = encrypt(&client, &a, b"in the first", &[]).await;
    let blob_b = encrypt(&client, &b, b"in the second", &[]).await;
    let (plain, arn) = decrypt(&client, &blob_a, &[]).await.unwrap();
    assert_eq!((plain.as_slice(), arn.ends_with(&a)), (&b"in the first"[..], true));
    let (plain, arn) = decrypt(&client, &blob_b, &[]).await.unwrap();
    assert_eq!((plain.as_slice(), arn.ends_with(&b)), (&b"in the second"[..], true));
    // The first key's blob relabelled to the second (key and material
    // ids): the same external key underneath, refused all the same.
    let mut relabelled = blob_a.clone();
    relabelled[2..50].copy_from_slice(&blob_b[2..50]);
    assert_eq!(decrypt(&client, &relabelled, &[]).await.unwrap_err(), "InvalidCiphertextException");
    // Each key store on its own: the first disconnected, the second's key works.
    disconnect(&client, &first).await;
    assert_eq!(decrypt(&client, &blob_a, &[]).await.unwrap_err(), "KMSInvalidStateException");
    assert_eq!(decrypt(&client, &blob_b, &[]).await.unwrap().0, b"in the second");
}
