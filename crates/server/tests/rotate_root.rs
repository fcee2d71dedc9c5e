//! `trent operator rotate-root` end to end (docs/root-of-trust.md): a new
//! root key, every sealed value moved to it, the command killed (kill -9,
//! by itself at a test hook) after each of its steps, a server started in between
//! that reads everything, the rerun resuming; then nothing on disk, in the
//! database or in a `trent backup` file holds the old root key, nothing is
//! left sealed under it, and in the sealed modes the new key is nowhere on
//! disk either.

mod common;

use std::path::Path;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use common::seal::{audit_verifies, find_in_files, forged_pending_event, generations, init, init_ok, plain_shares, seal_config, unseal, CHEAP_ARGON2};
use common::{audit_events, Trent, REGION};
use trent_store::Store;

const CRASH_AT: &str = "TRENT_TEST_ROTATE_ROOT_CRASH_AT";
const MATERIAL: [u8; 32] = [7u8; 32];

/// What was written before the rotation, to read after each step.
struct Written {
    symmetric: Vec<u8>,
    signing_key: String,
    signature: Vec<u8>,
    imported_key: String,
    imported: Vec<u8>,
}

async fn write_all(trent: &Trent) -> Written {
    let kms = trent.client(REGION);
    let mut symmetric = Vec::new();
    // A few keys, so a batch of one takes several transactions.
    for _ in 0..3 {
        let key = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
        symmetric = kms.encrypt().key_id(key).plaintext(Blob::new(b"before".to_vec())).send().await.unwrap().ciphertext_blob.unwrap().into_inner();
    }
    let signing_key = kms.create_key().key_spec(KeySpec::EccNistP256).key_usage(KeyUsageType::SignVerify).send().await.unwrap().key_metadata.unwrap().key_id;
    let signature = kms
        .sign()
        .key_id(&signing_key)
        .message(Blob::new(b"signed before".to_vec()))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap()
        .signature
        .unwrap()
        .into_inner();
    let imported_key = kms.create_key().origin(aws_sdk_kms::types::OriginType::External).send().await.unwrap().key_metadata.unwrap().key_id;
    import(trent, &imported_key).await.expect("ImportKeyMaterial");
    let imported = kms.encrypt().key_id(&imported_key).plaintext(Blob::new(b"before".to_vec())).send().await.unwrap().ciphertext_blob.unwrap().into_inner();
    Written { symmetric, signing_key, signature, imported_key, imported }
}

