//! The audit log's durability through the real server: concurrent requests
//! each get their event in one chain, a kill -9 loses none of the answered
//! ones, a torn last line is cut at the next start while a damaged record
//! refuses it, `trent audit verify` tells a torn last line from an edit,
//! files rotate by time, and `--audit-on-failure log` serves on.

#[allow(unused_macros)] // assert_err! is for the other test files.
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use common::{serve_refused, Trent, REGION};
use serde_json::Value;


fn records(data_dir: &Path) -> Vec<Value> {
    common::audit_files(data_dir).iter().flat_map(|f| std::fs::read_to_string(f).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<Value>>()).collect()
}

fn request_ids(data_dir: &Path) -> Vec<String> {
    records(data_dir).iter().filter(|r| r["recordType"] == "event").map(|r| r["event"]["requestID"].as_str().unwrap().to_owned()).collect()
}

fn verify(data_dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trent")).args(["audit", "verify", "--data-dir", data_dir.to_str().unwrap()]).output().unwrap();
    (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn concurrent_requests_are_chained_and_a_crash_loses_no_answered_event() {
    // A long sync interval: only the write before the answer protects these events from a crash.
    let mut trent = Trent::start(&["--audit-sync-interval-ms", "60000", "--audit-digest-interval-secs", "3600"]);
    let kms = trent.client(REGION);
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let mut expected = vec![];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (kms, key_id) = (kms.clone(), key.key_id().to_owned());
        tasks.spawn(async move { kms.encrypt().key_id(key_id).plaintext(Blob::new(format!("concurrent {i}"))).send().await.unwrap().request_id().unwrap().to_owned() });
    }
    while let Some(id) = tasks.join_next().await {
        expected.push(id.unwrap());
    }
    trent.crash_restart(&[]);
    let logged = request_ids(&trent.data_dir());
    assert_eq!(logged.len(), 41, "the CreateKey and the 40 Encrypts, each once");
    for id in &expected {
        assert_eq!(logged.iter().filter(|l| *l == id).count(), 1, "request {id}");
    }
    let seqs: Vec<u64> = records(&trent.data_dir()).iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "one sequence, no gaps");
    let (code, out) = verify(&trent.data_dir());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not yet signed"), "the crash left an unsigned tail: {out}");

    // The chain goes on across the restart, and a clean stop signs it.
    let kms = trent.client(REGION);
    kms.list_keys().send().await.unwrap();
    trent.stop();
    let out = Command::new(env!("CARGO_BIN_EXE_trent")).args(["audit", "verify", "--require-signed", "--data-dir", trent.data_dir().to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test]
async fn a_torn_last_line_is_cut_and_a_damaged_record_refuses_the_start() {
    let mut trent = Trent::start(&[]);
    trent.client(REGION).create_key().send().await.unwrap();
    trent.stop();
    let file = common::audit_files(&trent.data_dir()).pop().unwrap();
    let intact = std::fs::read_to_string(&file).unwrap();
    // What a power failure in the middle of a write leaves.
    std::fs::write(&file, format!("{intact}{{\"seq\":3,\"prevHash\":\"00")).unwrap();
    trent.restart(&[]);
    trent.client(REGION).list_keys().send().await.unwrap();
    trent.stop();
    assert!(trent.log().contains("cutting a torn last audit record"), "{}", trent.log());
    let (code, out) = verify(&trent.data_dir());
    assert_eq!(code, 0, "{out}");
    assert_eq!(request_ids(&trent.data_dir()).len(), 2);

    // A complete last record that does not match its hash is not a torn write: no start.
    let text = std::fs::read_to_string(&file).unwrap();
    let last = text.lines().last().unwrap().to_owned();
    assert!(last.contains("\"recordType\":\"digest\""), "a clean stop ends with a digest: {last}");
    std::fs::write(&file, text.replace(&last, &last.replace("\"digestTime\":\"2", "\"digestTime\":\"1"))).unwrap();
    let stderr = serve_refused(&trent.data_dir());
    assert!(stderr.contains("is damaged") && stderr.contains("trent audit verify"), "{stderr}");
}

#[tokio::test]
async fn only_the_newest_files_torn_line_is_cut_at_start() {
    let mut trent = Trent::start(&[]);
    trent.client(REGION).create_key().send().await.unwrap();
    trent.stop();
    let file = common::audit_files(&trent.data_dir()).pop().unwrap();
    let seqs = records(&trent.data_dir()).len();
    // An empty newer file, as a crash right after a rotation leaves; the older file's newline cut.
    std::fs::write(trent.data_dir().join(format!("audit/audit-{:020}.jsonl", seqs + 1)), "").unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.trim_end_matches('\n')).unwrap();
    let stderr = serve_refused(&trent.data_dir());
    assert!(stderr.contains("a newer file follows") && stderr.contains("trent audit verify"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text.trim_end_matches('\n'), "nothing was cut");
    assert_eq!(verify(&trent.data_dir()).0, 1);
}

#[tokio::test]
async fn verify_tells_a_torn_last_line_from_an_edit() {
    let mut trent = Trent::start(&[]);
    trent.client(REGION).create_key().send().await.unwrap();
    trent.kill();
    let file = common::audit_files(&trent.data_dir()).pop().unwrap();
    let intact = std::fs::read_to_string(&file).unwrap();
    let last: Value = serde_json::from_str(intact.lines().last().unwrap()).unwrap();
    // What a crash in the middle of the next write leaves: the start of the next record.
    let torn = format!(r#"{{"seq":{},"prevHash":"{}","recordType":"event","event":{{"eventVersion":"1."#, last["seq"].as_u64().unwrap() + 1, last["hash"].as_str().unwrap());
    std::fs::write(&file, format!("{intact}{torn}")).unwrap();
    let (code, out) = verify(&trent.data_dir());
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("TORN: ") && out.contains("crash") && !out.contains("OK:"), "{out}");

    // An edited record before it is tampering all the same.
    assert!(intact.contains(r#""eventName":"CreateKey""#));
    std::fs::write(&file, format!("{}{torn}", intact.replacen(r#""eventName":"CreateKey""#, r#""eventName":"ListKeys""#, 1))).unwrap();
    let (code, out) = verify(&trent.data_dir());
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("FAILED: record seq 1 ") && out.contains("altered"), "{out}");
    // So is a last line without its newline that does not start the next record.
    std::fs::write(&file, format!("{intact}{}", torn.replacen(r#"{"seq":"#, r#"{"seq":1"#, 1))).unwrap();
    let (code, out) = verify(&trent.data_dir());
    assert_eq!(code, 1, "{out}");

    // The next start cuts the torn line, and the log verifies.
    std::fs::write(&file, format!("{intact}{torn}")).unwrap();
    trent.restart(&[]);
    trent.stop();
    let (code, out) = verify(&trent.data_dir());
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK: "), "{out}");
}

#[tokio::test]
async fn files_rotate_by_age_and_the_chain_runs_across_them() {
    let mut trent = Trent::start(&["--audit-rotate-secs", "1"]);
    let kms = trent.client(REGION);
    kms.list_keys().send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    kms.list_keys().send().await.unwrap();
    trent.stop();
    let files = common::audit_files(&trent.data_dir());
    assert_eq!(files.len(), 2, "{files:?}");
    let first = std::fs::read_to_string(&files[0]).unwrap();
    assert!(first.lines().last().unwrap().contains("\"recordType\":\"digest\""), "a rotated file ends signed: {first}");
    let (code, out) = verify(&trent.data_dir());
    assert_eq!(code, 0, "{out}");
    // Removing a whole rotated file is noticed too.
    std::fs::remove_file(&files[0]).unwrap();
    let (code, out) = verify(&trent.data_dir());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("records 1 to 2 are missing"), "{out}");
}

#[tokio::test]
async fn with_on_failure_log_requests_go_on_unaudited() {
    let trent = Trent::start(&["--audit-max-file-bytes", "1", "--audit-on-failure", "log"]);
    let kms = trent.client(REGION);
    kms.create_key().send().await.unwrap();
    let audit = trent.data_dir().join("audit");
    std::fs::rename(&audit, trent.data_dir().join("audit.moved")).unwrap();
    std::fs::write(&audit, "not a directory").unwrap();
    for _ in 0..2 {
        kms.create_key().send().await.expect("served, unaudited, as configured");
    }
    assert_eq!(kms.list_keys().send().await.unwrap().keys().len(), 3);
    assert!(trent.log().contains("serving without an audit record"), "{}", trent.log());
}
