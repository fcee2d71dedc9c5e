//! `trent xks-proxy` with its keys in a PKCS#11 token (SoftHSM2, one token
//! per test): the round-trip, tamper, disabled and unknown-key cases of
//! xks_proxy.rs over the PKCS#11 backend, plus what only a token has (keys
//! made elsewhere, the PIN's sources, the token going away).

#[allow(unused_macros)] // assert_err! is for the other test files.
mod common;
#[allow(dead_code)] // xks_proxy.rs uses the rest of the harness.
mod xks;

use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::softhsm::{TestToken, USER_PIN};
use serde_json::{json, Value};
use xks::Proxy;

const LABEL: &str = "xks-token";

/// The proxy first: it is stopped before the token's files go.
struct OnToken {
    proxy: Proxy,
    token: TestToken,
}

fn pkcs11_args(token: &TestToken, pin_file: Option<&std::path::Path>) -> Vec<String> {
    let mut args = vec!["--pkcs11-module".to_string(), token.module.display().to_string(), "--pkcs11-token-label".into(), LABEL.into()];
    if let Some(pin_file) = pin_file {
        args.extend(["--pkcs11-pin-file".to_string(), pin_file.display().to_string()]);
    }
    args
}

/// A token with key-1 made by `trent xks-proxy key create --pkcs11-...`
/// (PIN in a file), and the proxy on it; `None` without SoftHSM2.
fn start(test: &str) -> Option<OnToken> {
    start_with(test, &[])
}

/// As [`start`], with `server_args` for the proxy server only.
fn start_with(test: &str, server_args: &[&str]) -> Option<OnToken> {
    let token = TestToken::new(test, LABEL)?;
    let pin_file = token.path().join("user.pin");
    std::fs::write(&pin_file, format!("{USER_PIN}\n")).unwrap();
    let env = token.env().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let proxy = Proxy::start_full(true, pkcs11_args(&token, Some(&pin_file)), server_args, env);
    Some(OnToken { proxy, token })
}

fn metadata(op: &str) -> Value {
    json!({"awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice", "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", "kmsOperation": op, "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae"})
}

fn encrypt(proxy: &Proxy, key: &str, plaintext: &[u8], aad: &[u8]) -> xks::Response {
    let body = json!({
        "requestMetadata": metadata("Encrypt"),
        "plaintext": STANDARD.encode(plaintext),
        "additionalAuthenticatedData": STANDARD.encode(aad),
        "encryptionAlgorithm": "AES_GCM",
    });
    proxy.call(&Proxy::path(&format!("keys/{key}/encrypt")), &body.to_string())
}

fn decrypt_body(encrypted: &Value, aad: &[u8]) -> Value {
    json!({
        "requestMetadata": metadata("Decrypt"),
        "ciphertext": encrypted["ciphertext"],
        "encryptionAlgorithm": "AES_GCM",
        "initializationVector": encrypted["initializationVector"],
        "authenticationTag": encrypted["authenticationTag"],
        "additionalAuthenticatedData": STANDARD.encode(aad),
    })
}

fn decrypt(proxy: &Proxy, key: &str, body: &Value) -> xks::Response {
    proxy.call(&Proxy::path(&format!("keys/{key}/decrypt")), &body.to_string())
}

fn plaintext_of(r: &xks::Response) -> Vec<u8> {
    STANDARD.decode(r.body["plaintext"].as_str().expect("plaintext")).expect("base64")
}

fn key_metadata(proxy: &Proxy, key: &str) -> xks::Response {
    proxy.call(&Proxy::path(&format!("keys/{key}/metadata")), &json!({"requestMetadata": metadata("DescribeKey")}).to_string())
}

#[test]
fn health_reports_the_token() {
    let Some(t) = start("health_reports_the_token") else { return };
    let r = t.proxy.call(&Proxy::path("health"), &json!({"requestMetadata": {"kmsOperation": "KmsHealthCheck", "kmsRequestId": "1"}}).to_string());
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["ekmVendor"], "PKCS#11");
    let fleet = r.body["ekmFleetDetails"].as_array().unwrap();
    assert_eq!(fleet.len(), 1);
    assert_eq!(fleet[0]["healthStatus"], "ACTIVE");
    assert!(fleet[0]["id"].as_str().unwrap().contains(LABEL), "{r:?}");
}

