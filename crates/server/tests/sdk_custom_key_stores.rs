//! CloudHSM key stores on a real PKCS#11 token (SoftHSM2), end to end
//! through aws-sdk-kms against the real binary: the six custom key store
//! operations with AWS's states and errors, keys whose material lives in
//! the token, faults of the token, and key material that never reaches
//! Trent's files.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{ConnectionErrorCodeType, ConnectionStateType, CustomKeyStoresListEntry, DataKeySpec, KeyState, OriginType};
use aws_sdk_kms::Client;
use common::softhsm::{TestToken, USER_PIN};
use common::{code, Trent, DAY_SECS, REGION};

const CLUSTER: &str = "cluster-abcdefghijk";

/// `trent hsm register` of `token` as `cluster` in `trent`'s data directory.
fn register(trent: &Trent, token: &TestToken, cluster: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["hsm", "register", "--data-dir"])
        .arg(trent.data_dir())
        .args(["--cluster-id", cluster, "--module"])
        .arg(&token.module)
        .args(["--token-label", &token.label])
        .envs(token.env())
        .output()
        .unwrap();
    assert!(out.status.success(), "trent hsm register: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(trent.data_dir().join("hsm").join(cluster).join("customerCA.crt")).unwrap()
}

fn start(token: &TestToken, args: &[&str]) -> Trent {
    let env = token.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Trent::start_with_env(args, &env)
}

async fn store_entry(client: &Client, id: &str) -> CustomKeyStoresListEntry {
    let out = client.describe_custom_key_stores().custom_key_store_id(id).send().await.expect("DescribeCustomKeyStores");
    out.custom_key_stores()[0].clone()
}

