//! The online root key rotation on PostgreSQL (docs/several-nodes.md):
//! two `trent serve` nodes on one database, SDK clients calling CreateKey,
//! Encrypt and Decrypt on both while node A rotates. Node B follows (its
//! root key, its audit signing key, its `root.key`) only 2 s after it
//! sees the rotation (a test hook), and a CreateKey on B seals its material
//! under the old key just before the rotation and stores it 3 s later,
//! after A's one reseal pass (another hook): only the database's fence
//! keeps it out of the store (without the fence the rotation ends with it
//! under the old key, or fails). Afterwards everything decrypts on both nodes, before
//! and after a restart, with nothing left under the old generation; a
//! third node, down during the whole rotation, refuses to start until its
//! operator moves its audit log aside, as its error says.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use common::load::{decrypt_all, load_with, retrying_client, write_some_with, Made};
use common::seal::{audit_verifies, drop_schema, find_in_files, generations_in, operator, postgres_schema, rotate_online_at};
use common::Trent;

/// Another node of `a`'s deployment, started with `args` and `env`: A's
/// `root.key` (file mode; passphrase mode has none) and, once started, A's
/// admin credentials.
fn node_beside(a: &Trent, args: &[&str], env: &[(&str, &str)]) -> Trent {
    let mut node = Trent::unstarted(env);
    std::fs::create_dir_all(node.data_dir()).unwrap();
    let key_file = a.data_dir().join("root.key");
    if key_file.exists() {
        std::fs::copy(key_file, node.data_dir().join("root.key")).unwrap();
    }
    node.start_again(args);
    std::fs::copy(a.data_dir().join("credentials"), node.data_dir().join("credentials")).unwrap();
    node
}

