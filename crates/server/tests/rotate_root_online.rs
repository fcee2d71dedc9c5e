//! `trent operator rotate-root --endpoint URL` end to end
//! (docs/root-of-trust.md): the running server replaces its root key while
//! a client keeps calling Encrypt, Decrypt, GenerateDataKey and CreateKey;
//! every ciphertext made before, during and after decrypts, nothing is
//! left sealed under the old key, and the old key is nowhere on disk. The
//! server killed (kill -9, by itself at a test hook) midway starts again
//! reading both generations and the rerun finishes. Only the operator may
//! rotate; the rotation's steps are in the signed audit log.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use common::load::{decrypt_all, load, write_some, Made};
use common::seal::{audit_verifies, find_in_files, generations, operator, rotate_online_at};
use common::{audit_events, Trent, REGION};

const CRASH_AT: &str = "TRENT_TEST_ROTATE_ROOT_CRASH_AT";
const STALL: &str = "TRENT_TEST_CREATE_KEY_STALL";
const CHEAP_ARGON2: (&str, &str) = ("TRENT_TEST_ARGON2_COST", "64,1,1");
const USER_KEY: &str = "AKIASEEDEDEXAMPLE0001";
const USER_SECRET: &str = "seeded-secret-access-key-0123456789";

/// `trent operator rotate-root --endpoint` in batches of one, signed with
/// `creds`; the runtime's other tasks (the client's load) go on meanwhile.
async fn rotate_online(trent: &Trent, creds: Vec<(String, String)>, stdin: &str) -> (bool, String, String) {
    rotate_online_at(trent, &trent.endpoint(), &["--batch-size", "1"], &creds, stdin)
}

/// The passphrase of [`passphrase_server`], as `TRENT_PASSPHRASE`.
const PASSPHRASE: (&str, &str) = ("TRENT_PASSPHRASE", "correct horse battery staple");

/// A server made with `init --seal passphrase`, started with
/// `--passphrase-file`: it and that file's path.
fn passphrase_server() -> (Trent, String) {
    let mut trent = Trent::unstarted(&[CHEAP_ARGON2]);
    let (ok, _, err) = trent.cli(&["init", "--data-dir", trent.data_dir().to_str().unwrap(), "--seal", "passphrase"], &[PASSPHRASE], "");
    assert!(ok, "{err}");
    let file = trent.data_dir().with_file_name("passphrase.txt");
    std::fs::write(&file, format!("{}\n", PASSPHRASE.1)).unwrap();
    let file = file.to_str().unwrap().to_owned();
    trent.start_again(&["--passphrase-file", &file]);
    (trent, file)
}

fn events_named(trent: &Trent, name: &str) -> Vec<serde_json::Value> {
    audit_events(&trent.data_dir()).into_iter().filter(|e| e["eventName"] == name).collect()
}