async fn wait_for_state(client: &Client, id: &str, want: ConnectionStateType) -> CustomKeyStoresListEntry {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let entry = store_entry(client, id).await;
        if entry.connection_state() == Some(&want) || Instant::now() > deadline {
            assert_eq!(entry.connection_state(), Some(&want), "key store {id}: {entry:?}");
            return entry;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create_store(client: &Client, name: &str, cluster: &str, anchor: &str, password: &str) -> Result<String, String> {
    client
        .create_custom_key_store()
        .custom_key_store_name(name)
        .cloud_hsm_cluster_id(cluster)
        .trust_anchor_certificate(anchor)
        .key_store_password(password)
        .send()
        .await
        .map(|o| o.custom_key_store_id.unwrap())
        .map_err(|e| code(&e))
}

async fn create_hsm_key(client: &Client, store: &str) -> Result<aws_sdk_kms::types::KeyMetadata, String> {
    client.create_key().origin(OriginType::AwsCloudhsm).custom_key_store_id(store).send().await.map(|o| o.key_metadata.unwrap()).map_err(|e| code(&e))
}

async fn encrypt(client: &Client, key: &str, plaintext: &[u8]) -> Result<Vec<u8>, String> {
    let out = client.encrypt().key_id(key).plaintext(Blob::new(plaintext)).encryption_context("purpose", "test").send().await.map_err(|e| code(&e))?;
    Ok(out.ciphertext_blob.unwrap().into_inner())
}

async fn decrypt(client: &Client, blob: &[u8]) -> Result<Vec<u8>, String> {
    let out = client.decrypt().ciphertext_blob(Blob::new(blob)).encryption_context("purpose", "test").send().await.map_err(|e| code(&e))?;
    Ok(out.plaintext.unwrap().into_inner())
}

/// AWS's CloudHSM key store walkthrough: create, connect, keys in the
/// token, disconnect, update, delete, with every refusal on the way.
#[tokio::test]
async fn a_cloudhsm_key_store_from_creation_to_deletion() {
    let Some(token) = TestToken::new("walkthrough", "trent-walkthrough") else { return };
    let mut trent = start(&token, &[]);
    let anchor = register(&trent, &token, CLUSTER);
    let client = trent.client(REGION);

    // Refusals that create nothing.
    assert_eq!(create_store(&client, "s1", "cluster-zzzzzzzzzzz", &anchor, USER_PIN).await.unwrap_err(), "CloudHsmClusterNotFoundException");
    let other_anchor = anchor.replace("MII", "MIJ");
    assert_eq!(create_store(&client, "s1", CLUSTER, &other_anchor, USER_PIN).await.unwrap_err(), "IncorrectTrustAnchorException");
    assert!(client.describe_custom_key_stores().send().await.unwrap().custom_key_stores().is_empty());

    let id = create_store(&client, "ExampleKeyStore", CLUSTER, &anchor, USER_PIN).await.unwrap();
    assert!(id.starts_with("cks-") && id.len() == 21, "{id}");
    assert_eq!(create_store(&client, "ExampleKeyStore", CLUSTER, &anchor, USER_PIN).await.unwrap_err(), "CustomKeyStoreNameInUseException");
    assert_eq!(create_store(&client, "Another", CLUSTER, &anchor, USER_PIN).await.unwrap_err(), "CloudHsmClusterInUseException");
    let entry = store_entry(&client, &id).await;
    assert_eq!(entry.connection_state(), Some(&ConnectionStateType::Disconnected));
    assert_eq!(entry.cloud_hsm_cluster_id(), Some(CLUSTER));
    assert_eq!(entry.custom_key_store_name(), Some("ExampleKeyStore"));
    assert_eq!(entry.trust_anchor_certificate(), Some(anchor.as_str()));
    let by_name = client.describe_custom_key_stores().custom_key_store_name("ExampleKeyStore").send().await.unwrap();
    assert_eq!(by_name.custom_key_stores()[0].custom_key_store_id(), Some(id.as_str()));
    let missing = client.describe_custom_key_stores().custom_key_store_id("cks-00000000000000000").send().await.unwrap_err();
    assert_eq!(code(&missing), "CustomKeyStoreNotFoundException");

    // Not connected: no keys, no disconnect.
    assert_eq!(create_hsm_key(&client, &id).await.unwrap_err(), "CustomKeyStoreInvalidStateException");
    let e = client.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(code(&e), "CustomKeyStoreInvalidStateException");

    client.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    wait_for_state(&client, &id, ConnectionStateType::Connected).await;
    // Connecting a connected key store is a no-op, as in AWS.
    client.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();

    // A key in the token.
    let key = create_hsm_key(&client, &id).await.unwrap();
    assert_eq!(key.origin(), Some(&OriginType::AwsCloudhsm));
    let described = client.describe_key().key_id(key.key_id()).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(described.custom_key_store_id(), Some(id.as_str()));
    assert_eq!(described.cloud_hsm_cluster_id(), Some(CLUSTER));
    assert_eq!(described.key_state(), Some(&KeyState::Enabled));
    let arn = key.arn().unwrap().to_owned();
    assert!(token.secret_key_labels().contains(&arn), "the token holds a key labelled with the ARN: {:?}", token.secret_key_labels());

    // Envelope encryption through the token, in Trent's ciphertext format.
    let blob = encrypt(&client, key.key_id(), b"hello hsm").await.unwrap();
    assert_eq!(decrypt(&client, &blob).await.unwrap(), b"hello hsm");
    let wrong_context = client.decrypt().ciphertext_blob(Blob::new(blob.clone())).encryption_context("purpose", "other").send().await.unwrap_err();
    assert_eq!(code(&wrong_context), "InvalidCiphertextException");
    let dk = client.generate_data_key().key_id(key.key_id()).key_spec(DataKeySpec::Aes256).encryption_context("purpose", "test").send().await.unwrap();
    assert_eq!(decrypt(&client, dk.ciphertext_blob().unwrap().as_ref()).await.unwrap(), dk.plaintext().unwrap().as_ref());
    let software = client.create_key().send().await.unwrap().key_metadata.unwrap();
    let moved = client
        .re_encrypt()
        .ciphertext_blob(Blob::new(blob.clone()))
        .source_encryption_context("purpose", "test")
        .destination_key_id(software.key_id())
        .destination_encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(decrypt(&client, moved.ciphertext_blob().unwrap().as_ref()).await.unwrap(), b"hello hsm");
    let random = client.generate_random().number_of_bytes(32).custom_key_store_id(&id).send().await.unwrap();
    assert_eq!(random.plaintext().unwrap().as_ref().len(), 32);

    // What AWS refuses for keys in a custom key store.
    let e = client.enable_key_rotation().key_id(key.key_id()).send().await.unwrap_err();
    assert_eq!(code(&e), "UnsupportedOperationException");
    let e = client.generate_data_key_pair().key_id(key.key_id()).key_pair_spec(aws_sdk_kms::types::DataKeyPairSpec::EccNistP256).send().await.unwrap_err();
    assert_eq!(code(&e), "UnsupportedOperationException");
    let e = client.create_key().origin(OriginType::AwsCloudhsm).custom_key_store_id(&id).key_spec(aws_sdk_kms::types::KeySpec::Rsa2048).key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify).send().await.unwrap_err();
    assert_eq!(code(&e), "UnsupportedOperationException");
    let e = client.create_key().origin(OriginType::AwsCloudhsm).send().await.unwrap_err();
    assert_eq!(code(&e), "ValidationException");

    // Connected: no delete, no password change.
    let e = client.delete_custom_key_store().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(code(&e), "CustomKeyStoreInvalidStateException");
    let e = client.update_custom_key_store().custom_key_store_id(&id).key_store_password("another-pin").send().await.unwrap_err();
    assert_eq!(code(&e), "CustomKeyStoreInvalidStateException");
    client.update_custom_key_store().custom_key_store_id(&id).new_custom_key_store_name("Renamed").send().await.unwrap();

    // Disconnected: the key is Unavailable and unusable, its state returns later.
    client.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    wait_for_state(&client, &id, ConnectionStateType::Disconnected).await;
    let described = client.describe_key().key_id(key.key_id()).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(described.key_state(), Some(&KeyState::Unavailable));
    assert_eq!(encrypt(&client, key.key_id(), b"x").await.unwrap_err(), "KMSInvalidStateException");
    assert_eq!(decrypt(&client, &blob).await.unwrap_err(), "KMSInvalidStateException");

    // A wrong password: FAILED with INVALID_CREDENTIALS; Connect refused until disconnected.
    client.update_custom_key_store().custom_key_store_id(&id).key_store_password("wrong-password").send().await.unwrap();
    client.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    let failed = wait_for_state(&client, &id, ConnectionStateType::Failed).await;
    assert_eq!(failed.connection_error_code(), Some(&ConnectionErrorCodeType::InvalidCredentials));
    let e = client.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(code(&e), "CustomKeyStoreInvalidStateException");
    client.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    client.update_custom_key_store().custom_key_store_id(&id).key_store_password(USER_PIN).send().await.unwrap();
    client.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    wait_for_state(&client, &id, ConnectionStateType::Connected).await;
    assert_eq!(decrypt(&client, &blob).await.unwrap(), b"hello hsm");

    // The state and the key survive a restart; the token is logged in again on first use.
    trent.restart(&[]);
    let client = trent.client(REGION);
    assert_eq!(decrypt(&client, &blob).await.unwrap(), b"hello hsm");

    // A key store with a key (even pending deletion) cannot be deleted.
    client.schedule_key_deletion().key_id(key.key_id()).pending_window_in_days(7).send().await.unwrap();
    client.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    let e = client.delete_custom_key_store().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(code(&e), "CustomKeyStoreHasCMKsException");
    let described = client.describe_key().key_id(key.key_id()).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(described.key_state(), Some(&KeyState::PendingDeletion), "pending deletion shows through a disconnect");
    client.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    wait_for_state(&client, &id, ConnectionStateType::Connected).await;

    // Eight days later the key is destroyed at start-up, and its object in
    // the token with it (seen after going back to today's clock).
    let later = (8 * DAY_SECS).to_string();
    trent.restart(&["--clock-offset-secs", &later]);
    trent.restart(&[]);
    let client = trent.client(REGION);
    let e = client.describe_key().key_id(key.key_id()).send().await.unwrap_err();
    assert_eq!(code(&e), "NotFoundException");
    let deadline = Instant::now() + Duration::from_secs(10);
    while token.secret_key_labels().contains(&arn) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!token.secret_key_labels().contains(&arn), "the destroyed key's object is gone from the token");

    client.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    client.delete_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    let e = client.describe_custom_key_stores().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(code(&e), "CustomKeyStoreNotFoundException");
}

