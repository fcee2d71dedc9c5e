//! One server per data directory: a second `trent serve` on a directory a
//! server uses exits at once naming the first (two would break the audit
//! chain), the operator commands still work beside it, and a restart after
//! kill -9 takes the directory again (the lock dies with its process).

#[allow(unused_macros)] // assert_err! is for the other test files.
mod common;

use std::process::{Command, Output};

use common::{serve_refused, Trent, REGION};

fn trent_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trent")).args(args).env_remove("TRENT_DATA_DIR").output().expect("running trent")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn a_second_server_on_a_data_directory_in_use_is_refused_naming_the_first() {
    let mut trent = Trent::start(&[]);
    let kms = trent.client(REGION);
    let key_arn = kms.create_key().send().await.unwrap().key_metadata.unwrap().arn.unwrap();
    let data_dir = trent.data_dir();

    let stderr = serve_refused(&data_dir);
    assert!(stderr.contains(&format!("the data directory {} is in use by another Trent server", data_dir.display())), "{stderr}");
    let holder = format!("pid {}, started ", trent.pid());
    assert!(stderr.contains(&holder) && stderr.contains(&format!("listening on {})", trent.endpoint())), "{stderr}");
    let lock = std::fs::read_to_string(data_dir.join("lock")).unwrap();
    assert!(lock.starts_with(&holder), "{lock}");

    // The first server serves on, and the commands an operator runs beside it work.
    assert_eq!(kms.list_keys().send().await.unwrap().keys().len(), 1);
    let dir = data_dir.to_str().unwrap();
    let verify = trent_cli(&["audit", "verify", "--data-dir", dir]);
    assert!(verify.status.success(), "{}", text(&verify));
    let query = trent_cli(&["audit", "query", "--data-dir", dir, "--event-name", "CreateKey"]);
    assert!(query.status.success() && text(&query).contains("CreateKey"), "{}", text(&query));
    let account = key_arn.split(':').nth(4).unwrap();
    let admin = format!("arn:aws:iam::{account}:user/admin");
    let explain = trent_cli(&["explain", "--data-dir", dir, "--principal", &admin, "--action", "kms:Encrypt", "--key-arn", &key_arn]);
    assert!(explain.status.success() && text(&explain).contains("Allow"), "{}", text(&explain));
    let created = trent_cli(&["account", "create", "--data-dir", dir]);
    assert!(created.status.success(), "{}", text(&created));

    // One chain, written by one server, signed at its stop.
    trent.stop();
    let verify = trent_cli(&["audit", "verify", "--require-signed", "--data-dir", dir]);
    assert!(verify.status.success(), "{}", text(&verify));
    assert_eq!(std::fs::read_to_string(data_dir.join("lock")).unwrap(), "", "a clean stop names no holder");
}

#[tokio::test]
async fn a_restart_after_kill_9_takes_the_data_directory_again() {
    let mut trent = Trent::start(&[]);
    trent.client(REGION).create_key().send().await.unwrap();
    let crashed = trent.pid();
    // The harness panics if the new server does not start.
    trent.crash_restart(&[]);
    assert_ne!(trent.pid(), crashed);
    let lock = std::fs::read_to_string(trent.data_dir().join("lock")).unwrap();
    assert!(lock.starts_with(&format!("pid {}, ", trent.pid())), "{lock}");
    assert_eq!(trent.client(REGION).list_keys().send().await.unwrap().keys().len(), 1);
    // And it holds the directory as the first one did.
    let stderr = serve_refused(&trent.data_dir());
    assert!(stderr.contains(&format!("pid {}, ", trent.pid())), "{stderr}");
}