fn signing_key_generation(node: &Trent) -> u32 {
    trent_crypto::root_key::blob_generation(&std::fs::read(node.data_dir().join("audit").join("signing.key")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_rotate_online_under_load_and_everything_decrypts_on_both() {
    let Some((url, base, schema)) = postgres_schema("pgrot").await else { return };
    let args = ["--store", url.as_str()];
    let mut a = Trent::start(&args);
    let old_root = std::fs::read(a.data_dir().join("root.key")).unwrap();
    let mut b = node_beside(&a, &args, &[("TRENT_TEST_FOLLOW_DELAY_MS", "2000"), ("TRENT_TEST_CREATE_KEY_STALL", "stalled")]);
    let mut c = node_beside(&a, &args, &[]);
    c.stop();
    let made: Made = Arc::default();
    write_some_with(&retrying_client(&a), &made, 20).await;
    write_some_with(&retrying_client(&b), &made, 20).await;

    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let clients = [load_with(retrying_client(&a), made.clone(), stop.clone(), rounds.clone()), load_with(retrying_client(&b), made.clone(), stop.clone(), rounds.clone())];
    let late = retrying_client(&b);
    let stalled = tokio::spawn(async move { late.create_key().description("stalled").send().await });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = rounds.load(Ordering::Relaxed);
    let (ok, out, err) = rotate_online_at(&a, &a.endpoint(), &["--batch-size", "5"], &operator(&a), "");
    assert!(ok && out.contains("generation 1"), "{out}{err}\n{}", a.log());
    let during = rounds.load(Ordering::Relaxed) - before;
    assert!(before > 0 && during > 0, "{before} rounds before the rotation, {during} during it");
    // B follows to the new key alone within its watcher's period.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        assert!(client.await.expect("every call of both clients succeeded") > 0);
    }
    eprintln!("{before} rounds before the rotation, {during} during it");
    let stalled = stalled.await.unwrap().expect("the stalled CreateKey, retried after the fence refused it").key_metadata.unwrap().key_id;
    let blob = retrying_client(&b).encrypt().key_id(&stalled).plaintext(Blob::new(b"stalled".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();
    made.lock().unwrap().push((blob.into_inner(), b"stalled".to_vec()));
    decrypt_all(&a, &made).await;
    decrypt_all(&b, &made).await;
    assert!(b.log().contains("following the root key rotation"), "{}", b.log());
    assert!(b.log().contains("the old key is gone"), "{}", b.log());
    assert!(b.log().contains("the root key was rotated: retry"), "the fence refused B's writes under the old key: {}", b.log());

    // Nothing stored, and neither node's audit signing key, is under
    // generation 0; B's root.key holds the new key, as A's; the old key is
    // on neither node's disk.
    a.stop();
    b.stop();
    let store = trent_store::postgres::PostgresStore::connect(&url).await.unwrap();
    let after = generations_in(&store, &[&a.data_dir(), &b.data_dir()]).await;
    assert_eq!(after.keys().copied().collect::<Vec<_>>(), vec![1], "{after:?}");
    assert_eq!((signing_key_generation(&a), signing_key_generation(&b)), (1, 1));
    let new_root = std::fs::read(a.data_dir().join("root.key")).unwrap();
    assert_ne!(new_root, old_root);
    assert_eq!(std::fs::read(b.data_dir().join("root.key")).unwrap(), new_root, "B wrote the new key to its own root.key");
    assert_eq!(find_in_files(&a.data_dir(), &old_root), Vec::<String>::new());
    assert_eq!(find_in_files(&b.data_dir(), &old_root), Vec::<String>::new());
    audit_verifies(&a);
    audit_verifies(&b);

    a.start_again(&args);
    b.start_again(&args);
    decrypt_all(&a, &made).await;
    decrypt_all(&b, &made).await;

    // C was down throughout: with the new root.key (file mode) it finds its
    // audit signing key under a generation no node holds any more.
    std::fs::copy(a.data_dir().join("root.key"), c.data_dir().join("root.key")).unwrap();
    let refused = c.serve_refused(&args, &[]);
    assert!(refused.contains("not running while another node rotated the root key") && refused.contains("Nothing in the store is lost"), "{refused}");
    let kept = c.data_dir().with_file_name("audit-before-rotation");
    std::fs::rename(c.data_dir().join("audit"), &kept).unwrap();
    c.start_again(&args);
    decrypt_all(&c, &made).await;
    assert_eq!(signing_key_generation(&c), 1, "a new signing key, under the new root key");
    let mut logs: Vec<String> = std::fs::read_dir(&kept).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "jsonl")).map(|p| p.display().to_string()).collect();
    logs.sort();
    let public_key = kept.join("public-key.pem").display().to_string();
    let mut verify = vec!["audit", "verify", "--public-key", public_key.as_str()];
    logs.iter().for_each(|log| verify.extend(["--log", log.as_str()]));
    let (ok, out, err) = c.cli(&verify, &[], "");
    assert!(ok, "C's old log still verifies with its public key: {out}{err}");
    a.stop();
    b.stop();
    c.stop();
    drop(store);
    drop_schema(&base, &schema).await;
}

/// The rotating node killed (kill -9, at a test hook) after its first
/// resealed batch: both nodes go on reading everything (B follows, A
/// adopts the record as it starts again), and `rotate-root` called on the
/// OTHER node resumes and finishes; A then follows to the new key alone.
#[tokio::test(flavor = "multi_thread")]
async fn the_rotating_node_killed_midway_and_the_other_node_finishes() {
    let Some((url, base, schema)) = postgres_schema("pgrot").await else { return };
    let args = ["--store", url.as_str()];
    let mut a = Trent::unstarted(&[("TRENT_TEST_ROTATE_ROOT_CRASH_AT", "batch")]);
    a.start_again(&args);
    let mut b = node_beside(&a, &args, &[]);
    let made: Made = Arc::default();
    write_some_with(&retrying_client(&a), &made, 5).await;

    let rotate = |node: &Trent| rotate_online_at(node, &node.endpoint(), &["--batch-size", "1"], &operator(node), "");
    let (ok, _, err) = rotate(&a);
    assert!(!ok, "{err}");
    a.wait_exited(Duration::from_secs(20));
    assert!(a.log().contains("stopping here"), "{}", a.log());
    let store = trent_store::postgres::PostgresStore::connect(&url).await.unwrap();
    let midway = generations_in(&store, &[]).await;
    assert_eq!(midway.keys().copied().collect::<Vec<_>>(), vec![0, 1], "half resealed: {midway:?}");

    write_some_with(&retrying_client(&b), &made, 2).await;
    a.remove_env("TRENT_TEST_ROTATE_ROOT_CRASH_AT");
    a.start_again(&args);
    decrypt_all(&a, &made).await;
    decrypt_all(&b, &made).await;
    let (ok, out, err) = rotate(&b);
    assert!(ok && out.contains("generation 1"), "{out}{err}\n{}", b.log());
    tokio::time::sleep(Duration::from_secs(2)).await;
    write_some_with(&retrying_client(&a), &made, 1).await;
    decrypt_all(&a, &made).await;
    decrypt_all(&b, &made).await;
    a.stop();
    b.stop();
    let after = generations_in(&store, &[&a.data_dir(), &b.data_dir()]).await;
    assert_eq!(after.keys().copied().collect::<Vec<_>>(), vec![1], "{after:?}");
    assert_eq!(std::fs::read(a.data_dir().join("root.key")).unwrap(), std::fs::read(b.data_dir().join("root.key")).unwrap(), "A wrote the new key B committed");
    audit_verifies(&a);
    audit_verifies(&b);
    a.start_again(&args);
    b.start_again(&args);
    decrypt_all(&a, &made).await;
    decrypt_all(&b, &made).await;
    a.stop();
    b.stop();
    drop(store);
    drop_schema(&base, &schema).await;
}

/// Passphrase mode on two nodes: the configuration in the database wraps
/// the new key under the same passphrase, so B, which follows without
/// writing anything of its own but its audit key, opens the new key at its
/// next start with the passphrase it always had.
#[tokio::test(flavor = "multi_thread")]
async fn passphrase_nodes_follow_and_start_again_with_the_same_passphrase() {
    let Some((url, base, schema)) = postgres_schema("pgrot").await else { return };
    let args = ["--store", url.as_str()];
    let env = [common::seal::CHEAP_ARGON2, ("TRENT_PASSPHRASE", "correct horse battery staple")];
    let mut a = Trent::unstarted(&env);
    let dir = a.data_dir().display().to_string();
    let (ok, _, err) = a.cli(&["init", "--data-dir", &dir, "--seal", "passphrase", "--store", &url], &[], "");
    assert!(ok, "{err}");
    a.start_again(&args);
    let mut b = node_beside(&a, &args, &env);
    let made: Made = Arc::default();
    write_some_with(&retrying_client(&a), &made, 3).await;
    write_some_with(&retrying_client(&b), &made, 3).await;

    let (ok, out, err) = rotate_online_at(&a, &a.endpoint(), &[], &operator(&a), "");
    assert!(ok && out.contains("generation 1"), "{out}{err}\n{}", a.log());
    tokio::time::sleep(Duration::from_secs(2)).await;
    write_some_with(&retrying_client(&b), &made, 1).await;
    assert!(b.log().contains("the old key is gone"), "{}", b.log());
    b.stop();
    b.start_again(&args);
    decrypt_all(&b, &made).await;
    decrypt_all(&a, &made).await;
    a.stop();
    b.stop();
    let store = trent_store::postgres::PostgresStore::connect(&url).await.unwrap();
    let after = generations_in(&store, &[&a.data_dir(), &b.data_dir()]).await;
    assert_eq!(after.keys().copied().collect::<Vec<_>>(), vec![1], "{after:?}");
    assert!(!b.data_dir().join("root.key").exists(), "no key file appears in passphrase mode");
    audit_verifies(&b);
    drop(store);
    drop_schema(&base, &schema).await;
}