/// Key stores belong to their account: another account sees none of them.
#[tokio::test]
async fn another_account_cannot_see_or_use_a_key_store() {
    let Some(token) = TestToken::new("accounts", "trent-accounts") else { return };
    let trent = start(&token, &[]);
    let anchor = register(&trent, &token, CLUSTER);
    let client = trent.client(REGION);
    let id = create_store(&client, "Mine", CLUSTER, &anchor, USER_PIN).await.unwrap();
    let other = trent.client("eu-west-1");
    let e = other.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(code(&e), "CustomKeyStoreNotFoundException", "key stores live in one Region");
    assert!(other.describe_custom_key_stores().send().await.unwrap().custom_key_stores().is_empty());
    let e = other.create_key().origin(OriginType::AwsCloudhsm).custom_key_store_id(&id).send().await.unwrap_err();
    assert_eq!(code(&e), "CustomKeyStoreNotFoundException");
}

/// The token goes away under a connected key store: requests fail with
/// KMSInvalidStateException, the key store is FAILED with NETWORK_ERRORS,
/// and when the token is back it reconnects by itself and nothing is lost.
#[tokio::test]
async fn a_token_that_goes_away_and_comes_back() {
    let Some(token) = TestToken::new("faults", "trent-faults") else { return };
    let trent = start(&token, &[]);
    let anchor = register(&trent, &token, CLUSTER);
    let client = trent.client(REGION);
    let id = create_store(&client, "Faulty", CLUSTER, &anchor, USER_PIN).await.unwrap();
    client.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    wait_for_state(&client, &id, ConnectionStateType::Connected).await;
    let key = create_hsm_key(&client, &id).await.unwrap();
    let blob = encrypt(&client, key.key_id(), b"kept").await.unwrap();

    token.move_tokens(true);
    let failed = wait_for_state(&client, &id, ConnectionStateType::Failed).await;
    assert_eq!(failed.connection_error_code(), Some(&ConnectionErrorCodeType::NetworkErrors));
    assert_eq!(encrypt(&client, key.key_id(), b"x").await.unwrap_err(), "KMSInvalidStateException");
    assert_eq!(decrypt(&client, &blob).await.unwrap_err(), "KMSInvalidStateException");

    token.move_tokens(false);
    wait_for_state(&client, &id, ConnectionStateType::Connected).await;
    assert_eq!(decrypt(&client, &blob).await.unwrap(), b"kept");
    let again = encrypt(&client, key.key_id(), b"after").await.unwrap();
    assert_eq!(decrypt(&client, &again).await.unwrap(), b"after");
}

