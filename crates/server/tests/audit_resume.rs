//! The audit log resumes by itself when it can write again, without a
//! restart: after a full disk (a file size limit set on the running
//! server, so every write past it fails) and after a syslog that went
//! away. Every change that committed has its event, and the chain stays
//! whole (`trent audit verify`).

#[allow(unused_macros)] // assert_err! is for the other test files.
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Trent, REGION};

/// Sets the running server's soft file size limit (`None`: unlimited).
fn file_size_limit(trent: &Trent, bytes: Option<u64>) {
    let soft = bytes.map_or("unlimited".to_owned(), |b| b.to_string());
    let status = Command::new("prlimit").args(["--pid", &trent.pid().to_string(), &format!("--fsize={soft}:unlimited")]).status().expect("running prlimit (util-linux)");
    assert!(status.success(), "prlimit failed");
}

fn audit_bytes(data_dir: &Path) -> u64 {
    common::audit_files(data_dir).iter().map(|p| p.metadata().unwrap().len()).sum()
}

fn verify_clean(data_dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_trent")).args(["audit", "verify", "--data-dir", data_dir.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
}

async fn key_count(kms: &aws_sdk_kms::Client) -> usize {
    kms.list_keys().limit(1000).send().await.unwrap().keys().len()
}

/// Tries CreateKey until one succeeds or `within` passes.
async fn create_key_within(kms: &aws_sdk_kms::Client, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if kms.create_key().send().await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn after_a_full_disk_the_log_resumes_without_a_restart() {
    let mut trent = Trent::start(&["--dev"]);
    let kms = trent.client(REGION);
    for _ in 0..3 {
        kms.create_key().send().await.unwrap();
    }
    // Room for part of one more record: it is cut mid-line, as on a full disk.
    file_size_limit(&trent, Some(audit_bytes(&trent.data_dir()) + 100));
    let mut refused = 0;
    for _ in 0..5 {
        match kms.create_key().send().await {
            Ok(_) => {}
            Err(e) => {
                let code = common::code(&e);
                assert!(code == "KMSInternalException", "{code}: {e:?}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "nothing failed: the limit did not bite");
    // Space comes back: served again, within a few retries of the writer.
    file_size_limit(&trent, None);
    assert!(create_key_within(&kms, Duration::from_secs(10)).await, "the log did not resume; log:\n{}", trent.log());
    assert!(trent.log().contains("the audit log resumed"), "{}", trent.log());
    let keys = key_count(&kms).await;
    trent.stop();
    let created = common::successful_events(&trent.data_dir(), "CreateKey");
    assert_eq!(keys, created, "{keys} keys but {created} CreateKey events");
    verify_clean(&trent.data_dir());
}

#[tokio::test]
async fn a_change_committed_while_the_log_failed_gets_its_event_when_it_resumes() {
    // A syslog socket that is not there yet: the first event fails the log.
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("log.sock");
    let sink = format!("syslog:{}", socket_path.display());
    let mut trent = Trent::start(&["--dev", "--audit-sink", "file", "--audit-sink", &sink]);
    let kms = trent.client(REGION);
    // The key is created (the store commits before the event is written),
    // but its event cannot be written: the answer is an error.
    let err = kms.create_key().description("owed").send().await.unwrap_err();
    assert_eq!(common::code(&err), "KMSInternalException");
    let refused = kms.list_keys().send().await.unwrap_err();
    assert_eq!(common::code(&refused), "KMSInternalException", "refused while the log fails");
    // The syslog comes back.
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    assert!(create_key_within(&kms, Duration::from_secs(10)).await, "the log did not resume; log:\n{}", trent.log());
    let keys = key_count(&kms).await;
    assert_eq!(keys, 2, "the owed key and the new one");
    trent.stop();
    let created = common::successful_events(&trent.data_dir(), "CreateKey");
    assert_eq!(created, 2, "the owed CreateKey's event was written on resumption");
    verify_clean(&trent.data_dir());
    drop(socket);
}
