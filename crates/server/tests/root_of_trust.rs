//! The root of trust end to end (docs/root-of-trust.md): each seal mode
//! from `trent init` to a restart and a decrypt of data written before;
//! Shamir's threshold, wrong shares and the tamper delay; seal and unseal
//! of a running server; and a scan of the data directory for the root
//! key's bytes, which the sealed modes must never write.

mod common;

use aws_sdk_kms::primitives::Blob;
use common::seal::{audit_verifies, drop_schema, find_in_files, forged_pending_event, init_ok, plain_shares, postgres_schema, read_secret, rekey, seal_config, unseal, CHEAP_ARGON2};
use common::{code, Trent, REGION};

const PASSPHRASE: &str = "correct horse battery staple";

/// Encrypts under a new key; returns the ciphertext.
async fn write_secret(trent: &Trent) -> Vec<u8> {
    let kms = trent.client(REGION);
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let out = kms.encrypt().key_id(key).plaintext(Blob::new(b"kept across restarts".to_vec())).send().await.unwrap();
    out.ciphertext_blob.unwrap().into_inner()
}

/// What a sealed server answers a KMS call with: (status, exception);
/// `None` for any other answer (unsealed, the unknown caller is refused).
async fn sealed_answer(trent: &Trent) -> Option<(u16, String)> {
    // Credentials are not checked while sealed (they are sealed too).
    let kms = trent.client_with(REGION, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    match kms.list_keys().send().await {
        Ok(_) => None,
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
            let code = code(&e);
            (code == "DependencyTimeoutException").then_some((status, code))
        }
    }
}

fn b64(text: &serde_json::Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text.as_str().unwrap()).unwrap()
}