fn seed_file(trent: &Trent) -> String {
    let path = trent.data_dir().with_file_name("seed.json");
    let seed = serde_json::json!({
        "account": "111122223333",
        "users": [{ "name": "ci", "access-key-id": USER_KEY, "secret-access-key": USER_SECRET,
                    "policy": { "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }] } }],
    });
    std::fs::write(&path, seed.to_string()).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn file_mode_rotates_online_under_load_and_everything_decrypts() {
    let mut trent = Trent::unstarted(&[]);
    let seed = seed_file(&trent);
    trent.start_again(&["--seed", &seed]);
    let made: Made = Arc::default();
    write_some(&trent, &made, 30).await;
    let old_root = std::fs::read(trent.data_dir().join("root.key")).unwrap();

    // A caller that may do anything in KMS, but is not the operator.
    let user = vec![("AWS_ACCESS_KEY_ID".to_owned(), USER_KEY.to_owned()), ("AWS_SECRET_ACCESS_KEY".to_owned(), USER_SECRET.to_owned())];
    let (ok, _, err) = rotate_online(&trent, user, "").await;
    assert!(!ok && err.contains("AccessDenied") && err.contains("not allowed to rotate"), "{err}");
    assert!(events_named(&trent, "TrentRootRotationStarted").is_empty());

    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let client = load(&trent, made.clone(), stop.clone(), rounds.clone());
    // Some calls before the rotation starts, some during, some after.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rounds.load(Ordering::Relaxed);
    let (ok, out, err) = rotate_online(&trent, operator(&trent), "").await;
    assert!(ok && out.contains("generation 1"), "{out}{err}\n{}", trent.log());
    let during = rounds.load(Ordering::Relaxed) - before;
    eprintln!("{before} rounds before the rotation, {during} during it");
    assert!(before > 0 && during > 0, "{before} rounds before, {during} during");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let rounds = client.await.expect("every call of the client succeeded");
    assert!(rounds > 0);
    decrypt_all(&trent, &made).await;

    let started = events_named(&trent, "TrentRootRotationStarted");
    let finished = events_named(&trent, "TrentRootRotationFinished");
    assert_eq!((started.len(), finished.len()), (1, 1), "{started:?} {finished:?}");
    assert_eq!(started[0]["additionalEventData"]["fromGeneration"], 0);
    assert_eq!(finished[0]["additionalEventData"]["rootKeyGeneration"], 1);
    let calls = events_named(&trent, "TrentRotateRoot");
    assert_eq!(calls.len(), 2, "the refused call and the operator's");
    assert!(calls.iter().any(|e| e["errorCode"].as_str().is_some_and(|c| c.contains("AccessDenied"))), "{calls:?}");
    trent.stop();

    // Nothing is under generation 0 any more, and the old key is nowhere on disk.
    let after = generations(&trent.data_dir()).await;
    assert_eq!(after.keys().copied().collect::<Vec<_>>(), vec![1], "{after:?}");
    assert_ne!(std::fs::read(trent.data_dir().join("root.key")).unwrap(), old_root);
    assert_eq!(find_in_files(&trent.data_dir(), &old_root), Vec::<String>::new());
    audit_verifies(&trent);

    // A restart opens the new key alone and reads everything.
    trent.start_again(&["--seed", &seed]);
    decrypt_all(&trent, &made).await;
}

/// A CreateKey that sealed its material under the old key just before the
/// switch and stores it only after the reseal would otherwise have ended
/// (the server stalls it 3 s at a test hook): the rotation waits for it,
/// so its material is resealed too and the key works after a restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_begun_before_the_switch_is_waited_for() {
    let mut trent = Trent::unstarted(&[(STALL, "stalled")]);
    trent.start_again(&[]);
    let made: Made = Arc::default();
    write_some(&trent, &made, 2).await;
    let kms = trent.client(REGION);
    let stalled = tokio::spawn(async move { kms.create_key().description("stalled").send().await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (ok, out, err) = rotate_online(&trent, operator(&trent), "").await;
    assert!(ok && out.contains("generation 1"), "{out}{err}\n{}", trent.log());
    // Its answer is on its way when the rotation goes on; the key must be
    // stored under the new key (below), not after the rotation ended.
    let key = tokio::time::timeout(Duration::from_secs(2), stalled).await.expect("the rotation ended before a request begun before it").unwrap().expect("the stalled CreateKey").key_metadata.unwrap().key_id;
    trent.stop();
    assert_eq!(generations(&trent.data_dir()).await.keys().copied().collect::<Vec<_>>(), vec![1]);
    trent.start_again(&[]);
    let kms = trent.client(REGION);
    let blob = kms.encrypt().key_id(&key).plaintext(Blob::new(b"after".to_vec())).send().await.expect("Encrypt with the stalled key after a restart").ciphertext_blob.unwrap();
    let plain = kms.decrypt().ciphertext_blob(blob).send().await.unwrap().plaintext.unwrap().into_inner();
    assert_eq!(plain, b"after");
    decrypt_all(&trent, &made).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_midway_reads_both_generations_and_the_rerun_finishes() {
    let mut trent = Trent::unstarted(&[(CRASH_AT, "batch")]);
    trent.start_again(&[]);
    let made: Made = Arc::default();
    write_some(&trent, &made, 5).await;

    // The server kills itself (kill -9) after the first batch it reseals.
    let (ok, _, err) = rotate_online(&trent, operator(&trent), "").await;
    assert!(!ok, "{err}");
    trent.wait_exited(Duration::from_secs(20));
    assert!(trent.log().contains("stopping here"), "{}", trent.log());
    let midway = generations(&trent.data_dir()).await;
    assert_eq!(midway.keys().copied().collect::<Vec<_>>(), vec![0, 1], "half resealed: {midway:?}");

    trent.remove_env(CRASH_AT);
    trent.start_again(&[]);
    decrypt_all(&trent, &made).await;
    assert!(trent.log().contains("rotation was left unfinished"), "the operator is told to finish it");
    write_some(&trent, &made, 2).await;
    let (ok, out, err) = rotate_online(&trent, operator(&trent), "").await;
    assert!(ok && out.contains("generation 1"), "{out}{err}\n{}", trent.log());
    decrypt_all(&trent, &made).await;
    let started = events_named(&trent, "TrentRootRotationStarted");
    assert_eq!(started.len(), 2, "{started:?}");
    assert_eq!(started[1]["additionalEventData"]["resumed"], true);
    assert_eq!(events_named(&trent, "TrentRootRotationFinished").len(), 1);
    trent.stop();
    assert_eq!(generations(&trent.data_dir()).await.keys().copied().collect::<Vec<_>>(), vec![1]);
    audit_verifies(&trent);
    trent.start_again(&[]);
    decrypt_all(&trent, &made).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn passphrase_mode_needs_the_passphrase_again_and_keeps_it() {
    let passphrase = PASSPHRASE;
    let (mut trent, file) = passphrase_server();
    let made: Made = Arc::default();
    write_some(&trent, &made, 3).await;

    let mut wrong = operator(&trent);
    wrong.push(("TRENT_PASSPHRASE".to_owned(), "wrong horse".to_owned()));
    let (ok, _, err) = rotate_online(&trent, wrong, "").await;
    assert!(!ok && err.contains("wrong passphrase"), "{err}");
    let mut right = operator(&trent);
    right.push((passphrase.0.to_owned(), passphrase.1.to_owned()));
    let (ok, out, err) = rotate_online(&trent, right, "").await;
    assert!(ok && out.contains("generation 1"), "{out}{err}\n{}", trent.log());
    decrypt_all(&trent, &made).await;
    let events = audit_events(&trent.data_dir());
    assert!(!events.iter().any(|e| e.to_string().contains(passphrase.1)), "the passphrase reached the audit log");
    trent.stop();
    assert_eq!(generations(&trent.data_dir()).await.keys().copied().collect::<Vec<_>>(), vec![1]);
    // The same passphrase opens the new key.
    trent.start_again(&["--passphrase-file", &file]);
    decrypt_all(&trent, &made).await;
}

/// The passphrase is not sent over plain HTTP to an address that is not
/// loopback (here this machine's own, forwarded to the server) unless the
/// operator opts in with `--allow-plain-http`.
#[tokio::test(flavor = "multi_thread")]
async fn the_passphrase_goes_over_plain_http_to_another_host_only_when_allowed() {
    let passphrase = PASSPHRASE;
    let (mut trent, _) = passphrase_server();
    let Some(address) = common::forward_from_another_address(trent.port()) else {
        return eprintln!("skipping: this machine has no non-loopback IPv4 address");
    };
    let endpoint = format!("http://{address}");
    let mut creds = operator(&trent);
    creds.push((passphrase.0.to_owned(), passphrase.1.to_owned()));
    let (ok, out, err) = rotate_online_at(&trent, &endpoint, &["--batch-size", "1"], &creds, "");
    assert!(!ok && err.contains("refusing to send the passphrase") && err.contains("https://") && err.contains("--allow-plain-http"), "{out}{err}");
    let (ok, out, err) = rotate_online_at(&trent, &endpoint, &["--batch-size", "1", "--allow-plain-http"], &creds, "");
    assert!(ok && out.contains("generation 1"), "{out}{err}\n{}", trent.log());
    trent.stop();
    assert_eq!(generations(&trent.data_dir()).await.keys().copied().collect::<Vec<_>>(), vec![1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn shamir_mode_takes_k_shares_again_and_keeps_them() {
    let mut trent = Trent::unstarted(&[]);
    let (ok, out, err) = trent.cli(&["init", "--data-dir", trent.data_dir().to_str().unwrap(), "--seal", "shamir", "--shares", "3", "--threshold", "2"], &[], "");
    assert!(ok, "{err}");
    let shares: Vec<String> = out.lines().filter(|l| l.starts_with("share ")).map(str::to_owned).collect();
    let unseal = |trent: &Trent, share: &str| {
        let (ok, out, err) = trent.cli(&["operator", "unseal", "--endpoint", &trent.endpoint()], &[], &format!("{share}\n"));
        assert!(ok, "{out}{err}");
    };
    trent.start_again(&[]);
    unseal(&trent, &shares[0]);
    unseal(&trent, &shares[1]);
    let made: Made = Arc::default();
    write_some(&trent, &made, 3).await;

    // One share is not enough, and nothing starts.
    let (ok, _, err) = rotate_online(&trent, operator(&trent), &format!("{}\n", shares[2])).await;
    assert!(!ok && err.contains("needs 2"), "{err}");
    let (ok, out, err) = rotate_online(&trent, operator(&trent), &format!("{}\n{}\n", shares[2], shares[0])).await;
    assert!(ok && out.contains("generation 1"), "{out}{err}\n{}", trent.log());
    decrypt_all(&trent, &made).await;
    let events = audit_events(&trent.data_dir());
    let hex_of = |share: &str| share.split(": ").nth(1).unwrap().to_owned();
    assert!(!events.iter().any(|e| shares.iter().any(|s| e.to_string().contains(&hex_of(s)))), "a share reached the audit log");
    trent.stop();
    assert_eq!(generations(&trent.data_dir()).await.keys().copied().collect::<Vec<_>>(), vec![1]);
    // The same shares open the new key.
    trent.start_again(&[]);
    unseal(&trent, &shares[1]);
    unseal(&trent, &shares[2]);
    decrypt_all(&trent, &made).await;
}
