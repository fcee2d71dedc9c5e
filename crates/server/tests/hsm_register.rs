//! `trent hsm register` and `trent hsm list`, run as the real binary on
//! SoftHSM2 tokens each test makes in its own temporary directory (its own
//! SOFTHSM2_CONF, passed to the child only, so tests run side by side).
//!
//! Without SoftHSM2 (or openssl) the tests skip with a message, unless
//! TRENT_REQUIRE_SOFTHSM=1 (scripts/lib/softhsm.sh sets it), where they fail.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::softhsm::{module_path, tool_present};

/// The SoftHSM2 module, or `None` (with a message) when this machine lacks
/// SoftHSM2 or openssl and TRENT_REQUIRE_SOFTHSM is not 1.
fn softhsm(test: &str) -> Option<PathBuf> {
    let module = module_path();
    let missing = match (&module, tool_present("softhsm2-util"), tool_present("openssl")) {
        (Some(_), true, true) => return module,
        (_, _, true) => "SoftHSM2 (Debian's softhsm2)",
        _ => "openssl",
    };
    if std::env::var("TRENT_REQUIRE_SOFTHSM").as_deref() == Ok("1") {
        panic!("{test}: {missing} is required (TRENT_REQUIRE_SOFTHSM=1) but missing; scripts/lib/softhsm.sh installs it");
    }
    eprintln!("skipping {test}: {missing} is not installed");
    None
}

/// A SoftHSM2 token directory and the configuration that points at it.
struct SoftToken {
    conf: PathBuf,
}

impl SoftToken {
    /// A fresh token labelled `label` under `dir`.
    fn init(dir: &Path, label: &str) -> SoftToken {
        let token = SoftToken::at(dir);
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &token.conf)
            .args(["--init-token", "--free", "--label", label, "--so-pin", "1357-so", "--pin", "2468-user"])
            .output()
            .unwrap();
        assert!(out.status.success(), "softhsm2-util --init-token: {}", String::from_utf8_lossy(&out.stderr));
        token
    }

    /// A copy of `self`'s tokens under `dir`, as a backup restored elsewhere.
    fn copy_to(&self, dir: &Path) -> SoftToken {
        let from = self.conf.parent().unwrap().join("tokens");
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("cp").arg("-a").arg(&from).arg(dir).status().unwrap();
        assert!(status.success());
        SoftToken::at(dir)
    }

    fn at(dir: &Path) -> SoftToken {
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        let text = format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", dir.join("tokens").display());
        std::fs::write(&conf, text).unwrap();
        SoftToken { conf }
    }
}

/// Runs `trent ARGS` with `token`'s configuration.
fn trent(token: Option<&SoftToken>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trent"));
    command.args(args).env_remove("TRENT_DATA_DIR");
    if let Some(token) = token {
        command.env("SOFTHSM2_CONF", &token.conf);
    }
    command.output().expect("running trent")
}

fn register(token: &SoftToken, data: &Path, id: &str, module: &Path, label: &str) -> Output {
    let (data, module) = (data.to_str().unwrap(), module.to_str().unwrap());
    trent(Some(token), &["hsm", "register", "--data-dir", data, "--cluster-id", id, "--module", module, "--token-label", label])
}

