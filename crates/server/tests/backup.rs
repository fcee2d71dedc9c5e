//! `trent backup` while the server serves writes, then `trent restore`
//! into a new data directory: a server started there decrypts every
//! ciphertext acknowledged before the backup began, under keys created
//! during the writes too, and its audit log verifies.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use common::{Trent, REGION};

fn trent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trent")).args(args).env_remove("TRENT_DATA_DIR").output().expect("running trent")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// One acknowledged Encrypt: when its answer came, the ciphertext, the plaintext.
type Acked = (Instant, Vec<u8>, Vec<u8>);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_during_writes_restores_to_a_server_that_decrypts_everything_acknowledged_before_it() {
    let source = Trent::start(&[]);
    let kms = source.client(REGION);
    let first_key = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3u8 {
        let (kms, acked, stop, first_key) = (kms.clone(), acked.clone(), stop.clone(), first_key.clone());
        writers.push(tokio::spawn(async move {
            let mut key = first_key;
            let mut i = 0u32;
            while !stop.load(Ordering::SeqCst) {
                // Now and then a new key, so the backup must hold keys made during the writes.
                if i.is_multiple_of(10) {
                    key = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
                }
                let plaintext = format!("writer {w} message {i}").into_bytes();
                let out = kms.encrypt().key_id(&key).plaintext(Blob::new(plaintext.clone())).send().await.unwrap();
                acked.lock().unwrap().push((Instant::now(), out.ciphertext_blob.unwrap().into_inner(), plaintext));
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;

    let backup_file = source.data_dir().with_file_name("backup.tar");
    let began = Instant::now();
    let out = tokio::task::spawn_blocking({
        let (dir, file) = (source.data_dir(), backup_file.clone());
        move || trent(&["backup", "--data-dir", path(&dir), "--out", path(&file)])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "backup failed: {}", String::from_utf8_lossy(&out.stderr));
    let written_during = acked.lock().unwrap().iter().filter(|(at, _, _)| *at > began).count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let before: Vec<Acked> = acked.lock().unwrap().iter().filter(|(at, _, _)| *at < began).cloned().collect();
    assert!(before.len() >= 20, "only {} encryptions before the backup", before.len());
    eprintln!("{} acknowledged before the backup, {written_during} while it ran", before.len());

    let restored = Trent::start_prepared(&[], |dir| {
        let out = trent(&["restore", "--from", path(&backup_file), "--data-dir", path(dir)]);
        assert!(out.status.success(), "restore failed: {}", String::from_utf8_lossy(&out.stderr));
    });
    let kms = restored.client(REGION);
    for (_, ciphertext, plaintext) in &before {
        let out = kms.decrypt().ciphertext_blob(Blob::new(ciphertext.clone())).send().await.expect("a ciphertext acknowledged before the backup decrypts");
        assert_eq!(out.plaintext.unwrap().into_inner(), *plaintext);
    }
    // The restored log goes on from the copy and verifies whole.
    let mut restored = restored;
    restored.stop();
    let out = trent(&["audit", "verify", "--data-dir", path(&restored.data_dir())]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

fn backup_of_a_stopped_server() -> (Trent, PathBuf) {
    let mut source = Trent::start(&[]);
    source.stop();
    let file = source.data_dir().with_file_name("backup.tar");
    let out = trent(&["backup", "--data-dir", path(&source.data_dir()), "--out", path(&file)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (source, file)
}

#[test]
fn restore_makes_a_new_directory_only_and_refuses_a_damaged_backup() {
    let (source, file) = backup_of_a_stopped_server();
    let again = trent(&["backup", "--data-dir", path(&source.data_dir()), "--out", path(&file)]);
    assert!(!again.status.success(), "an existing backup file is never overwritten");

    // Into a directory that holds anything: refused, and nothing changed.
    let busy = file.with_file_name("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("keep"), "x").unwrap();
    let out = trent(&["restore", "--from", path(&file), "--data-dir", path(&busy)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    // One byte of the root key changed: refused, no directory made.
    let mut bytes = std::fs::read(&file).unwrap();
    let root_key = std::fs::read(source.data_dir().join("root.key")).unwrap();
    let at = bytes.windows(root_key.len()).position(|w| w == root_key).expect("the root key is in the archive as the directory holds it");
    bytes[at] ^= 1;
    let damaged = file.with_file_name("damaged.tar");
    std::fs::write(&damaged, &bytes).unwrap();
    let target = file.with_file_name("from-damaged");
    let out = trent(&["restore", "--from", path(&damaged), "--data-dir", path(&target)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("root.key does not match its manifest"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!target.exists());

    // Cut short: refused.
    let cut = file.with_file_name("cut.tar");
    std::fs::write(&cut, &std::fs::read(&file).unwrap()[..2048]).unwrap();
    assert!(!trent(&["restore", "--from", path(&cut), "--data-dir", path(&target)]).status.success());
    assert!(!target.exists());

    // An empty directory is fine, and the restored files are private.
    std::fs::create_dir(&target).unwrap();
    let out = trent(&["restore", "--from", path(&file), "--data-dir", path(&target)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(target.join("root.key")).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(!target.join("lock").exists(), "the source server's lock is not copied");
}

#[test]
fn files_only_leaves_the_database_out_and_a_directory_without_one_needs_it() {
    let (source, file) = backup_of_a_stopped_server();
    let no_db = file.with_file_name("no-db");
    std::fs::create_dir(&no_db).unwrap();
    std::fs::copy(source.data_dir().join("root.key"), no_db.join("root.key")).unwrap();
    let out_file = file.with_file_name("files.tar");
    let out = trent(&["backup", "--data-dir", path(&no_db), "--out", path(&out_file)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--files-only"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = trent(&["backup", "--data-dir", path(&no_db), "--out", path(&out_file), "--files-only"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let target = file.with_file_name("files-restored");
    assert!(trent(&["restore", "--from", path(&out_file), "--data-dir", path(&target)]).status.success());
    assert_eq!(std::fs::read(target.join("root.key")).unwrap(), std::fs::read(no_db.join("root.key")).unwrap());
    assert!(!target.join("trent.db").exists());
}