#[test]
fn keys_live_in_the_token_sensitive_and_never_extractable() {
    let Some(t) = start("keys_live_in_the_token_sensitive_and_never_extractable") else { return };
    assert_eq!(t.token.secret_key_labels(), vec!["key-1".to_string()]);
    let out = t.token.tool(USER_PIN, &["--list-objects", "--type", "secrkey"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("sensitive") && listing.contains("never extractable"), "{listing}");
    // The data directory holds the key's state, never its material.
    assert!(!t.proxy.dir.path().join("keys/key-1.json").exists());
    let state: Value = serde_json::from_slice(&std::fs::read(t.proxy.dir.path().join("token-keys/key-1.json")).unwrap()).unwrap();
    assert_eq!(state["status"], "ENABLED");
    assert!(state.get("material").is_none());
    // Creating it again is refused (one key per label).
    let again = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["xks-proxy", "key", "create", "--key-id", "key-1", "--data-dir"])
        .arg(t.proxy.dir.path())
        .args(&t.proxy.backend_args)
        .envs(t.proxy.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_eq!(t.token.secret_key_labels().len(), 1);
}

#[test]
fn round_trip_and_tampering_in_the_token() {
    let Some(t) = start("round_trip_and_tampering_in_the_token") else { return };
    let p = &t.proxy;
    let m = key_metadata(p, "key-1");
    assert_eq!((m.status, &m.body), (200, &json!({"keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED"})));
    for plaintext in [b"a 32-byte data key, for example!".as_slice(), b""] {
        let e = encrypt(p, "key-1", plaintext, b"");
        assert_eq!(e.status, 200, "{e:?}");
        let d = decrypt(p, "key-1", &decrypt_body(&e.body, b""));
        assert_eq!((d.status, plaintext_of(&d)), (200, plaintext.to_vec()), "{d:?}");
    }
    let aad = b"context";
    let e = encrypt(p, "key-1", b"secret data key", aad);
    assert_eq!(e.status, 200, "{e:?}");
    assert_eq!(STANDARD.decode(e.body["initializationVector"].as_str().unwrap()).unwrap().len(), 12);
    assert_eq!(STANDARD.decode(e.body["authenticationTag"].as_str().unwrap()).unwrap().len(), 16);
    let flip = |field: &str| {
        let mut bytes = STANDARD.decode(e.body[field].as_str().unwrap()).unwrap();
        bytes[0] ^= 1;
        STANDARD.encode(bytes)
    };
    let mut cases = vec![("no AAD", decrypt_body(&e.body, b"")), ("other AAD", decrypt_body(&e.body, b"contexT"))];
    for field in ["ciphertext", "initializationVector", "authenticationTag"] {
        let mut body = decrypt_body(&e.body, aad);
        body[field] = flip(field).into();
        cases.push((field, body));
    }
    let mut body = decrypt_body(&e.body, aad);
    body["ciphertextMetadata"] = STANDARD.encode(b"v1").into();
    cases.push(("ciphertextMetadata", body));
    let mut body = decrypt_body(&e.body, aad);
    body["initializationVector"] = STANDARD.encode([0u8; 16]).into();
    cases.push(("16-byte IV", body));
    for (what, body) in cases {
        let d = decrypt(p, "key-1", &body);
        assert_eq!((d.status, d.error_name()), (400, "InvalidCiphertextException"), "{what}: {d:?}");
        assert!(d.body.get("plaintext").is_none());
    }
    let d = decrypt(p, "key-1", &decrypt_body(&e.body, aad));
    assert_eq!(plaintext_of(&d), b"secret data key");
}

#[test]
fn a_disabled_token_key_says_so_and_refuses_to_encrypt_or_decrypt() {
    let Some(t) = start("a_disabled_token_key_says_so_and_refuses_to_encrypt_or_decrypt") else { return };
    let p = &t.proxy;
    let e = encrypt(p, "key-1", b"data", b"");
    assert_eq!(e.status, 200, "{e:?}");
    assert_eq!(p.trent(&["key", "disable", "--key-id", "key-1"]).trim(), "key-1\tDISABLED");
    assert_eq!(p.trent(&["key", "list"]), "key-1\tDISABLED\n");
    let m = key_metadata(p, "key-1");
    assert_eq!((m.status, &m.body["keyStatus"]), (200, &json!("DISABLED")));
    let e2 = encrypt(p, "key-1", b"data", b"");
    assert_eq!((e2.status, e2.error_name()), (400, "InvalidStateException"), "{e2:?}");
    let d = decrypt(p, "key-1", &decrypt_body(&e.body, b""));
    assert_eq!((d.status, d.error_name()), (400, "InvalidStateException"), "{d:?}");
    p.trent(&["key", "enable", "--key-id", "key-1"]);
    assert_eq!(plaintext_of(&decrypt(p, "key-1", &decrypt_body(&e.body, b""))), b"data");
}

#[test]
fn unknown_keys_are_not_found_and_keys_made_elsewhere_in_the_token_work() {
    let Some(t) = start("unknown_keys_are_not_found_and_keys_made_elsewhere_in_the_token_work") else { return };
    let p = &t.proxy;
    assert_eq!((key_metadata(p, "no-such-key").status, key_metadata(p, "no-such-key").error_name()), (404, "KeyNotFoundException"));
    let e = encrypt(p, "no-such-key", b"data", b"");
    assert_eq!((e.status, e.error_name()), (404, "KeyNotFoundException"), "{e:?}");
    // Disabling a key the token lacks is refused.
    let out = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["xks-proxy", "key", "disable", "--key-id", "no-such-key", "--data-dir"])
        .arg(p.dir.path())
        .args(&p.backend_args)
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(!out.status.success());

    // A key the token's administrator made (no state file: ENABLED).
    let made = t.token.tool(USER_PIN, &["--keygen", "--key-type", "AES:32", "--label", "key-2", "--sensitive"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let m = key_metadata(p, "key-2");
    assert_eq!((m.status, &m.body["keyStatus"]), (200, &json!("ENABLED")), "{m:?}");
    // key-1's ciphertext does not open under key-2.
    let e = encrypt(p, "key-1", b"data", b"");
    let d = decrypt(p, "key-2", &decrypt_body(&e.body, b""));
    assert_eq!((d.status, d.error_name()), (400, "InvalidCiphertextException"), "{d:?}");
    let e2 = encrypt(p, "key-2", b"other", b"x");
    assert_eq!(plaintext_of(&decrypt(p, "key-2", &decrypt_body(&e2.body, b"x"))), b"other");
}

#[test]
fn the_pin_comes_from_a_file_or_the_environment_and_is_never_shown() {
    let Some(token) = TestToken::new("the_pin_comes_from_a_file_or_the_environment_and_is_never_shown", LABEL) else { return };
    let dir = tempfile::tempdir().unwrap();
    let run = |pin: Option<&str>, id: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trent"));
        cmd.args(["xks-proxy", "key", "create", "--key-id", id, "--data-dir"]).arg(dir.path()).args(pkcs11_args(&token, None)).envs(token.env());
        if let Some(pin) = pin {
            cmd.env("TRENT_XKS_PKCS11_PIN", pin);
        }
        cmd.output().unwrap()
    };
    let ok = run(Some(USER_PIN), "from-env");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let wrong = run(Some("wrong-pin-4242"), "wrong");
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("PIN incorrect") && !stderr.contains("wrong-pin-4242"), "{stderr}");
    let none = run(None, "none");
    assert!(String::from_utf8_lossy(&none.stderr).contains("TRENT_XKS_PKCS11_PIN"));
    assert_eq!(token.secret_key_labels(), vec!["from-env".to_string()]);
    // No PIN on the command line: there is no such flag.
    let flag = Command::new(env!("CARGO_BIN_EXE_trent")).args(["xks-proxy", "key", "create", "--data-dir"]).arg(dir.path()).args(["--pkcs11-pin", USER_PIN]).output().unwrap();
    assert!(!flag.status.success());
}

