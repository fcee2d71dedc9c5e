//! What the root-of-trust tests share (root_of_trust, rotate_root,
//! root_of_trust_hardening): the seal commands run on a [`Trent`]'s data
//! directory, the stored seal configuration, a scan of files for a key's
//! bytes, and a PostgreSQL schema of a test's own.

use std::path::Path;

use super::Trent;

/// A test-only Argon2id cost (`TRENT_TEST_ARGON2_COST`), so passphrase tests stay fast.
pub const CHEAP_ARGON2: (&str, &str) = ("TRENT_TEST_ARGON2_COST", "64,1,1");

/// `trent init --data-dir DIR ARGS` with `env`: (success, stdout, stderr).
pub fn init(trent: &Trent, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    on_data_dir(trent, &["init"], args, env, "")
}

/// [`init`] that must succeed; its output.
pub fn init_ok(trent: &Trent, args: &[&str]) -> String {
    let (ok, out, err) = init(trent, args, &[]);
    assert!(ok, "trent init failed: {err}");
    out
}

/// `trent operator rekey --data-dir DIR ARGS` with `env` and `stdin`.
pub fn rekey(trent: &Trent, args: &[&str], env: &[(&str, &str)], stdin: &str) -> (bool, String, String) {
    on_data_dir(trent, &["operator", "rekey"], args, env, stdin)
}

/// `trent COMMAND --data-dir DIR ARGS`.
fn on_data_dir(trent: &Trent, command: &[&str], args: &[&str], env: &[(&str, &str)], stdin: &str) -> (bool, String, String) {
    let data = trent.data_dir();
    let mut all = command.to_vec();
    all.extend_from_slice(&["--data-dir", data.to_str().unwrap()]);
    all.extend_from_slice(args);
    trent.cli(&all, env, stdin)
}

/// `trent operator unseal` with one share (or passphrase) on standard input.
pub fn unseal(trent: &Trent, share: &str) -> Result<String, String> {
    let (ok, out, err) = trent.cli(&["operator", "unseal", "--endpoint", &trent.endpoint()], &[], &format!("{}\n", share.trim_end()));
    if ok {
        Ok(out)
    } else {
        Err(err)
    }
}

/// The plain `share N: HEX` lines of `trent init`'s (or rekey's) output.
pub fn plain_shares(output: &str) -> Vec<String> {
    output.lines().filter(|l| l.starts_with("share ") && l.contains(": ")).map(str::to_owned).collect()
}

/// A pending event as `trent operator rekey` leaves it in `data`, signed
/// by a key of the attacker's.
pub fn forged_pending_event(data: &Path) -> std::path::PathBuf {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::Engine;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pair = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
    assert_eq!(pair.public_key().as_ref().len(), 32);
    let event = serde_json::json!({ "eventName": "TrentRekey", "eventID": "forged", "additionalEventData": { "sealMode": "file" } }).to_string();
    let signature = pair.sign(&[&b"trent/audit/pending-event/v1\n"[..], event.as_bytes()].concat());
    let file = data.join("audit/pending/00000000000000000001-forged.json");
    let body = serde_json::json!({ "event": event, "signature": base64::engine::general_purpose::STANDARD.encode(signature.as_ref()) });
    std::fs::write(&file, body.to_string()).unwrap();
    file
}

/// The stored seal configuration (read straight from the SQLite database).
pub async fn seal_config(data: &Path) -> serde_json::Value {
    use trent_store::Store;
    let store = trent_store::sqlite::SqliteStore::open(&data.join("trent.db")).unwrap();
    serde_json::from_slice(&store.get_setting("seal_config").await.unwrap().expect("a seal configuration")).unwrap()
}