/// Imports [`MATERIAL`] into `key`.
async fn import(trent: &Trent, key: &str) -> Result<(), String> {
    let kms = trent.client(REGION);
    let params = kms
        .get_parameters_for_import()
        .key_id(key)
        .wrapping_algorithm(aws_sdk_kms::types::AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(aws_sdk_kms::types::WrappingKeySpec::Rsa2048)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let wrapping = aws_lc_rs::rsa::PublicEncryptingKey::from_der(params.public_key.unwrap().as_ref()).unwrap();
    let wrapping = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(wrapping).unwrap();
    let mut wrapped = vec![0; wrapping.ciphertext_size()];
    let wrapped = wrapping.encrypt(&aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256, &MATERIAL, &mut wrapped, None).unwrap().to_vec();
    kms.import_key_material()
        .key_id(key)
        .import_token(params.import_token.unwrap())
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(aws_sdk_kms::types::ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{:?}", e.into_service_error()))
}

async fn read_all(trent: &Trent, w: &Written) {
    let kms = trent.client(REGION);
    for blob in [&w.symmetric, &w.imported] {
        let out = kms.decrypt().ciphertext_blob(Blob::new(blob.clone())).send().await.expect("Decrypt of data written before");
        assert_eq!(out.plaintext.unwrap().into_inner(), b"before");
    }
    let valid = kms
        .verify()
        .key_id(&w.signing_key)
        .message(Blob::new(b"signed before".to_vec()))
        .message_type(MessageType::Raw)
        .signature(Blob::new(w.signature.clone()))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .expect("Verify");
    assert!(valid.signature_valid);
    // The private key is opened too, not only the public one.
    kms.sign().key_id(&w.signing_key).message(Blob::new(b"x".to_vec())).message_type(MessageType::Raw).signing_algorithm(SigningAlgorithmSpec::EcdsaSha256).send().await.expect("Sign");
    // New data, sealed with whichever key is current.
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let blob = kms.encrypt().key_id(key).plaintext(Blob::new(b"new".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();
    assert_eq!(kms.decrypt().ciphertext_blob(blob).send().await.unwrap().plaintext.unwrap().into_inner(), b"new");
}

fn rotate(trent: &Trent, args: &[&str], env: &[(&str, &str)], stdin: &str) -> (bool, String, String) {
    let data = trent.data_dir();
    let mut all = vec!["operator", "rotate-root", "--data-dir", data.to_str().unwrap(), "--batch-size", "1"];
    all.extend_from_slice(args);
    trent.cli(&all, env, stdin)
}

/// A `trent backup` of the (stopped) deployment, scanned for `needle`.
fn backup_holds(trent: &Trent, needle: &[u8]) -> bool {
    let file = trent.data_dir().with_file_name("backup.tar");
    let _ = std::fs::remove_file(&file);
    let (ok, _, err) = trent.cli(&["backup", "--data-dir", trent.data_dir().to_str().unwrap(), "--out", file.to_str().unwrap()], &[], "");
    assert!(ok, "backup: {err}");
    let bytes = std::fs::read(&file).unwrap();
    bytes.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn file_mode_rotation_stopped_after_every_step_resumes_and_leaves_no_trace_of_the_old_key() {
    let mut trent = Trent::unstarted(&[]);
    init_ok(&trent, &["--seal", "file"]);
    trent.start_again(&[]);
    let written = write_all(&trent).await;
    let key_file = trent.data_dir().join("root.key");
    let old_root = std::fs::read(&key_file).unwrap();

    // Refused while the server runs: it would go on sealing under the old key.
    let (ok, _, err) = rotate(&trent, &[], &[], "");
    assert!(!ok && err.contains("pid"), "{err}");
    trent.stop();
    let before = generations(&trent.data_dir()).await;
    assert_eq!(before.keys().copied().collect::<Vec<_>>(), vec![0], "{before:?}");

    // Stopped after each step: a server then starts and reads everything.
    for step in ["started", "batch", "batch", "resealed", "committed"] {
        let (ok, _, err) = rotate(&trent, &[], &[(CRASH_AT, step)], "");
        assert!(!ok && err.contains("stopping here"), "{step}: {err}");
        trent.start_again(&[]);
        read_all(&trent, &written).await;
        trent.stop();
    }
    let (ok, out, err) = rotate(&trent, &[], &[], "");
    assert!(ok && out.contains("generation 1"), "{out}{err}");
    // All under generation 1 (values sealed while the rotation was stopped included).
    let after = generations(&trent.data_dir()).await;
    assert_eq!(after.keys().copied().collect::<Vec<_>>(), vec![1], "{after:?}");
    assert!(after[&1] > before[&0], "{after:?} {before:?}");
    let new_root = std::fs::read(&key_file).unwrap();
    assert_ne!(new_root, old_root);
    assert_eq!(find_in_files(&trent.data_dir(), &old_root), Vec::<String>::new());
    assert!(!backup_holds(&trent, &old_root));

    trent.start_again(&[]);
    read_all(&trent, &written).await;
    // The run stopped after step 4 published no event; the rerun that finished it did.
    assert_eq!(finished_events(&trent).len(), 1);
    // The imported material keeps its id: deleted, the same material imports again.
    let kms = trent.client(REGION);
    kms.delete_imported_key_material().key_id(&written.imported_key).send().await.unwrap();
    import(&trent, &written.imported_key).await.expect("the same material imports again after the rotation");
    read_all(&trent, &written).await;
    trent.stop();
    audit_verifies(&trent);

    // A second rotation: generation 2, and generation 1's key is gone too.
    let (ok, out, err) = rotate(&trent, &[], &[], "");
    assert!(ok && out.contains("generation 2"), "{out}{err}");
    assert_eq!(find_in_files(&trent.data_dir(), &new_root), Vec::<String>::new());
    trent.start_again(&[]);
    read_all(&trent, &written).await;
}

/// The log's `TrentRootRotationFinished` events.
fn finished_events(trent: &Trent) -> Vec<serde_json::Value> {
    audit_events(&trent.data_dir()).into_iter().filter(|e| e["eventName"] == "TrentRootRotationFinished").collect()
}

/// The offline rotation leaves a signed event the server writes at its next
/// start, once: a copy put back after that is set aside, as is a file
/// another key signed.
#[tokio::test(flavor = "multi_thread")]
async fn an_offline_rotation_is_an_audit_event_the_server_writes_once() {
    let mut trent = Trent::unstarted(&[]);
    init_ok(&trent, &["--seal", "file"]);
    trent.start_again(&[]);
    write_all(&trent).await;
    trent.stop();
    let (ok, out, err) = rotate(&trent, &[], &[], "");
    assert!(ok && out.contains("generation 1"), "{out}{err}");
    let pending = trent.data_dir().join("audit/pending");
    let published: Vec<_> = std::fs::read_dir(&pending).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].extension().unwrap(), "json", "{published:?}");
    let copy = std::fs::read(&published[0]).unwrap();
    assert!(finished_events(&trent).is_empty(), "only the server writes the log");
    let forged = forged_pending_event(&trent.data_dir());

    trent.start_again(&[]);
    trent.stop();
    let events = finished_events(&trent);
    assert_eq!(events.len(), 1, "{events:?}");
    let data = &events[0]["additionalEventData"];
    assert_eq!((data["rootKeyGeneration"].as_u64(), data["offline"].as_bool()), (Some(1), Some(true)), "{events:?}");
    assert!(data["resealed"].as_u64().unwrap() > 0, "{events:?}");
    assert_eq!(events[0]["userIdentity"]["invokedBy"], "trent operator rotate-root");
    assert!(!published[0].exists(), "written, then removed");
    assert!(!forged.exists() && forged.with_extension("rejected").exists(), "the forged event is set aside");
    audit_verifies(&trent);

    // The written file put back: validly signed, but in the log already.
    std::fs::write(&published[0], &copy).unwrap();
    trent.start_again(&[]);
    trent.stop();
    assert_eq!(finished_events(&trent).len(), 1, "the same pending event was written twice");
    assert!(!published[0].exists() && published[0].with_extension("replayed").exists(), "the copy is set aside");
    audit_verifies(&trent);
}

/// A deployment that never served has no audit signing key yet: the
/// rotation makes it (under the data directory's lock it holds already),
/// and the server then signs its log with that same key.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_before_the_first_start_makes_the_audit_key_it_signs_with() {
    let mut trent = Trent::unstarted(&[]);
    init_ok(&trent, &["--seal", "file"]);
    assert!(!trent.data_dir().join("audit/signing.key").exists());
    let (ok, out, err) = rotate(&trent, &[], &[], "");
    assert!(ok && out.contains("generation 1"), "{out}{err}");
    trent.start_again(&[]);
    trent.stop();
    assert_eq!(finished_events(&trent).len(), 1);
    audit_verifies(&trent);
}

/// The root key a passphrase configuration wraps, opened independently.
async fn passphrase_root(data: &Path, passphrase: &str) -> (Vec<u8>, Vec<u8>) {
    let store = trent_store::sqlite::SqliteStore::open(&data.join("trent.db")).unwrap();
    let config: serde_json::Value = serde_json::from_slice(&store.get_setting("seal_config").await.unwrap().unwrap()).unwrap();
    let b64 = |v: &serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap()
    };
    let n = |k: &str| config[k].as_u64().unwrap() as u32;
    let params = argon2::Params::new(n("memory_kib"), n("iterations"), n("parallelism"), Some(32)).unwrap();
    let mut kek = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params).hash_password_into(passphrase.as_bytes(), &b64(&config["salt"]), &mut kek).unwrap();
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let wrapped = b64(&config["wrapped_root"]);
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &kek).unwrap());
    let mut buf = wrapped[13..].to_vec();
    let root = key.open_in_place(Nonce::try_assume_unique_for_key(&wrapped[1..13]).unwrap(), Aad::from(&b"trent/seal/v1/passphrase"[..]), &mut buf).unwrap().to_vec();
    (root, kek.to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn passphrase_mode_keeps_its_passphrase_and_never_writes_either_root_key() {
    let mut trent = Trent::unstarted(&[CHEAP_ARGON2]);
    let passphrase = ("TRENT_PASSPHRASE", "correct horse battery staple");
    let (ok, _, err) = init(&trent, &["--seal", "passphrase"], &[passphrase]);
    assert!(ok, "{err}");
    let file = trent.data_dir().with_file_name("passphrase.txt");
    std::fs::write(&file, format!("{}\n", passphrase.1)).unwrap();
    let file = file.to_str().unwrap().to_owned();
    trent.start_again(&["--passphrase-file", &file]);
    let written = write_all(&trent).await;
    trent.stop();
    let (old_root, _) = passphrase_root(&trent.data_dir(), passphrase.1).await;

    let (ok, _, err) = rotate(&trent, &[], &[("TRENT_PASSPHRASE", "wrong horse")], "");
    assert!(!ok && err.contains("wrong passphrase"), "{err}");
    let (ok, _, err) = rotate(&trent, &[], &[passphrase, (CRASH_AT, "batch")], "");
    assert!(!ok, "{err}");
    trent.start_again(&["--passphrase-file", &file]);
    read_all(&trent, &written).await;
    trent.stop();
    let (ok, out, err) = rotate(&trent, &[], &[passphrase], "");
    assert!(ok, "{out}{err}");

    let (new_root, kek) = passphrase_root(&trent.data_dir(), passphrase.1).await;
    assert_ne!(new_root, old_root);
    for secret in [&old_root, &new_root, &kek] {
        assert_eq!(find_in_files(&trent.data_dir(), secret), Vec::<String>::new());
        assert!(!backup_holds(&trent, secret));
    }
    // The same passphrase opens the new root key.
    trent.start_again(&["--passphrase-file", &file]);
    read_all(&trent, &written).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shamir_mode_keeps_its_shares_across_a_stopped_and_resumed_rotation() {
    let mut trent = Trent::unstarted(&[]);
    let (ok, out, err) = init(&trent, &["--seal", "shamir", "--shares", "3", "--threshold", "2"], &[]);
    assert!(ok, "{err}");
    let shares = plain_shares(&out);
    trent.start_again(&[]);
    unseal(&trent, &shares[0]).unwrap();
    unseal(&trent, &shares[1]).unwrap();
    let written = write_all(&trent).await;
    trent.stop();

    let (ok, _, err) = rotate(&trent, &[], &[], &format!("{}\n", shares[0]));
    assert!(!ok && err.contains("needs 2"), "{err}");
    let (ok, _, err) = rotate(&trent, &[], &[(CRASH_AT, "resealed")], &format!("{}\n{}\n", shares[2], shares[0]));
    assert!(!ok, "{err}");
    // Mid-rotation, the server starts sealed and opens with the same shares.
    trent.start_again(&[]);
    unseal(&trent, &shares[1]).unwrap();
    unseal(&trent, &shares[2]).unwrap();
    read_all(&trent, &written).await;
    trent.stop();
    let (ok, out, err) = rotate(&trent, &[], &[], &format!("{}\n{}\n", shares[1], shares[0]));
    assert!(ok && out.contains("generation 1"), "{out}{err}");
    assert_eq!(generations(&trent.data_dir()).await.keys().copied().collect::<Vec<_>>(), vec![1]);
    trent.start_again(&[]);
    unseal(&trent, &shares[2]).unwrap();
    unseal(&trent, &shares[0]).unwrap();
    read_all(&trent, &written).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_mode_wraps_the_new_key_with_the_same_outer_key_and_neither_key_is_on_disk() {
    let outer = Trent::start(&[]);
    let outer_kms = outer.client(REGION);
    let key = outer_kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let creds = outer.data_dir().join("credentials").display().to_string();
    let mut trent = Trent::unstarted(&[("AWS_SHARED_CREDENTIALS_FILE", &creds)]);
    let dir = trent.data_dir().display().to_string();
    let (ok, _, err) = trent.cli(&["init", "--data-dir", &dir, "--seal", "kms", "--kms-endpoint", &outer.endpoint(), "--kms-key-id", &key], &[], "");
    assert!(ok, "{err}");
    trent.start_again(&[]);
    let written = write_all(&trent).await;
    trent.stop();
    let root_of = |config: serde_json::Value| {
        let kms = outer_kms.clone();
        async move {
            use base64::Engine;
            let wrapped = base64::engine::general_purpose::STANDARD.decode(config["wrapped_root"].as_str().unwrap()).unwrap();
            let opened = kms.decrypt().ciphertext_blob(Blob::new(wrapped)).encryption_context("trent-seal", "root-key").send().await.unwrap();
            opened.plaintext.unwrap().into_inner()
        }
    };
    let old_root = root_of(seal_config(&trent.data_dir()).await).await;
    let (ok, out, err) = rotate(&trent, &[], &[], "");
    assert!(ok, "{out}{err}");
    let new_root = root_of(seal_config(&trent.data_dir()).await).await;
    assert_ne!(old_root, new_root);
    for root in [&old_root, &new_root] {
        assert_eq!(find_in_files(&trent.data_dir(), root), Vec::<String>::new());
    }
    trent.start_again(&[]);
    read_all(&trent, &written).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pkcs11_mode_wraps_the_new_key_with_the_same_token_key() {
    use common::softhsm::{TestToken, USER_PIN};
    let Some(token) = TestToken::new("rotate_root", "trent-rotate") else { return };
    let conf = token.conf().display().to_string();
    let module = token.module.display().to_string();
    let mut trent = Trent::unstarted(&[("SOFTHSM2_CONF", &conf), ("TRENT_PKCS11_PIN", USER_PIN)]);
    let dir = trent.data_dir().display().to_string();
    let (ok, _, err) = trent.cli(&["init", "--data-dir", &dir, "--seal", "pkcs11", "--pkcs11-module", &module, "--pkcs11-token-label", "trent-rotate"], &[], "");
    assert!(ok, "{err}");
    trent.start_again(&[]);
    let written = write_all(&trent).await;
    trent.stop();
    let before = seal_config(&trent.data_dir()).await;
    let (ok, _, err) = rotate(&trent, &[], &[(CRASH_AT, "resealed")], "");
    assert!(!ok, "{err}");
    trent.start_again(&[]);
    read_all(&trent, &written).await;
    trent.stop();
    let (ok, out, err) = rotate(&trent, &[], &[], "");
    assert!(ok && out.contains("generation 1"), "{out}{err}");
    let after = seal_config(&trent.data_dir()).await;
    assert_eq!(after["key_label"], before["key_label"]);
    assert_ne!(after["wrapped_root"], before["wrapped_root"]);
    assert_eq!(generations(&trent.data_dir()).await.keys().copied().collect::<Vec<_>>(), vec![1]);
    trent.start_again(&[]);
    read_all(&trent, &written).await;
}

/// Waits until `command` holds the root of trust's lock (its file names it).
fn wait_for_change_lock(data: &Path, command: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(data.join("seal.lock")).unwrap_or_default().contains(command) {
        assert!(std::time::Instant::now() < deadline, "{command} never took seal.lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rekey_and_rotate_root_refuse_to_run_together() {
    use std::io::Write;
    let trent = Trent::unstarted(&[]);
    let (ok, out, err) = init(&trent, &["--seal", "shamir", "--shares", "2", "--threshold", "2"], &[]);
    assert!(ok, "{err}");
    let shares = plain_shares(&out);
    let given = format!("{}\n{}\n", shares[0], shares[1]);
    let data = trent.data_dir();
    let dir = data.to_str().unwrap();
    let rekey_args = ["operator", "rekey", "--data-dir", dir, "--seal", "shamir", "--shares", "2", "--threshold", "2"];

    // rotate-root waits for its shares, holding the lock: a rekey is refused, naming it.
    let mut rotating = trent.cli_started(&["operator", "rotate-root", "--data-dir", dir], &[]);
    wait_for_change_lock(&data, "rotate-root");
    let (ok, _, err) = trent.cli(&rekey_args, &[], &given);
    assert!(!ok && err.contains("another change of the root of trust is running") && err.contains("trent operator rotate-root"), "{err}");
    rotating.stdin.as_mut().unwrap().write_all(given.as_bytes()).unwrap();
    let (ok, out, err) = common::cli_ended(rotating);
    assert!(ok && out.contains("generation 1"), "{out}{err}");

    // And the other way round: rekey waits for its shares; rotate-root is refused.
    let mut rekeying = trent.cli_started(&rekey_args, &[]);
    wait_for_change_lock(&data, "rekey");
    let (ok, _, err) = rotate(&trent, &[], &[], &given);
    assert!(!ok && err.contains("another change of the root of trust is running") && err.contains("trent operator rekey"), "{err}");
    rekeying.stdin.as_mut().unwrap().write_all(given.as_bytes()).unwrap();
    let (ok, out, err) = common::cli_ended(rekeying);
    assert!(ok, "{out}{err}");
    // The new shares open the rotated key: nothing was lost.
    let new_shares = plain_shares(&out);
    let (ok, out, err) = rotate(&trent, &[], &[], &format!("{}\n{}\n", new_shares[0], new_shares[1]));
    assert!(ok && out.contains("generation 2"), "{out}{err}");
}