#[test]
fn a_token_that_goes_away_is_an_internal_error_and_unhealthy_until_it_is_back() {
    let Some(t) = start("a_token_that_goes_away_is_an_internal_error_and_unhealthy_until_it_is_back") else { return };
    let p = &t.proxy;
    assert_eq!(encrypt(p, "key-1", b"data", b"").status, 200);
    t.token.move_tokens(true);
    let e = encrypt(p, "key-1", b"data", b"");
    assert_eq!((e.status, e.error_name()), (500, "InternalException"), "{e:?}");
    let r = p.call(&Proxy::path("health"), &json!({"requestMetadata": {"kmsOperation": "KmsHealthCheck", "kmsRequestId": "1"}}).to_string());
    assert_eq!(r.body["ekmFleetDetails"][0]["healthStatus"], "UNAVAILABLE", "{r:?}");

    // Back: the proxy logs in again by itself (at most once a second).
    t.token.move_tokens(false);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let e = encrypt(p, "key-1", b"data", b"");
        if e.status == 200 {
            assert_eq!(plaintext_of(&decrypt(p, "key-1", &decrypt_body(&e.body, b""))), b"data");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the proxy did not reconnect: {e:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let r = p.call(&Proxy::path("health"), &json!({"requestMetadata": {"kmsOperation": "KmsHealthCheck", "kmsRequestId": "1"}}).to_string());
    assert_eq!(r.body["ekmFleetDetails"][0]["healthStatus"], "ACTIVE", "{r:?}");
}

/// A token whose sessions stay busy past the wait bound: the request
/// answers the spec's DependencyTimeoutException (503) rather than waiting
/// for ever. One session and no wait at all, so concurrent requests meet
/// it busy (a few rounds, as the scheduler may serialize a round); every
/// other request succeeds, and the token stays usable.
#[test]
fn a_busy_token_answers_dependency_timeout() {
    let Some(t) = start_with("a_busy_token_answers_dependency_timeout", &["--pkcs11-max-sessions", "1", "--pkcs11-session-wait-ms", "0"]) else { return };
    let proxy = &t.proxy;
    let big = vec![7u8; 60_000];
    let mut timed_out = 0;
    for _ in 0..20 {
        let statuses: Vec<(u16, String)> = std::thread::scope(|s| {
            let calls: Vec<_> = (0..8).map(|_| s.spawn(|| encrypt(proxy, "key-1", &big, b"aad"))).collect();
            calls.into_iter().map(|c| c.join().unwrap()).map(|r| (r.status, r.error_name().to_string())).collect()
        });
        for (status, name) in &statuses {
            match status {
                200 => {}
                503 => {
                    assert_eq!(name, "DependencyTimeoutException");
                    timed_out += 1;
                }
                other => panic!("{other} {name}"),
            }
        }
        if timed_out > 0 {
            break;
        }
    }
    assert!(timed_out > 0, "no request of 20 rounds met the one session busy");
    let r = encrypt(proxy, "key-1", b"after", b"");
    assert_eq!(r.status, 200, "{:?}", r.body);
}
