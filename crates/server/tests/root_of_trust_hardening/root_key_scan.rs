//! After `init` in each mode that keeps no key file (passphrase, shamir,
//! pkcs11), with keys made and used: no file of the data directory, no
//! `trent backup` and no `pg_dump` of the database holds the root key's
//! 32 bytes, raw, hex or base64.
//!
//! The test learns the root key only afterwards, through a path that
//! exists anyway: `trent operator rekey --seal file` (with the current
//! passphrase, shares or PIN) writes it to `root.key`. What was scanned is
//! a copy taken before that rekey.

use std::path::{Path, PathBuf};

use base64::Engine;

use crate::common::softhsm::{TestToken, USER_PIN};
use crate::common::Trent;
use crate::common::seal::{drop_schema, init, plain_shares, postgres_schema, read_secret, rekey, unseal, CHEAP_ARGON2};
use crate::support::use_keys;

const PASSPHRASE: &str = "correct horse battery staple";

/// Every way the key could be written out: raw, hex (either case), and
/// base64 (standard and URL-safe) at each of the three alignments it can
/// have inside a longer base64 text; and each of those as a dump writes a
/// binary column (hex: PostgreSQL's bytea output).
fn encodings(key: &[u8]) -> Vec<(String, Vec<u8>)> {
    let plain = plain_encodings(key);
    let as_bytea = plain.iter().filter(|(name, _)| name != "raw").map(|(name, text)| (format!("{name} as bytea hex"), hex::encode(text).into_bytes()));
    let as_bytea: Vec<_> = as_bytea.collect();
    plain.into_iter().chain(as_bytea).collect()
}

fn plain_encodings(key: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut all = vec![("raw".to_owned(), key.to_vec()), ("hex".to_owned(), hex::encode(key).into_bytes()), ("HEX".to_owned(), hex::encode_upper(key).into_bytes())];
    for (name, engine) in [("base64", base64::engine::general_purpose::STANDARD_NO_PAD), ("base64url", base64::engine::general_purpose::URL_SAFE_NO_PAD)] {
        for shift in 0..3usize {
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(key);
            let text = engine.encode(&shifted);
            // Only the characters made of the key's bits alone.
            let (start, end) = ((shift * 8).div_ceil(6), (shift * 8 + key.len() * 8) / 6);
            all.push((format!("{name}@{shift}"), text.as_bytes()[start..end].to_vec()));
        }
    }
    all
}

/// Every file under `path` (or `path` itself) holding `key` in any encoding.
fn holders_of(path: &Path, key: &[u8]) -> Vec<String> {
    let needles = encodings(key);
    let mut found = Vec::new();
    let mut todo = vec![path.to_path_buf()];
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        for (name, needle) in &needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                found.push(format!("{} ({name})", p.display()));
            }
        }
    }
    found
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// What a thief could take, copied aside: the data directory, a `trent
/// backup` of it and, on PostgreSQL, a `pg_dump` of the schema.
fn take_copies(trent: &Trent, postgres: Option<(&str, &str)>) -> PathBuf {
    let aside = trent.data_dir().parent().unwrap().join("taken");
    std::fs::create_dir_all(&aside).unwrap();
    let backup = aside.join("backup.tar");
    let data = trent.data_dir();
    let mut args = vec!["backup", "--data-dir", data.to_str().unwrap(), "--out", backup.to_str().unwrap()];
    if postgres.is_some() {
        args.push("--files-only");
    }
    let (ok, _, err) = trent.cli(&args, &[], "");
    assert!(ok, "trent backup: {err}");
    if let Some((base, schema)) = postgres {
        let out = std::process::Command::new("pg_dump").args(["--dbname", base, "--schema", schema, "--file"]).arg(aside.join("dump.sql")).output();
        match out {
            Ok(out) => assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr)),
            Err(e) => eprintln!("pg_dump is not installed ({e}): the database is scanned through the data directory only"),
        }
        let out = std::process::Command::new("pg_dump").args(["--dbname", base, "--schema", schema, "--format", "custom", "--compress", "0", "--file"]).arg(aside.join("dump.custom")).output();
        if let Ok(out) = out {
            assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    copy_dir(&data, &aside.join("data"));
    aside
}

/// The root key, learnt by rekeying into file mode (`args`, `stdin` give
/// the current credentials).
fn root_key_by_rekey(trent: &Trent, args: &[&str], stdin: &str) -> Vec<u8> {
    let mut all = vec!["--seal", "file"];
    all.extend_from_slice(args);
    let (ok, out, err) = rekey(trent, &all, &[], stdin);
    assert!(ok, "rekey to file: {out}{err}");
    let key = std::fs::read(trent.data_dir().join("root.key")).unwrap();
    assert_eq!(key.len(), 32);
    key
}

