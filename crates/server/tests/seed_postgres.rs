//! `trent serve --seed` on several nodes of one PostgreSQL database at
//! once: every node starts, and each key and alias is made exactly once
//! (one creation audit event across all nodes). Skipped, saying so, when
//! no PostgreSQL answers at the test address or psql is missing.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::audit_events;

/// The test PostgreSQL: `TRENT_TEST_POSTGRES_URL`, else CI's local default.
fn base_url() -> String {
    std::env::var("TRENT_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn psql(sql: &str) -> bool {
    Command::new("psql").args([base_url().as_str(), "-q", "-c", sql]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

struct Schema(String);

impl Drop for Schema {
    fn drop(&mut self) {
        psql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0));
    }
}

fn serve(dir: &Path, url: &str, seed: &Path) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--store", url, "--data-dir"])
        .arg(dir)
        .arg("--seed")
        .arg(seed)
        .env_remove("TRENT_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        let _ = tx.send(first);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    (child, rx)
}

#[test]
fn nodes_seeding_one_database_at_once_make_each_thing_once() {
    let schema = Schema(format!("trent_seed_{}", uuid::Uuid::new_v4().simple()));
    if !psql(&format!("CREATE SCHEMA {}", schema.0)) {
        eprintln!("SKIPPED: no PostgreSQL (or no psql) at {}", base_url());
        return;
    }
    // The nodes use the same database as psql, in the schema made there.
    let base = base_url();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{}", schema.0);
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    // The first node's root key, copied to the second (docs/several-nodes.md).
    let made = Command::new(env!("CARGO_BIN_EXE_trent")).args(["account", "create", "--store", &url, "--data-dir"]).arg(&a).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    std::fs::create_dir(&b).unwrap();
    std::fs::copy(a.join("root.key"), b.join("root.key")).unwrap();

    let keys: Vec<serde_json::Value> = (0..12).map(|i| serde_json::json!({ "id": format!("00000000-0000-4000-8000-{i:012}"), "description": format!("k{i}") })).collect();
    let aliases: Vec<serde_json::Value> = (0..12).map(|i| serde_json::json!({ "name": format!("alias/k{i}"), "target": format!("00000000-0000-4000-8000-{i:012}") })).collect();
    let seed = tmp.path().join("seed.json");
    std::fs::write(&seed, serde_json::json!({ "keys": keys, "aliases": aliases }).to_string()).unwrap();

    let mut nodes = vec![serve(&a, &url, &seed), serve(&b, &url, &seed)];
    for (child, rx) in &mut nodes {
        let line = rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap_or_default();
        if !line.starts_with("Trent listening") {
            let _ = child.kill();
            panic!("a node did not start: {line:?}");
        }
    }
    for (child, _) in &mut nodes {
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        child.wait().unwrap();
    }
    let created = |name: &str| -> usize {
        [&a, &b].iter().flat_map(|dir| audit_events(dir)).filter(|e| e["userIdentity"]["type"] == "TrentOperator" && e["eventName"] == name).count()
    };
    assert_eq!((created("CreateKey"), created("CreateAlias")), (12, 12), "each key and alias made once across the nodes");
}
