//! `trent serve --seed FILE` through the official AWS SDK: seeded keys and
//! aliases are usable by id and alias, given material gives known answers
//! (on a second server too), a second start with the same file changes
//! nothing, and a file that differs from the store stops the start.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::MacAlgorithmSpec;
use base64::Engine;
use common::{audit_events, Trent};

const KEY: &str = "11111111-2222-4333-8444-555555555555";
const HMAC_KEY: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";
const GENERATED: &str = "mrk-0123456789abcdef0123456789abcdef";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn seed_json(description: &str) -> String {
    serde_json::json!({
        "keys": [
            { "id": KEY, "description": description, "material": b64(&[7u8; 32]), "tags": { "team": "payments" } },
            { "id": HMAC_KEY, "key-spec": "HMAC_256", "key-usage": "GENERATE_VERIFY_MAC", "material": b64(&[9u8; 32]) },
            { "id": GENERATED, "key-spec": "ECC_NIST_P256", "key-usage": "SIGN_VERIFY" }
        ],
        "aliases": [ { "name": "alias/seeded", "target": KEY } ]
    })
    .to_string()
}

fn write_seed(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn creations(data_dir: &Path) -> usize {
    audit_events(data_dir).iter().filter(|e| e["userIdentity"]["type"] == "TrentOperator").count()
}

/// `trent serve` with these arguments must exit with a failure before it
/// listens; returns its stderr.
fn refused(data_dir: &Path, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env_remove("TRENT_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = tx.send(first);
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if rx.try_recv().is_ok_and(|l| l.starts_with("Trent listening")) || Instant::now() > deadline {
            let _ = child.kill();
            panic!("trent started with {args:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    stderr
}

#[tokio::test]
async fn seeded_keys_work_by_id_and_alias_give_known_answers_and_reseeding_is_a_no_op() {
    let files = tempfile::tempdir().unwrap();
    let seed = write_seed(files.path(), "seed.json", &seed_json("seeded"));
    let mut trent = Trent::start(&["--dev", "--seed", &seed]);
    let client = trent.client(common::REGION);

    let key = client.describe_key().key_id("alias/seeded").send().await.unwrap().key_metadata.unwrap();
    assert_eq!((key.key_id(), key.description()), (KEY, Some("seeded")));
    assert!(key.arn().unwrap().contains(":123456789012:key/"), "the dev account: {:?}", key.arn());
    let tags = client.list_resource_tags().key_id(KEY).send().await.unwrap();
    assert_eq!(tags.tags()[0].tag_key(), "team");
    let mrk = client.describe_key().key_id(GENERATED).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(mrk.multi_region(), Some(true));
    client.sign().key_id(GENERATED).message(Blob::new("m")).signing_algorithm(aws_sdk_kms::types::SigningAlgorithmSpec::EcdsaSha256).send().await.unwrap();

    // HMAC: a known answer computed here, not by Trent.
    let mac = client.generate_mac().key_id(HMAC_KEY).message(Blob::new("hello")).mac_algorithm(MacAlgorithmSpec::HmacSha256).send().await.unwrap();
    let expected = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[9u8; 32]), b"hello");
    assert_eq!(mac.mac().unwrap().as_ref(), expected.as_ref());

    let ciphertext = client.encrypt().key_id("alias/seeded").plaintext(Blob::new("secret")).send().await.unwrap().ciphertext_blob.unwrap();
    assert_eq!(creations(&trent.data_dir()), 4, "3 keys and 1 alias, one audit event each");

    // Another server, fresh root key, same seed: decrypts what the first made.
    let other = Trent::start(&["--dev", "--seed", &seed]);
    let plain = other.client(common::REGION).decrypt().ciphertext_blob(ciphertext.clone()).send().await.unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"secret");

    // The same seed again: nothing made, nothing changed.
    let before = client.describe_key().key_id(GENERATED).send().await.unwrap().key_metadata.unwrap();
    trent.restart(&["--dev", "--seed", &seed]);
    let client = trent.client(common::REGION);
    assert_eq!(creations(&trent.data_dir()), 4, "a second seeding writes no creation events");
    let after = client.describe_key().key_id(GENERATED).send().await.unwrap().key_metadata.unwrap();
    assert_eq!(before.creation_date(), after.creation_date());
    let plain = client.decrypt().ciphertext_blob(ciphertext).send().await.unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"secret");
    trent.stop();

    // A seed file that differs from the store stops the start, naming the field.
    let changed = write_seed(files.path(), "changed.json", &seed_json("other"));
    let err = refused(&trent.data_dir(), &["--dev", "--seed", &changed]);
    assert!(err.contains(KEY) && err.contains("different description"), "{err}");
    let other_material = seed_json("seeded").replace(&b64(&[7u8; 32]), &b64(&[8u8; 32]));
    let err = refused(&trent.data_dir(), &["--dev", "--seed", &write_seed(files.path(), "material.json", &other_material)]);
    assert!(err.contains("different key material"), "{err}");
    assert!(!err.contains(&b64(&[8u8; 32])), "material must not be echoed: {err}");
    let moved = seed_json("seeded").replace(r#""target":"11111111-2222-4333-8444-555555555555""#, &format!(r#""target":"{HMAC_KEY}""#));
    let err = refused(&trent.data_dir(), &["--dev", "--seed", &write_seed(files.path(), "moved.json", &moved)]);
    assert!(err.contains("alias/seeded") && err.contains("exists pointing at"), "{err}");
}

#[tokio::test]
async fn bad_seed_files_are_refused_before_serving() {
    let files = tempfile::tempdir().unwrap();
    let data = files.path().join("data");
    for (text, wants) in [
        (r#"{"keys":[{"id":"not-a-uuid"}]}"#, "`id` must be"),
        (r#"{"keys":[{"id":"11111111-2222-4333-8444-555555555555","material":"AAAA"}]}"#, "32 bytes"),
        (r#"{"keys":[{"id":"11111111-2222-4333-8444-555555555555","key-spec":"RSA_2048"}]}"#, "key-usage is required"),
        (r#"{"keys":[{"id":"11111111-2222-4333-8444-555555555555","kye-spec":"RSA_2048"}]}"#, "unknown field"),
        (r#"{"aliases":[{"name":"alias/aws/x","target":"11111111-2222-4333-8444-555555555555"}]}"#, "alias/aws/"),
        (r#"{"aliases":[{"name":"alias/x","target":"11111111-2222-4333-8444-555555555555"}]}"#, "no key of account"),
    ] {
        let err = refused(&data, &["--dev", "--seed", &write_seed(files.path(), "bad.json", text)]);
        assert!(err.contains(wants), "{text}: {err}");
    }
}

#[tokio::test]
async fn seeded_users_sign_with_their_given_keys_in_the_secure_mode() {
    const ACCESS_KEY: &str = "AKIASEEDEDEXAMPLE0001";
    const SECRET: &str = "seeded-secret-access-key-0123456789";
    let files = tempfile::tempdir().unwrap();
    let seed = |secret: &str| {
        serde_json::json!({
            "account": "111122223333",
            "users": [{ "name": "ci", "access-key-id": ACCESS_KEY, "secret-access-key": secret,
                        "policy": { "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "kms:*", "Resource": "*" }] } }],
            "keys": [{ "id": KEY }],
            "aliases": [{ "name": "alias/ci", "target": KEY }]
        })
        .to_string()
    };
    let path = write_seed(files.path(), "secure.json", &seed(SECRET));
    let mut trent = Trent::start(&["--seed", &path]);
    let client = trent.client_with(common::REGION, ACCESS_KEY, SECRET);
    let out = client.encrypt().key_id("alias/ci").plaintext(Blob::new("x")).send().await.unwrap();
    assert!(out.key_id().unwrap().contains(":111122223333:key/"));
    // A wrong secret is refused, as any.
    let wrong = trent.client_with(common::REGION, ACCESS_KEY, "seeded-secret-access-key-WRONG000000");
    assert_eq!(common::code(&wrong.list_keys().send().await.unwrap_err()), "InvalidSignatureException");
    let events = audit_events(&trent.data_dir());
    assert!(!events.iter().any(|e| e.to_string().contains(SECRET)), "the secret reached the audit log");
    let made = creations(&trent.data_dir());
    assert_eq!(made, 3, "a user, a key and an alias");
    trent.restart(&["--seed", &path]);
    assert_eq!(creations(&trent.data_dir()), 3);
    trent.stop();
    let err = refused(&trent.data_dir(), &["--seed", &write_seed(files.path(), "other.json", &seed("another-secret-access-key-0123456789"))]);
    assert!(err.contains("seed user ci") && err.contains("different secret"), "{err}");
    assert!(!err.contains("another-secret"), "{err}");
    // Without --dev the file must name its account.
    let err = refused(&files.path().join("fresh"), &["--seed", &write_seed(files.path(), "noaccount.json", r#"{"keys":[]}"#)]);
    assert!(err.contains("names no `account`"), "{err}");
}