/// Learns the root key (as [`root_key_by_rekey`]) and scans what was
/// taken for it; checks the scan would find the key if it were there.
fn assert_root_key_not_taken(trent: &Trent, taken: &Path, rekey_args: &[&str], stdin: &str) {
    let key = root_key_by_rekey(trent, rekey_args, stdin);
    assert_eq!(holders_of(taken, &key), Vec::<String>::new(), "the root key is in what a thief could take");
    let canary = taken.join("canary");
    let text = format!("x{}y", base64::engine::general_purpose::STANDARD.encode([&[7u8][..], &key].concat()));
    std::fs::write(&canary, text).unwrap();
    let found = holders_of(&canary, &key);
    assert!(found.contains(&format!("{} (base64@1)", canary.display())), "the scan missed the key in base64: {found:?}");
    std::fs::remove_file(&canary).unwrap();
}

/// A deployment that opens by itself (passphrase, pkcs11) served, its keys
/// used and read back after a restart; then what a thief could take,
/// copied aside, and the server stopped.
async fn use_across_a_restart_and_take(trent: &mut Trent) -> PathBuf {
    trent.start_again(&[]);
    let ciphertext = use_keys(trent).await;
    trent.restart(&[]);
    read_secret(trent, &ciphertext).await;
    let taken = take_copies(trent, None);
    trent.stop();
    taken
}

#[tokio::test(flavor = "multi_thread")]
async fn passphrase_mode_writes_the_root_key_nowhere() {
    let env = [CHEAP_ARGON2, ("TRENT_PASSPHRASE", PASSPHRASE)];
    let mut trent = Trent::unstarted(&env);
    let (ok, _, err) = init(&trent, &["--seal", "passphrase"], &[]);
    assert!(ok, "{err}");
    let taken = use_across_a_restart_and_take(&mut trent).await;
    assert_root_key_not_taken(&trent, &taken, &[], "");
    assert_eq!(holders_of(&taken, PASSPHRASE.as_bytes()).len(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn shamir_mode_writes_the_root_key_nowhere() {
    let mut trent = Trent::unstarted(&[]);
    let (ok, out, err) = init(&trent, &["--seal", "shamir", "--shares", "3", "--threshold", "2"], &[]);
    assert!(ok, "{err}");
    let shares = plain_shares(&out);
    trent.start_again(&[]);
    unseal(&trent, &shares[0]).unwrap();
    unseal(&trent, &shares[2]).unwrap();
    use_keys(&trent).await;
    let taken = take_copies(&trent, None);
    trent.stop();
    assert_root_key_not_taken(&trent, &taken, &[], &format!("{}\n{}\n", shares[1], shares[2]));
}

#[tokio::test(flavor = "multi_thread")]
async fn shamir_mode_on_postgres_writes_the_root_key_in_no_dump() {
    let Some((url, base, schema)) = postgres_schema("trent_scan").await else { return };
    let store = ["--store", url.as_str()];
    let mut trent = Trent::unstarted(&[]);
    let mut args = vec!["--seal", "shamir", "--shares", "2", "--threshold", "2"];
    args.extend_from_slice(&store);
    let (ok, out, err) = init(&trent, &args, &[]);
    assert!(ok, "{err}");
    let shares = plain_shares(&out);
    trent.start_again(&store);
    unseal(&trent, &shares[0]).unwrap();
    unseal(&trent, &shares[1]).unwrap();
    use_keys(&trent).await;
    let taken = take_copies(&trent, Some((&base, &schema)));
    trent.stop();
    assert_root_key_not_taken(&trent, &taken, &store, &format!("{}\n{}\n", shares[0], shares[1]));
    drop_schema(&base, &schema).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pkcs11_mode_writes_the_root_key_nowhere() {
    let Some(token) = TestToken::new("pkcs11_scan", "trent-scan") else { return };
    let conf = token.conf().display().to_string();
    let module = token.module.display().to_string();
    let mut trent = Trent::unstarted(&[("SOFTHSM2_CONF", &conf), ("TRENT_PKCS11_PIN", USER_PIN)]);
    let (ok, _, err) = init(&trent, &["--seal", "pkcs11", "--pkcs11-module", &module, "--pkcs11-token-label", "trent-scan"], &[]);
    assert!(ok, "{err}");
    let taken = use_across_a_restart_and_take(&mut trent).await;
    assert_root_key_not_taken(&trent, &taken, &[], "");
}