fn list(data: &Path) -> Vec<Vec<String>> {
    let out = trent(None, &["hsm", "list", "--data-dir", data.to_str().unwrap()]);
    assert!(out.status.success(), "trent hsm list: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

fn succeeded(out: &Output) -> String {
    assert!(out.status.success(), "trent failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Fails, saying `message`.
fn refused(out: &Output, message: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "trent succeeded; stdout: {}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains(message), "expected {message:?} in: {stderr}");
}

fn openssl(args: &[&str], cert: &Path) -> String {
    let out = Command::new("openssl").args(args).arg("-in").arg(cert).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The names in `dir` (hidden ones too), sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[test]
fn register_then_list() {
    let Some(module) = softhsm("register_then_list") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let token = SoftToken::init(&tmp.path().join("hsm1"), "alpha token");
    let data = tmp.path().join("data");
    let id = "cluster-234567abcde";

    let stdout = succeeded(&register(&token, &data, id, &module, "alpha token"));
    let dir = data.join("hsm").join(id);
    let cert = dir.join("customerCA.crt");
    assert!(stdout.contains(id) && stdout.contains(cert.to_str().unwrap()), "{stdout}");
    assert_eq!(entries(&data.join("hsm")), [id]);
    assert_eq!(entries(&dir), ["cluster.json", "customerCA.crt"]);

    let rows = list(&data);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let [listed_id, label, serial, listed_module] = &rows[0][..] else { panic!("{rows:?}") };
    assert_eq!((listed_id.as_str(), label.as_str(), listed_module.as_str()), (id, "alpha token", module.to_str().unwrap()));
    assert!(!serial.is_empty());

    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("cluster.json")).unwrap()).unwrap();
    assert_eq!(json["cluster_id"], id);
    assert_eq!(json["token_serial"], serial.as_str());
    let registered_at = json["registered_at"].as_str().unwrap();
    assert!(registered_at.len() == 20 && registered_at.ends_with('Z') && registered_at.as_bytes()[10] == b'T', "{registered_at}");

    // A self-signed CA naming the cluster: it verifies against itself alone.
    let subject = openssl(&["x509", "-noout", "-subject"], &cert);
    assert!(subject.contains(&format!("CN = {id}")), "{subject}");
    let issuer = openssl(&["x509", "-noout", "-issuer"], &cert);
    assert_eq!(issuer.trim_start_matches("issuer="), subject.trim_start_matches("subject="));
    let text = openssl(&["x509", "-noout", "-text"], &cert);
    assert!(text.contains("CA:TRUE") && text.contains("Certificate Sign"), "{text}");
    let out = Command::new("openssl").args(["verify", "-x509_strict", "-CAfile"]).arg(&cert).arg(&cert).output().unwrap();
    assert!(out.status.success(), "openssl verify: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn refusals_leave_nothing_behind() {
    let Some(module) = softhsm("refusals_leave_nothing_behind") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let token = SoftToken::init(&tmp.path().join("hsm1"), "beta");
    let data = tmp.path().join("data");

    for bad in ["cluster-234567abcd", "cluster-234567abcdefghijk", "cluster-234567abcd1", "Cluster-234567abcde", "cluster-../../etc", "hsm-234567abcde"] {
        refused(&register(&token, &data, bad, &module, "beta"), "is not a CloudHSM cluster id");
    }
    refused(&register(&token, &data, "cluster-234567abcde", &module, "gamma"), "no PKCS#11 token labelled \"gamma\"");
    refused(&register(&token, &data, "cluster-234567abcde", &tmp.path().join("no-such.so"), "beta"), "no-such.so");
    assert!(!data.exists(), "a refused registration left {}", data.display());

    // The id is taken: the second registration changes nothing.
    let id = "cluster-234567ABCDEfgh";
    succeeded(&register(&token, &data, id, &module, "beta"));
    let cert = data.join("hsm").join(id).join("customerCA.crt");
    let before = (std::fs::read(&cert).unwrap(), std::fs::read(cert.with_file_name("cluster.json")).unwrap());
    let other = SoftToken::init(&tmp.path().join("hsm2"), "delta");
    refused(&register(&other, &data, id, &module, "delta"), &format!("cluster {id} is already registered"));
    let after = (std::fs::read(&cert).unwrap(), std::fs::read(cert.with_file_name("cluster.json")).unwrap());
    assert!(before == after, "the registration was overwritten");
    assert_eq!(entries(&data.join("hsm")), [id]);
    assert_eq!(list(&data).len(), 1);
}

#[test]
fn copies_of_one_token_share_its_serial() {
    let Some(module) = softhsm("copies_of_one_token_share_its_serial") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let original = SoftToken::init(&tmp.path().join("hsm1"), "prod");
    let backup = original.copy_to(&tmp.path().join("hsm2"));
    // Made apart, with the same label: another token.
    let stranger = SoftToken::init(&tmp.path().join("hsm3"), "prod");

    succeeded(&register(&original, &data, "cluster-bbbbbbbbbbb", &module, "prod"));
    succeeded(&register(&backup, &data, "cluster-aaaaaaaaaaa", &module, "prod"));
    succeeded(&register(&stranger, &data, "cluster-ccccccccccc", &module, "prod"));

    let rows = list(&data);
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["cluster-aaaaaaaaaaa", "cluster-bbbbbbbbbbb", "cluster-ccccccccccc"]);
    assert_eq!(rows[0][2], rows[1][2], "a backup's serial differs: {rows:?}");
    assert_ne!(rows[1][2], rows[2][2], "two tokens share a serial: {rows:?}");
    // Each has a trust anchor of its own.
    let anchor = |id: &str| std::fs::read(data.join("hsm").join(id).join("customerCA.crt")).unwrap();
    assert_ne!(anchor("cluster-aaaaaaaaaaa"), anchor("cluster-bbbbbbbbbbb"));
}