/// Opens the wrapped root key with `kek` and `aad` the way the format says
/// (0x01 || nonce || AES-256-GCM ciphertext and tag), independently of Trent.
fn open_wrapped(wrapped: &[u8], kek: &[u8], aad: &[u8]) -> Vec<u8> {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    assert_eq!(wrapped[0], 1);
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek).unwrap());
    let mut buf = wrapped[13..].to_vec();
    let plain = key.open_in_place(Nonce::try_assume_unique_for_key(&wrapped[1..13]).unwrap(), Aad::from(aad), &mut buf).unwrap();
    assert_eq!(plain.len(), 32);
    plain.to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn file_mode_is_what_serve_does_on_an_empty_directory_and_init_can_choose_it() {
    let mut trent = Trent::unstarted(&[]);
    let out = init_ok(&trent, &["--seal", "file"]);
    assert!(out.contains("seal mode file"), "{out}");
    let (ok, _, err) = trent.cli(&["init", "--data-dir", trent.data_dir().to_str().unwrap(), "--seal", "shamir"], &[], "");
    assert!(!ok && err.contains("already initialised"), "a second init must be refused: {err}");
    trent.start_again(&[]);
    let ciphertext = write_secret(&trent).await;
    trent.restart(&[]);
    read_secret(&trent, &ciphertext).await;
    trent.stop();
    assert_eq!(seal_config(&trent.data_dir()).await["mode"], "file");
    // The scan finds a root key that is on disk: here, root.key itself.
    let root = std::fs::read(trent.data_dir().join("root.key")).unwrap();
    assert_eq!(find_in_files(&trent.data_dir(), &root), vec![trent.data_dir().join("root.key").display().to_string()]);

    // And with no init at all, serve makes the key file as before.
    let fresh = Trent::start(&[]);
    assert!(fresh.data_dir().join("root.key").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn passphrase_mode_survives_restarts_and_refuses_a_wrong_passphrase() {
    let mut trent = Trent::unstarted(&[CHEAP_ARGON2]);
    let out = trent.cli(&["init", "--data-dir", trent.data_dir().to_str().unwrap(), "--seal", "passphrase"], &[("TRENT_PASSPHRASE", PASSPHRASE)], "");
    assert!(out.0, "init: {}", out.2);
    assert!(!trent.data_dir().join("root.key").exists());

    // No passphrase, a wrong one: the server does not start.
    let err = trent.serve_refused(&[], &[]);
    assert!(err.contains("needs a passphrase"), "{err}");
    let err = trent.serve_refused(&[], &[("TRENT_PASSPHRASE", "wrong horse")]);
    assert!(err.contains("wrong passphrase"), "{err}");

    let file = trent.data_dir().parent().unwrap().join("passphrase.txt");
    std::fs::write(&file, format!("{PASSPHRASE}\n")).unwrap();
    let file_arg = file.to_str().unwrap().to_owned();
    trent.start_again(&["--passphrase-file", &file_arg]);
    let ciphertext = write_secret(&trent).await;
    trent.stop();

    // The same passphrase from the environment opens the same root key.
    std::env::set_var("TRENT_PASSPHRASE", PASSPHRASE);
    trent.start_again(&[]);
    std::env::remove_var("TRENT_PASSPHRASE");
    read_secret(&trent, &ciphertext).await;
    // Sealed while running, it opens again with the passphrase as its one "share".
    let creds = trent.data_dir().join("credentials");
    let (ok, _, err) = trent.cli(&["operator", "seal", "--endpoint", &trent.endpoint()], &[("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap())], "");
    assert!(ok, "{err}");
    assert!(sealed_answer(&trent).await.is_some());
    assert!(unseal(&trent, "wrong horse").unwrap_err().contains("wrong passphrase"));
    assert!(unseal(&trent, PASSPHRASE).unwrap().contains("Unsealed"));
    read_secret(&trent, &ciphertext).await;
    trent.stop();

    // Nothing on disk holds the root key or the key that wraps it.
    let config = seal_config(&trent.data_dir()).await;
    assert_eq!(config["mode"], "passphrase");
    let params = argon2::Params::new(config["memory_kib"].as_u64().unwrap() as u32, config["iterations"].as_u64().unwrap() as u32, config["parallelism"].as_u64().unwrap() as u32, Some(32)).unwrap();
    let mut kek = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params).hash_password_into(PASSPHRASE.as_bytes(), &b64(&config["salt"]), &mut kek).unwrap();
    let root = open_wrapped(&b64(&config["wrapped_root"]), &kek, b"trent/seal/v1/passphrase");
    assert_eq!(find_in_files(&trent.data_dir(), &root), Vec::<String>::new());
    assert_eq!(find_in_files(&trent.data_dir(), &kek), Vec::<String>::new());
    assert_eq!(find_in_files(&trent.data_dir(), PASSPHRASE.as_bytes()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn shamir_mode_starts_sealed_and_any_threshold_of_shares_unseals() {
    let mut trent = Trent::unstarted(&[]);
    let out = init_ok(&trent, &["--seal", "shamir", "--shares", "5", "--threshold", "3"]);
    let shares = plain_shares(&out);
    assert_eq!(shares.len(), 5, "{out}");
    assert!(shares.iter().enumerate().all(|(i, s)| s.starts_with(&format!("share {}: ", i + 1))));
    assert!(!trent.data_dir().join("root.key").exists());

    trent.start_again(&["--unseal-failures-allowed", "1", "--unseal-delay-secs", "2"]);
    assert_eq!(sealed_answer(&trent).await, Some((500, "DependencyTimeoutException".to_owned())));
    // /health says why it is not serving.
    let (status, body) = common::raw_http(trent.port(), "GET", "/health");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("the server is sealed"), "{body}");
    // K-1 shares (one given twice, which counts once) leave it sealed.
    assert!(unseal(&trent, &shares[0]).unwrap().contains("1/3"));
    assert!(unseal(&trent, &shares[0]).unwrap().contains("1/3"));
    assert!(unseal(&trent, &shares[3]).unwrap().contains("2/3"));
    assert!(sealed_answer(&trent).await.is_some());
    assert!(unseal(&trent, &shares[4]).unwrap().contains("Unsealed"));
    assert_eq!(sealed_answer(&trent).await, None);
    assert_eq!(common::raw_http(trent.port(), "GET", "/health").0, 200);
    let ciphertext = write_secret(&trent).await;
    trent.stop();

    // After a restart it is sealed again; another three shares open it.
    trent.start_again(&["--unseal-failures-allowed", "1", "--unseal-delay-secs", "2"]);
    assert!(sealed_answer(&trent).await.is_some());
    // A wrong share (one byte changed) is refused when the combination fails, and counted.
    let mut wrong = shares[2].clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    unseal(&trent, &shares[1]).unwrap();
    unseal(&trent, &wrong).unwrap();
    let err = unseal(&trent, &shares[0]).unwrap_err();
    assert!(err.contains("(400)") && err.contains("do not open"), "{err}");
    // Not a share at all: refused, and past the one failure allowed now.
    let err = unseal(&trent, "share 9: not hex").unwrap_err();
    assert!(err.contains("(400)"), "{err}");
    // Even the right share must now wait.
    let err = unseal(&trent, &shares[1]).unwrap_err();
    assert!(err.contains("(429)") && err.contains("try again"), "{err}");
    assert!(sealed_answer(&trent).await.is_some());
    std::thread::sleep(std::time::Duration::from_millis(2100));
    for share in [&shares[1], &shares[2], &shares[0]] {
        unseal(&trent, share).unwrap();
    }
    read_secret(&trent, &ciphertext).await;

    // The operator seals the running server; unsealing keeps the data.
    let creds = trent.data_dir().join("credentials");
    let seal_env = [("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap())];
    let (ok, out, err) = trent.cli(&["operator", "seal", "--endpoint", &trent.endpoint()], &seal_env, "");
    assert!(ok && out.contains("Sealed"), "{err}");
    assert_eq!(sealed_answer(&trent).await, Some((500, "DependencyTimeoutException".to_owned())));
    let (_, status, _) = trent.cli(&["operator", "status", "--endpoint", &trent.endpoint()], &[], "");
    assert!(status.contains("\"sealed\":true"), "{status}");
    for share in [&shares[4], &shares[2], &shares[3]] {
        unseal(&trent, share).unwrap();
    }
    read_secret(&trent, &ciphertext).await;
    trent.stop();

    // The audit log has the seal and both unseals, with the failures counted.
    let log = std::fs::read_to_string(trent.data_dir().join("audit/audit-00000000000000000001.jsonl")).unwrap();
    assert_eq!(log.matches("\"eventName\":\"TrentUnseal\"").count(), 3, "{log}");
    assert!(log.contains("\"failedAttemptsWhileSealed\":2"), "{log}");
    assert!(log.contains("\"eventName\":\"TrentSeal\""));
    // The log verifies without a root key on disk, with the public key the server wrote.
    audit_verifies(&trent);

    // Nothing on disk holds the root key or the key the shares rebuild.
    let config = seal_config(&trent.data_dir()).await;
    assert_eq!((config["mode"].as_str(), config["shares"].as_u64(), config["threshold"].as_u64()), (Some("shamir"), Some(5), Some(3)));
    let parsed: Vec<blahaj::Share> = shares[..3].iter().map(|s| blahaj::Share::try_from(hex::decode(s.split(": ").nth(1).unwrap()).unwrap().as_slice()).unwrap()).collect();
    let kek = blahaj::Sharks(3).recover(&parsed).unwrap();
    let root = open_wrapped(&b64(&config["wrapped_root"]), &kek, b"trent/seal/v1/shamir");
    assert_eq!(find_in_files(&trent.data_dir(), &root), Vec::<String>::new());
    assert_eq!(find_in_files(&trent.data_dir(), &kek), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_operator_may_seal() {
    let mut trent = Trent::unstarted(&[]);
    let shares = plain_shares(&init_ok(&trent, &["--seal", "shamir", "--shares", "2", "--threshold", "2"]));
    trent.start_again(&[]);
    for share in &shares {
        unseal(&trent, share).unwrap();
    }
    // A caller the server does not know cannot seal it.
    let stranger = [("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"), ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")];
    let (ok, _, err) = trent.cli(&["operator", "seal", "--endpoint", &trent.endpoint()], &stranger, "");
    assert!(!ok && err.contains("seal refused"), "{err}");
    assert_eq!(sealed_answer(&trent).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_postgres_node_reads_the_seal_from_the_database() {
    let Some((url, base, schema)) = postgres_schema("trent_seal").await else { return };
    let store = ["--store", url.as_str()];
    let env = [CHEAP_ARGON2, ("TRENT_PASSPHRASE", PASSPHRASE)];
    let mut first = Trent::unstarted(&env);
    let first_dir = first.data_dir().display().to_string();
    let mut args = vec!["init", "--data-dir", &first_dir, "--seal", "passphrase"];
    args.extend_from_slice(&store);
    let (ok, _, err) = first.cli(&args, &[], "");
    assert!(ok, "{err}");
    first.start_again(&store);
    let ciphertext = write_secret(&first).await;

    // A second node with an empty data directory: the same passphrase opens
    // the same root key from the database; a wrong one is refused.
    let second = Trent::unstarted(&[CHEAP_ARGON2]);
    let err = second.serve_refused(&store, &[("TRENT_PASSPHRASE", "wrong horse")]);
    assert!(err.contains("wrong passphrase"), "{err}");
    let mut second = Trent::unstarted(&env);
    second.start_again(&store);
    std::fs::copy(first.data_dir().join("credentials"), second.data_dir().join("credentials")).unwrap();
    read_secret(&second, &ciphertext).await;
    assert!(!second.data_dir().join("root.key").exists());

    // A rekey on the shared database (beside both running nodes): a new
    // node needs the new passphrase; the old one is refused.
    let mut args = vec!["operator", "rekey", "--data-dir", &first_dir, "--seal", "passphrase"];
    args.extend_from_slice(&store);
    let (ok, _, err) = first.cli(&args, &[("TRENT_NEW_PASSPHRASE", "a new passphrase")], "");
    assert!(ok, "{err}");
    let third = Trent::unstarted(&[CHEAP_ARGON2]);
    let err = third.serve_refused(&store, &[("TRENT_PASSPHRASE", PASSPHRASE)]);
    assert!(err.contains("wrong passphrase"), "{err}");
    let mut third = Trent::unstarted(&[CHEAP_ARGON2, ("TRENT_PASSPHRASE", "a new passphrase")]);
    third.start_again(&store);
    std::fs::copy(first.data_dir().join("credentials"), third.data_dir().join("credentials")).unwrap();
    read_secret(&third, &ciphertext).await;
    third.stop();
    first.stop();
    second.stop();
    drop_schema(&base, &schema).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pkcs11_mode_opens_the_root_key_through_the_token_at_every_start() {
    use common::softhsm::{TestToken, USER_PIN};
    let Some(token) = TestToken::new("pkcs11_mode", "trent-root") else { return };
    let conf = token.conf().display().to_string();
    let module = token.module.display().to_string();
    let mut trent = Trent::unstarted(&[("SOFTHSM2_CONF", &conf), ("TRENT_PKCS11_PIN", USER_PIN)]);
    let dir = trent.data_dir().display().to_string();
    let (ok, out, err) = trent.cli(&["init", "--data-dir", &dir, "--seal", "pkcs11", "--pkcs11-module", &module, "--pkcs11-token-label", "trent-root"], &[], "");
    assert!(ok && out.contains("seal mode pkcs11"), "{err}");
    assert!(token.secret_key_labels().contains(&"trent-root-wrapping-key".to_owned()));
    assert!(!trent.data_dir().join("root.key").exists());
    // A second init on another directory never reuses the token's key.
    let other = Trent::unstarted(&[("SOFTHSM2_CONF", &conf), ("TRENT_PKCS11_PIN", USER_PIN)]);
    let other_dir = other.data_dir().display().to_string();
    let (ok, _, err) = other.cli(&["init", "--data-dir", &other_dir, "--seal", "pkcs11", "--pkcs11-module", &module, "--pkcs11-token-label", "trent-root"], &[], "");
    assert!(!ok && err.contains("already has a key"), "{err}");

    trent.start_again(&[]);
    assert_eq!(sealed_answer(&trent).await, None, "auto-unsealed at start");
    let ciphertext = write_secret(&trent).await;
    trent.restart(&[]);
    read_secret(&trent, &ciphertext).await;
    trent.stop();
    // The wrong PIN, and the token refuses: the server does not start.
    let err = trent.serve_refused(&[], &[("TRENT_PKCS11_PIN", "wrong-pin")]);
    assert!(err.contains("PKCS#11 token"), "{err}");
    // A rekey wraps the same root key under a new key of the token; the
    // old one is then not needed.
    let rekey_args = ["--seal", "pkcs11", "--pkcs11-module", &module, "--pkcs11-token-label", "trent-root", "--pkcs11-key-label", "trent-root-wrapping-key-2"];
    let (ok, _, err) = rekey(&trent, &rekey_args, &[], "");
    assert!(ok, "{err}");
    let out = token.tool(USER_PIN, &["--delete-object", "--type", "secrkey", "--label", "trent-root-wrapping-key"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    trent.start_again(&[]);
    read_secret(&trent, &ciphertext).await;
    trent.stop();
    // Without its wrapping key, the token cannot open it either.
    let out = token.tool(USER_PIN, &["--delete-object", "--type", "secrkey", "--label", "trent-root-wrapping-key-2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = trent.serve_refused(&[], &[]);
    assert!(err.contains("trent-root-wrapping-key-2"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_mode_opens_the_root_key_with_another_trents_decrypt() {
    // The other KMS: another Trent, whose admin's key wraps this one's root key.
    let outer = Trent::start(&[]);
    let outer_kms = outer.client(REGION);
    let key = outer_kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let creds = outer.data_dir().join("credentials").display().to_string();
    let mut trent = Trent::unstarted(&[("AWS_SHARED_CREDENTIALS_FILE", &creds)]);
    let dir = trent.data_dir().display().to_string();
    let (ok, out, err) = trent.cli(&["init", "--data-dir", &dir, "--seal", "kms", "--kms-endpoint", &outer.endpoint(), "--kms-key-id", &key], &[], "");
    assert!(ok && out.contains("seal mode kms"), "{err}");
    assert!(!trent.data_dir().join("root.key").exists());

    trent.start_again(&[]);
    let ciphertext = write_secret(&trent).await;
    trent.restart(&[]);
    read_secret(&trent, &ciphertext).await;
    trent.stop();
    // The other KMS refuses (its key disabled): this one does not start.
    outer_kms.disable_key().key_id(&key).send().await.unwrap();
    let err = trent.serve_refused(&[], &[]);
    assert!(err.contains("Decrypt") && err.contains("DisabledException"), "{err}");
    outer_kms.enable_key().key_id(&key).send().await.unwrap();
    trent.start_again(&[]);
    read_secret(&trent, &ciphertext).await;
    trent.stop();

    // Only the other KMS can open the wrapped root key, and its bytes are in no file here.
    let config = seal_config(&trent.data_dir()).await;
    let opened = outer_kms
        .decrypt()
        .ciphertext_blob(Blob::new(b64(&config["wrapped_root"])))
        .encryption_context("trent-seal", "root-key")
        .send()
        .await
        .unwrap();
    let root = opened.plaintext.unwrap().into_inner();
    assert_eq!(root.len(), 32);
    assert_eq!(find_in_files(&trent.data_dir(), &root), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sealed_server_answers_iam_and_sts_with_service_unavailable() {
    use std::io::{Read, Write};
    let mut trent = Trent::unstarted(&[]);
    init_ok(&trent, &["--seal", "shamir", "--shares", "2", "--threshold", "2"]);
    trent.start_again(&[]);
    for service in ["iam", "sts"] {
        let body = "Action=GetCallerIdentity&Version=2011-06-15";
        let request = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = std::net::TcpStream::connect(trent.endpoint().trim_start_matches("http://")).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("<Code>ServiceUnavailable</Code>") && answer.contains("Trent is sealed"), "{answer}");
    }
}

fn seal_running(trent: &Trent) {
    let creds = trent.data_dir().join("credentials");
    let (ok, _, err) = trent.cli(&["operator", "seal", "--endpoint", &trent.endpoint()], &[("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap())], "");
    assert!(ok, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rekey_changes_the_seal_and_never_the_root_key() {
    let mut trent = Trent::unstarted(&[CHEAP_ARGON2]);
    init_ok(&trent, &["--seal", "file"]);
    trent.start_again(&[]);
    let ciphertext = write_secret(&trent).await;
    let key_file = trent.data_dir().join("root.key");
    let root = std::fs::read(&key_file).unwrap();
    let files = trent.data_dir().parent().unwrap().to_path_buf();
    let (first, second, wrong) = (files.join("p1"), files.join("p2"), files.join("wrong"));
    std::fs::write(&first, "first passphrase\n").unwrap();
    std::fs::write(&second, "second passphrase\n").unwrap();
    std::fs::write(&wrong, "wrong horse\n").unwrap();
    let (first, second, wrong) = (first.to_str().unwrap(), second.to_str().unwrap(), wrong.to_str().unwrap());

    // file -> passphrase, beside the running server, which goes on serving.
    let (ok, out, err) = rekey(&trent, &["--seal", "passphrase", "--new-passphrase-file", first], &[], "");
    assert!(ok && out.contains("seal mode passphrase (was file)"), "{out}{err}");
    assert!(!key_file.exists(), "root.key must go when leaving file mode");
    assert_eq!(find_in_files(&trent.data_dir(), &root), Vec::<String>::new());
    read_secret(&trent, &ciphertext).await;
    trent.restart(&["--passphrase-file", first]);
    read_secret(&trent, &ciphertext).await;

    // A wrong current passphrase refuses the rekey and changes nothing.
    let before = seal_config(&trent.data_dir()).await;
    let (ok, _, err) = rekey(&trent, &["--seal", "shamir", "--passphrase-file", wrong], &[], "");
    assert!(!ok && err.contains("wrong passphrase"), "{err}");
    assert_eq!(seal_config(&trent.data_dir()).await, before);

    // passphrase -> shamir (new shares). The running server, sealed, reads
    // the new configuration: the old passphrase no longer opens it.
    let (ok, out, err) = rekey(&trent, &["--seal", "shamir", "--shares", "3", "--threshold", "2", "--passphrase-file", first], &[], "");
    assert!(ok, "{err}");
    let shares = plain_shares(&out);
    assert_eq!(shares.len(), 3, "{out}");
    seal_running(&trent);
    assert!(unseal(&trent, "first passphrase").is_err());
    assert!(sealed_answer(&trent).await.is_some());
    unseal(&trent, &shares[0]).unwrap();
    assert!(unseal(&trent, &shares[2]).unwrap().contains("Unsealed"));
    read_secret(&trent, &ciphertext).await;
    trent.restart(&[]);
    assert!(sealed_answer(&trent).await.is_some());
    unseal(&trent, &shares[1]).unwrap();
    unseal(&trent, &shares[2]).unwrap();
    read_secret(&trent, &ciphertext).await;

    // Wrong shares (one byte changed) refuse the rekey and change nothing.
    let before = seal_config(&trent.data_dir()).await;
    let mut bad = shares[1].clone();
    let last = bad.pop().unwrap();
    bad.push(if last == '0' { '1' } else { '0' });
    let (ok, _, err) = rekey(&trent, &["--seal", "passphrase", "--new-passphrase-file", second], &[], &format!("{}\n{bad}\n", shares[0]));
    assert!(!ok && err.contains("do not open"), "{err}");
    let (ok, _, err) = rekey(&trent, &["--seal", "passphrase", "--new-passphrase-file", second], &[], &format!("{}\n", shares[0]));
    assert!(!ok && err.contains("needs 2"), "{err}");
    assert_eq!(seal_config(&trent.data_dir()).await, before);

    // shamir -> passphrase: the old shares and the first passphrase are refused.
    let (ok, out, err) = rekey(&trent, &["--seal", "passphrase", "--new-passphrase-file", second], &[], &format!("{}\n{}\n", shares[2], shares[0]));
    assert!(ok && out.contains("seal mode passphrase (was shamir)"), "{out}{err}");
    seal_running(&trent);
    assert!(unseal(&trent, &shares[0]).unwrap_err().contains("wrong passphrase"));
    assert!(unseal(&trent, "second passphrase").unwrap().contains("Unsealed"));
    trent.stop();
    let err = trent.serve_refused(&["--passphrase-file", first], &[]);
    assert!(err.contains("wrong passphrase"), "{err}");
    trent.start_again(&["--passphrase-file", second]);
    read_secret(&trent, &ciphertext).await;
    assert_eq!(find_in_files(&trent.data_dir(), &root), Vec::<String>::new());

    // passphrase -> file: root.key comes back, the same key, mode 0600.
    let (ok, out, err) = rekey(&trent, &["--seal", "file", "--passphrase-file", second], &[], "");
    assert!(ok, "{out}{err}");
    assert_eq!(std::fs::read(&key_file).unwrap(), root);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    trent.restart(&[]);
    read_secret(&trent, &ciphertext).await;
    assert_eq!(seal_config(&trent.data_dir()).await["mode"], "file");
}

/// The data directory's `TrentRekey` events.
fn rekey_events(trent: &Trent) -> Vec<serde_json::Value> {
    common::audit_events(&trent.data_dir()).into_iter().filter(|e| e["eventName"] == "TrentRekey").collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rekey_is_an_audit_event_the_server_writes_at_its_next_open() {
    let mut trent = Trent::unstarted(&[]);
    init_ok(&trent, &["--seal", "file"]);
    trent.start_again(&[]);
    // Beside the running server: signed, left for it, not yet in its log.
    let (ok, out, err) = rekey(&trent, &["--seal", "shamir", "--shares", "2", "--threshold", "2"], &[], "");
    assert!(ok, "{out}{err}");
    let shares = plain_shares(&out);
    assert_eq!(rekey_events(&trent).len(), 0);
    // An event signed by any other key is never written.
    let forged = forged_pending_event(&trent.data_dir());
    seal_running(&trent);
    unseal(&trent, &shares[0]).unwrap();
    assert!(unseal(&trent, &shares[1]).unwrap().contains("Unsealed"));
    trent.stop();
    let events = rekey_events(&trent);
    assert_eq!(events.len(), 1, "{events:?}");
    let data = &events[0]["additionalEventData"];
    assert_eq!((data["previousSealMode"].as_str(), data["sealMode"].as_str(), data["rootKeyGeneration"].as_u64()), (Some("file"), Some("shamir"), Some(0)), "{events:?}");
    assert!(!forged.exists() && forged.with_extension("rejected").exists(), "the forged event is set aside");

    // With the server stopped: written when it next starts (file mode opens by itself).
    let (ok, out, err) = rekey(&trent, &["--seal", "file"], &[], &format!("{}\n{}\n", shares[0], shares[1]));
    assert!(ok, "{out}{err}");
    trent.start_again(&[]);
    trent.stop();
    let events = rekey_events(&trent);
    assert_eq!(events.iter().map(|e| e["additionalEventData"]["sealMode"].as_str().unwrap()).collect::<Vec<_>>(), ["shamir", "file"]);
    assert_ne!(events[0]["eventID"], events[1]["eventID"]);
    audit_verifies(&trent);
}

/// A rekey beside a server under a client's load, killed (kill -9) before
/// and after its one commit point: the server serves throughout, the
/// deployment is always in the mode recorded and opens in it, a rerun
/// finishes, and everything written meanwhile reads after a restart in
/// the final mode. Only the rekey that finished is audited (a crash
/// between the record and the publishing loses its event: documented).
#[tokio::test(flavor = "multi_thread")]
async fn a_rekey_killed_at_each_step_under_load_leaves_a_deployment_that_opens() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use common::load::{decrypt_all, load, write_some, Made};
    const CRASH_AT: &str = "TRENT_TEST_REKEY_CRASH_AT";
    let mut trent = Trent::unstarted(&[CHEAP_ARGON2]);
    init_ok(&trent, &["--seal", "file"]);
    trent.start_again(&[]);
    let made: Made = Arc::default();
    write_some(&trent, &made, 3).await;
    let (stop, rounds) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let client = load(&trent, made.clone(), stop.clone(), rounds.clone());
    while rounds.load(Ordering::Relaxed) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = rounds.load(Ordering::Relaxed);
    let key_file = trent.data_dir().join("root.key");
    let passphrase = trent.data_dir().parent().unwrap().join("p1");
    std::fs::write(&passphrase, "first passphrase\n").unwrap();
    let passphrase = passphrase.to_str().unwrap();
    let into_passphrase = ["--seal", "passphrase", "--new-passphrase-file", passphrase];

    // Killed before the record: still file mode, its key file in place.
    let file_config = seal_config(&trent.data_dir()).await;
    let (ok, _, err) = rekey(&trent, &into_passphrase, &[(CRASH_AT, "staged")], "");
    assert!(!ok && err.contains("staged: stopping here"), "{err}");
    assert_eq!(seal_config(&trent.data_dir()).await, file_config);
    assert!(key_file.exists());

    // Killed after the record, before the key file goes: passphrase mode,
    // with a spare copy of the same root key left (which serve warns of).
    let (ok, _, err) = rekey(&trent, &into_passphrase, &[(CRASH_AT, "recorded")], "");
    assert!(!ok && err.contains("recorded: stopping here"), "{err}");
    assert_eq!(seal_config(&trent.data_dir()).await["mode"], "passphrase");
    assert!(key_file.exists(), "killed before the key file's removal");

    // The rerun, from the mode recorded: passphrase -> shamir.
    let (ok, out, err) = rekey(&trent, &["--seal", "shamir", "--shares", "3", "--threshold", "2", "--passphrase-file", passphrase], &[], "");
    assert!(ok, "{out}{err}");
    let shares = plain_shares(&out);
    assert!(rounds.load(Ordering::Relaxed) > before, "the load went on during the rekeys");
    stop.store(true, Ordering::Relaxed);
    client.await.expect("every call of the load succeeded");

    // The spare key file goes by hand (docs/root-of-trust.md); the restart
    // needs the shares, and everything written before and during reads.
    std::fs::remove_file(&key_file).unwrap();
    trent.restart(&[]);
    assert!(sealed_answer(&trent).await.is_some());
    unseal(&trent, &shares[2]).unwrap();
    assert!(unseal(&trent, &shares[0]).unwrap().contains("Unsealed"));
    decrypt_all(&trent, &made).await;
    trent.stop();
    let events = rekey_events(&trent);
    assert_eq!(events.iter().map(|e| e["additionalEventData"]["sealMode"].as_str().unwrap()).collect::<Vec<_>>(), ["shamir"], "{events:?}");
}

/// `operator unseal` refuses plain HTTP to a host that is not loopback
/// before it reads the share or connects: its standard input is left open
/// and 192.0.2.1 (TEST-NET-1) never answers, so either would hang it.
#[test]
fn unseal_refuses_plain_http_to_another_host_before_reading_the_share() {
    use std::time::{Duration, Instant};
    let trent = Trent::unstarted(&[]);
    for (args, env) in [
        (vec!["operator", "unseal", "--endpoint", "http://192.0.2.1:4600"], vec![]),
        (vec!["operator", "unseal"], vec![("TRENT_ENDPOINT", "http://localhost.evil.com:4600")]),
    ] {
        let started = Instant::now();
        let mut child = trent.cli_started(&args, &env);
        let open_stdin = child.stdin.take();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(10) {
                child.kill().unwrap();
                panic!("`trent {args:?}` did not fail fast: it waits for the share or the connection");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(open_stdin);
        let (ok, out, err) = common::cli_ended(child);
        assert!(!ok, "{out}{err}");
        assert!(err.contains("refusing to send") && err.contains("https://") && err.contains("--allow-plain-http"), "{err}");
    }
}

/// `--allow-plain-http` sends the share anyway: here to this machine's
/// non-loopback address, forwarded to the server.
#[tokio::test(flavor = "multi_thread")]
async fn unseal_sends_over_plain_http_to_another_host_when_allowed() {
    let mut trent = Trent::unstarted(&[]);
    let shares = plain_shares(&init_ok(&trent, &["--seal", "shamir", "--shares", "2", "--threshold", "2"]));
    trent.start_again(&[]);
    let Some(address) = common::forward_from_another_address(trent.port()) else {
        return eprintln!("skipping: this machine has no non-loopback IPv4 address");
    };
    let endpoint = format!("http://{address}");
    let (ok, _, err) = trent.cli(&["operator", "unseal", "--endpoint", &endpoint], &[], &format!("{}\n", shares[0]));
    assert!(!ok && err.contains("refusing to send"), "{err}");
    let (ok, out, err) = trent.cli(&["operator", "unseal", "--endpoint", &endpoint, "--allow-plain-http"], &[], &format!("{}\n", shares[0]));
    assert!(ok && out.contains("Unseal progress: 1/2"), "{out}{err}");
    assert!(unseal(&trent, &shares[1]).unwrap().contains("Unsealed"));
}