/// The PIN changed under a connected key store: FAILED with
/// INVALID_CREDENTIALS once a new login is needed; the operator's fix is
/// AWS's: disconnect, update the password, connect.
#[tokio::test]
async fn a_pin_changed_under_a_connected_key_store() {
    let Some(token) = TestToken::new("pin", "trent-pin") else { return };
    let mut trent = start(&token, &[]);
    let anchor = register(&trent, &token, CLUSTER);
    let client = trent.client(REGION);
    let id = create_store(&client, "Pinned", CLUSTER, &anchor, USER_PIN).await.unwrap();
    client.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    wait_for_state(&client, &id, ConnectionStateType::Connected).await;
    let key = create_hsm_key(&client, &id).await.unwrap();
    let blob = encrypt(&client, key.key_id(), b"pin").await.unwrap();

    token.change_pin(USER_PIN, "new-kmsuser-pin");
    // A restarted node must log in again, with the old PIN: refused.
    trent.restart(&[]);
    let client = trent.client(REGION);
    assert_eq!(decrypt(&client, &blob).await.unwrap_err(), "KMSInvalidStateException");
    let failed = wait_for_state(&client, &id, ConnectionStateType::Failed).await;
    assert_eq!(failed.connection_error_code(), Some(&ConnectionErrorCodeType::InvalidCredentials));

    client.disconnect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    client.update_custom_key_store().custom_key_store_id(&id).key_store_password("new-kmsuser-pin").send().await.unwrap();
    client.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    wait_for_state(&client, &id, ConnectionStateType::Connected).await;
    assert_eq!(decrypt(&client, &blob).await.unwrap(), b"pin");
}