/// Every file under `dir` where `needle` (or its hex) occurs.
pub fn find_in_files(dir: &Path, needle: &[u8]) -> Vec<String> {
    let hex_needle = hex::encode(needle).into_bytes();
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        if path.is_dir() {
            todo.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) || bytes.windows(hex_needle.len()).any(|w| w == hex_needle.as_slice()) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// A fresh schema named `PREFIX_UUID` on the test PostgreSQL
/// (`TRENT_TEST_POSTGRES_URL`, else CI's local default): (URL with its
/// search_path, base URL, schema); `None` when none runs there and none
/// was asked for.
pub async fn postgres_schema(prefix: &str) -> Option<(String, String, String)> {
    let from_env = std::env::var("TRENT_TEST_POSTGRES_URL").ok();
    let base = from_env.clone().unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let (client, connection) = match tokio_postgres::connect(&base, tokio_postgres::NoTls).await {
        Ok(c) => c,
        Err(e) if from_env.is_none() => {
            eprintln!("skipping: no PostgreSQL at {base}: {e}");
            return None;
        }
        Err(e) => panic!("PostgreSQL at {base}: {e}"),
    };
    tokio::spawn(connection);
    let schema = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some((format!("{base}{sep}options=-csearch_path%3D{schema}"), base, schema))
}

pub async fn drop_schema(base: &str, schema: &str) {
    let (client, connection) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}

/// Decrypts `ciphertext` and checks it holds the tests' secret, `kept across restarts`.
pub async fn read_secret(trent: &Trent, ciphertext: &[u8]) {
    let kms = trent.client(super::REGION);
    let out = kms.decrypt().ciphertext_blob(aws_sdk_kms::primitives::Blob::new(ciphertext.to_vec())).send().await.unwrap();
    assert_eq!(out.plaintext.unwrap().into_inner(), b"kept across restarts");
}

/// The root key generations a SQLite data directory's sealed values (the
/// store's columns and settings, and the audit signing key) are under, counted.
pub async fn generations(data: &Path) -> std::collections::BTreeMap<u32, usize> {
    let store = trent_store::sqlite::SqliteStore::open(&data.join("trent.db")).unwrap();
    generations_in(&store, &[data]).await
}

/// The root key generations of `store`'s sealed values and of the audit
/// signing keys of the nodes' data directories `data`, counted.
pub async fn generations_in(store: &dyn trent_store::Store, data: &[&Path]) -> std::collections::BTreeMap<u32, usize> {
    let mut seen = std::collections::BTreeMap::new();
    for column in trent_store::SealedColumn::ALL {
        for value in store.list_sealed(column, None, 100_000).await.unwrap() {
            *seen.entry(trent_crypto::root_key::blob_generation(&value.sealed).unwrap()).or_default() += 1;
        }
    }
    for name in ["root_key_check", "material_digest_key"] {
        if let Some(value) = store.get_setting(name).await.unwrap() {
            *seen.entry(trent_crypto::root_key::blob_generation(&value).unwrap()).or_default() += 1;
        }
    }
    for dir in data {
        if let Ok(value) = std::fs::read(dir.join("audit").join("signing.key")) {
            *seen.entry(trent_crypto::root_key::blob_generation(&value).unwrap()).or_default() += 1;
        }
    }
    seen
}

/// `trent audit verify` on `trent`'s data directory passes.
pub fn audit_verifies(trent: &Trent) {
    let (ok, out, err) = trent.cli(&["audit", "verify", "--data-dir", trent.data_dir().to_str().unwrap()], &[], "");
    assert!(ok, "audit verify: {out}{err}");
}

/// The environment signing as `trent`'s admin (its credentials file).
pub fn operator(trent: &Trent) -> Vec<(String, String)> {
    vec![("AWS_SHARED_CREDENTIALS_FILE".to_owned(), trent.data_dir().join("credentials").display().to_string())]
}

/// `trent operator rotate-root --endpoint ENDPOINT ARGS`, signed with
/// `creds`, run off the runtime's threads so other tasks (a client's
/// load) go on meanwhile: (success, stdout, stderr).
pub fn rotate_online_at(trent: &Trent, endpoint: &str, args: &[&str], creds: &[(String, String)], stdin: &str) -> (bool, String, String) {
    let env: Vec<(&str, &str)> = creds.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut all = vec!["operator", "rotate-root", "--endpoint", endpoint];
    all.extend_from_slice(args);
    tokio::task::block_in_place(|| trent.cli(&all, &env, stdin))
}