/// A key whose value the test knows (written into the token in place of
/// the one Trent generated) is used for many requests; its bytes appear in
/// none of the files Trent writes: database, WAL, audit log, server log.
#[tokio::test]
async fn an_hsm_keys_material_never_reaches_trents_files() {
    let Some(token) = TestToken::new("no-leak", "trent-no-leak") else { return };
    let mut trent = start(&token, &[]);
    let anchor = register(&trent, &token, CLUSTER);
    let client = trent.client(REGION);
    let id = create_store(&client, "Sealed", CLUSTER, &anchor, USER_PIN).await.unwrap();
    client.connect_custom_key_store().custom_key_store_id(&id).send().await.unwrap();
    wait_for_state(&client, &id, ConnectionStateType::Connected).await;
    let key = create_hsm_key(&client, &id).await.unwrap();
    let arn = key.arn().unwrap().to_owned();
    trent.stop();

    // Replace the token's key with one of known value under the same label.
    let known: [u8; 32] = *b"KNOWN-HSM-KEY-VALUE-0123456789ab";
    let file = token.path().join("known");
    std::fs::write(&file, known).unwrap();
    let out = token.tool(USER_PIN, &["--delete-object", "--type", "secrkey", "--label", &arn]);
    assert!(out.status.success(), "delete: {}", String::from_utf8_lossy(&out.stderr));
    let out = token.tool(USER_PIN, &["--write-object", file.to_str().unwrap(), "--type", "secrkey", "--key-type", "AES:32", "--usage-decrypt", "--label", &arn, "--sensitive"]);
    assert!(out.status.success(), "write: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(&file).unwrap();

    trent.restart(&[]);
    let client = trent.client(REGION);
    let mut blobs = Vec::new();
    for i in 0..50 {
        blobs.push(encrypt(&client, key.key_id(), format!("message {i}").as_bytes()).await.unwrap());
    }
    for blob in &blobs {
        decrypt(&client, blob).await.unwrap();
    }
    let ctx: HashMap<String, String> = [("purpose".to_owned(), "test".to_owned())].into();
    client.generate_data_key().key_id(key.key_id()).number_of_bytes(32).set_encryption_context(Some(ctx)).send().await.unwrap();
    trent.stop();

    // Nor the token's PIN (the key store password), which is kept sealed.
    let needles: Vec<Vec<u8>> = vec![known.to_vec(), hex::encode(known).into_bytes(), base64_of(&known).into_bytes(), USER_PIN.as_bytes().to_vec()];
    let mut scanned = 0;
    let mut key_id_seen = false;
    for entry in walk(&trent.data_dir()).into_iter().chain([trent.data_dir().join("../trent.log")]) {
        let Ok(bytes) = std::fs::read(&entry) else { continue };
        scanned += 1;
        // The scan reads what Trent wrote: the key's id is in there somewhere.
        key_id_seen |= bytes.windows(key.key_id().len()).any(|w| w == key.key_id().as_bytes());
        for needle in &needles {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_slice()), "{} holds the HSM key's material or the PIN", entry.display());
        }
    }
    assert!(scanned >= 3 && key_id_seen, "scanned the database, the audit log and the server log ({scanned} files)");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
