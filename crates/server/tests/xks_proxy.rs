//! `trent xks-proxy` end to end: the real binary on TLS, called as KMS
//! calls an external key store proxy (XKS Proxy API specification v1),
//! with the specification's own example bodies where they are valid JSON.

mod common;
mod xks;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use common::seal::find_in_files;
use xks::{trent, trent_result, Credential, Proxy};

/// The spec's Encrypt request example, verbatim (plaintext "Hello World!",
/// AAD "project=nile,department=marketing", CDIV asked for).
const SPEC_ENCRYPT: &str = r#"{
    "requestMetadata": {
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "kmsOperation": "Encrypt",
        "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
        "kmsViaService": "ebs"
    }, 
    "additionalAuthenticatedData": "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n",
    "plaintext": "SGVsbG8gV29ybGQh",
    "encryptionAlgorithm": "AES_GCM",
    "ciphertextDataIntegrityValueAlgorithm": "SHA_256"
}"#;

/// The spec's GetKeyMetadata request example; it misses the comma after
/// kmsKeyArn (not JSON as printed), added here and nothing else.
const SPEC_METADATA: &str = r#"{
    "requestMetadata": {
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsKeyArn": "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "kmsOperation": "DescribeKey",
        "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
        "kmsViaService": "ebs"      
    }
}"#;

/// The spec's Decrypt request example; it misses the comma after
/// ciphertextMetadata, added here and nothing else.
const SPEC_DECRYPT: &str = r#"{
    "requestMetadata": { 
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:/key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "kmsOperation": "Decrypt",
        "kmsRequestId": "5112f4d6-db54-4af4-ae30-c55a22a8dfae",
        "kmsViaService": "ebs"
    },
    "additionalAuthenticatedData": "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n",
    "encryptionAlgorithm": "AES_GCM",
    "ciphertext": "ghxkK1txeDNn3q8Y",
    "ciphertextMetadata": "a2V5X3ZlcnNpb249MQ==",
    "initializationVector": "HMrlRw85cAJUd5Ax",
    "authenticationTag": "vBxN2ncH1oEkR8WVXpmyYQ=="
}"#;

/// The spec's GetHealthStatus request example (Appendix D's: the one in
/// the GetHealthStatus section misses a comma too).
const SPEC_HEALTH: &str = r#"{
    "requestMetadata": {
        "kmsOperation": "KmsHealthCheck",
        "kmsRequestId": "1124f4d6-db54-4af4-ae30-c55a22a8abcd"
    }
}"#;

fn metadata(op: &str) -> Value {
    json!({
        "awsPrincipalArn": "arn:aws:iam::123456789012:user/Alice",
        "kmsKeyArn": "arn:aws:kms:us-east-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "kmsOperation": op,
        "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae"
    })
}

fn encrypt_body(plaintext: &[u8], aad: Option<&[u8]>) -> String {
    let mut body = json!({
        "requestMetadata": metadata("GenerateDataKey"),
        "plaintext": STANDARD.encode(plaintext),
        "encryptionAlgorithm": "AES_GCM",
    });
    if let Some(aad) = aad {
        body["additionalAuthenticatedData"] = STANDARD.encode(aad).into();
    }
    body.to_string()
}

/// A Decrypt body from an Encrypt answer, with the AAD given.
fn decrypt_body(encrypted: &Value, aad: Option<&[u8]>) -> Value {
    let mut body = json!({
        "requestMetadata": metadata("Decrypt"),
        "ciphertext": encrypted["ciphertext"],
        "encryptionAlgorithm": "AES_GCM",
        "initializationVector": encrypted["initializationVector"],
        "authenticationTag": encrypted["authenticationTag"],
    });
    if let Some(aad) = aad {
        body["additionalAuthenticatedData"] = STANDARD.encode(aad).into();
    }
    body
}

fn plaintext_of(r: &xks::Response) -> Vec<u8> {
    STANDARD.decode(r.body["plaintext"].as_str().expect("plaintext")).expect("base64")
}

#[test]
fn health_answers_the_spec_fields() {
    let proxy = Proxy::start();
    let r = proxy.call(&Proxy::path("health"), SPEC_HEALTH);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["xksProxyFleetSize"], 1);
    assert_eq!(r.body["xksProxyVendor"], "Trent");
    assert!(r.body["xksProxyModel"].as_str().unwrap().starts_with("Trent XKS proxy"));
    assert_eq!(r.body["ekmVendor"], "Trent");
    let fleet = r.body["ekmFleetDetails"].as_array().unwrap();
    assert_eq!(fleet.len(), 1);
    assert_eq!(fleet[0]["healthStatus"], "ACTIVE");
    assert!(fleet[0]["id"].is_string() && fleet[0]["model"].is_string());
}

#[test]
fn metadata_of_the_specs_example_request() {
    let proxy = Proxy::start();
    let r = proxy.call(&Proxy::path("keys/key-1/metadata"), SPEC_METADATA);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED"}));
}

#[test]
fn the_specs_encrypt_example_round_trips_with_its_cdiv() {
    let proxy = Proxy::start();
    let r = proxy.call(&Proxy::path("keys/key-1/encrypt"), SPEC_ENCRYPT);
    assert_eq!(r.status, 200, "{r:?}");
    let field = |name: &str| STANDARD.decode(r.body[name].as_str().expect(name)).expect("base64");
    let (ciphertext, iv, tag) = (field("ciphertext"), field("initializationVector"), field("authenticationTag"));
    assert_eq!(ciphertext.len(), b"Hello World!".len());
    assert_eq!(iv.len(), 12);
    assert_eq!(tag.len(), 16);
    assert!(r.body.get("ciphertextMetadata").is_none());
    // Appendix C: SHA-256 over AAD || metadata (none) || IV || ciphertext || tag.
    let aad = b"project=nile,department=marketing";
    let joined = [aad.as_slice(), &iv, &ciphertext, &tag].concat();
    let expected = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &joined);
    assert_eq!(field("ciphertextDataIntegrityValue"), expected.as_ref());

    let d = proxy.call(&Proxy::path("keys/key-1/decrypt"), &decrypt_body(&r.body, Some(aad)).to_string());
    assert_eq!(d.status, 200, "{d:?}");
    assert_eq!(plaintext_of(&d), b"Hello World!");
}

#[test]
fn encrypt_decrypt_round_trip_without_aad_and_with_empty_plaintext() {
    let proxy = Proxy::start();
    for plaintext in [b"a 32-byte data key, for example!".as_slice(), b""] {
        let e = proxy.call(&Proxy::path("keys/key-1/encrypt"), &encrypt_body(plaintext, None));
        assert_eq!(e.status, 200, "{e:?}");
        assert!(e.body.get("ciphertextDataIntegrityValue").is_none());
        let d = proxy.call(&Proxy::path("keys/key-1/decrypt"), &decrypt_body(&e.body, None).to_string());
        assert_eq!(d.status, 200, "{d:?}");
        assert_eq!(plaintext_of(&d), plaintext);
        // Absent AAD and empty AAD are the same AAD (length 0).
        let d = proxy.call(&Proxy::path("keys/key-1/decrypt"), &decrypt_body(&e.body, Some(b"")).to_string());
        assert_eq!(d.status, 200, "{d:?}");
    }
}

#[test]
fn wrong_aad_or_tampered_fields_are_invalid_ciphertext() {
    let proxy = Proxy::start();
    let aad = b"context";
    let e = proxy.call(&Proxy::path("keys/key-1/encrypt"), &encrypt_body(b"secret data key", Some(aad)));
    assert_eq!(e.status, 200, "{e:?}");
    let flip = |field: &str| {
        let mut bytes = STANDARD.decode(e.body[field].as_str().unwrap()).unwrap();
        bytes[0] ^= 1;
        STANDARD.encode(bytes)
    };
    let mut cases = vec![
        ("no AAD", decrypt_body(&e.body, None)),
        ("other AAD", decrypt_body(&e.body, Some(b"contexT"))),
    ];
    for field in ["ciphertext", "initializationVector", "authenticationTag"] {
        let mut body = decrypt_body(&e.body, Some(aad));
        body[field] = flip(field).into();
        cases.push((field, body));
    }
    // ciphertextMetadata the encrypt did not return is bound into the AAD.
    let mut body = decrypt_body(&e.body, Some(aad));
    body["ciphertextMetadata"] = STANDARD.encode(b"v1").into();
    cases.push(("ciphertextMetadata", body));
    // AAD moved into ciphertextMetadata: the lengths keep them apart.
    let mut body = decrypt_body(&e.body, None);
    body["ciphertextMetadata"] = STANDARD.encode(aad).into();
    cases.push(("AAD as metadata", body));
    // A 16-byte IV (allowed by the spec) that this proxy never made.
    let mut body = decrypt_body(&e.body, Some(aad));
    body["initializationVector"] = STANDARD.encode([0u8; 16]).into();
    cases.push(("16-byte IV", body));
    for (what, body) in cases {
        let d = proxy.call(&Proxy::path("keys/key-1/decrypt"), &body.to_string());
        assert_eq!((d.status, d.error_name()), (400, "InvalidCiphertextException"), "{what}: {d:?}");
        assert!(d.body.get("plaintext").is_none());
    }
    // And the untouched one still decrypts.
    let d = proxy.call(&Proxy::path("keys/key-1/decrypt"), &decrypt_body(&e.body, Some(aad)).to_string());
    assert_eq!(plaintext_of(&d), b"secret data key");
}

#[test]
fn the_specs_decrypt_example_is_accepted_but_is_not_this_keys_ciphertext() {
    let proxy = Proxy::start();
    let d = proxy.call(&Proxy::path("keys/key-1/decrypt"), SPEC_DECRYPT);
    assert_eq!((d.status, d.error_name()), (400, "InvalidCiphertextException"), "{d:?}");
}

#[test]
fn a_disabled_key_says_so_and_refuses_to_encrypt_or_decrypt() {
    let proxy = Proxy::start();
    let e = proxy.call(&Proxy::path("keys/key-1/encrypt"), &encrypt_body(b"data", None));
    assert_eq!(e.status, 200);
    assert_eq!(trent(proxy.dir.path(), &["key", "disable", "--key-id", "key-1"]).trim(), "key-1\tDISABLED");
    assert_eq!(trent(proxy.dir.path(), &["key", "list"]), "key-1\tDISABLED\n");

    let m = proxy.call(&Proxy::path("keys/key-1/metadata"), SPEC_METADATA);
    assert_eq!((m.status, &m.body["keyStatus"]), (200, &json!("DISABLED")));
    let e2 = proxy.call(&Proxy::path("keys/key-1/encrypt"), &encrypt_body(b"data", None));
    assert_eq!((e2.status, e2.error_name()), (400, "InvalidStateException"), "{e2:?}");
    let d = proxy.call(&Proxy::path("keys/key-1/decrypt"), &decrypt_body(&e.body, None).to_string());
    assert_eq!((d.status, d.error_name()), (400, "InvalidStateException"), "{d:?}");

    trent(proxy.dir.path(), &["key", "enable", "--key-id", "key-1"]);
    let d = proxy.call(&Proxy::path("keys/key-1/decrypt"), &decrypt_body(&e.body, None).to_string());
    assert_eq!(plaintext_of(&d), b"data");
}

#[test]
fn an_unknown_key_is_not_found() {
    let proxy = Proxy::start();
    for (op, body) in [("metadata", SPEC_METADATA), ("encrypt", SPEC_ENCRYPT), ("decrypt", SPEC_DECRYPT)] {
        let r = proxy.call(&Proxy::path(&format!("keys/no-such-key/{op}")), body);
        assert_eq!((r.status, r.error_name()), (404, "KeyNotFoundException"), "{op}: {r:?}");
    }
    // Another key's ciphertext does not open under a new key of the same store.
    trent(proxy.dir.path(), &["key", "create", "--key-id", "key-2"]);
    let e = proxy.call(&Proxy::path("keys/key-1/encrypt"), &encrypt_body(b"data", None));
    let d = proxy.call(&Proxy::path("keys/key-2/decrypt"), &decrypt_body(&e.body, None).to_string());
    assert_eq!((d.status, d.error_name()), (400, "InvalidCiphertextException"), "{d:?}");
}

#[test]
fn requests_without_a_valid_signature_fail_authentication() {
    let proxy = Proxy::start();
    let path = Proxy::path("keys/key-1/metadata");
    let good = proxy.credential.clone();
    let wrong_secret = Credential { secret: "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE".to_string(), ..good.clone() };
    let unknown_id = Credential { access_key_id: "AKIAI2SFODNN7EXAMPLE".to_string(), ..good.clone() };
    let cases: Vec<(&str, Option<&Credential>, Tamper)> = vec![
        ("unsigned", None, Box::new(|_| {})),
        ("wrong secret", Some(&wrong_secret), Box::new(|_| {})),
        ("unknown access key id", Some(&unknown_id), Box::new(|_| {})),
        ("signature altered", Some(&good), Box::new(|h| {
            let auth = &mut h.iter_mut().find(|(n, _)| n == "authorization").unwrap().1;
            let last = auth.pop().unwrap();
            auth.push(if last == '0' { '1' } else { '0' });
        })),
        ("date an hour old", Some(&good), Box::new(|h| {
            let date = &mut h.iter_mut().find(|(n, _)| n == "x-amz-date").unwrap().1;
            *date = trent_sigv4::format_iso_basic(now() - 3600);
        })),
        ("service kms instead of kms-xks-proxy", Some(&good), Box::new(|h| {
            let auth = &mut h.iter_mut().find(|(n, _)| n == "authorization").unwrap().1;
            *auth = auth.replace("/kms-xks-proxy/", "/kms/");
        })),
    ];
    for (what, credential, tamper) in cases {
        let r = proxy.send("POST", &path, SPEC_METADATA, credential, tamper);
        assert_eq!((r.status, r.error_name()), (401, "AuthenticationFailedException"), "{what}: {r:?}");
    }
    // The signature covers the body: sign one, send another of the same length.
    let r = proxy.send_signed_for(&path, SPEC_METADATA, &SPEC_METADATA.replace("Alice", "Alicx"), &good);
    assert_eq!((r.status, r.error_name()), (401, "AuthenticationFailedException"), "body altered: {r:?}");
    // The same request, properly signed, passes.
    assert_eq!(proxy.call(&path, SPEC_METADATA).status, 200);
}

/// Changes the headers after signing.
type Tamper = Box<dyn FnOnce(&mut Vec<(String, String)>)>;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn a_second_credential_works_and_a_deleted_one_does_not() {
    let proxy = Proxy::start();
    let out = trent(proxy.dir.path(), &["credential", "create"]);
    let get = |name: &str| out.lines().find_map(|l| l.strip_prefix(name)).unwrap().trim().to_string();
    let second = Credential { access_key_id: get("AccessKeyId:"), secret: get("SecretAccessKey:") };
    let path = Proxy::path("health");
    assert_eq!(proxy.send("POST", &path, SPEC_HEALTH, Some(&second), |_| {}).status, 200);
    let listed = trent(proxy.dir.path(), &["credential", "list"]);
    assert!(listed.contains(&second.access_key_id) && listed.contains(&proxy.credential.access_key_id));
    trent(proxy.dir.path(), &["credential", "delete", "--access-key-id", &proxy.credential.access_key_id]);
    let r = proxy.call(&path, SPEC_HEALTH);
    assert_eq!((r.status, r.error_name()), (401, "AuthenticationFailedException"), "{r:?}");
    assert_eq!(proxy.send("POST", &path, SPEC_HEALTH, Some(&second), |_| {}).status, 200);
}

#[test]
fn a_wrong_uri_path_is_invalid_uri_path() {
    let proxy = Proxy::start();
    for path in [
        "/kms/xks/v1/health",
        "/other/prefix/kms/xks/v1/health",
        "/example/prefix/kms/xks/v2/health",
        "/example/prefix/kms/xks/v1/keys/key-1/sign",
        "/example/prefix/kms/xks/v1/keys/key-1",
    ] {
        let r = proxy.call(path, SPEC_METADATA);
        assert_eq!((r.status, r.error_name()), (404, "InvalidUriPathException"), "{path}: {r:?}");
    }
}

#[test]
fn get_on_an_api_uri_is_method_not_allowed() {
    let proxy = Proxy::start();
    let r = proxy.send("GET", &Proxy::path("health"), "", Some(&proxy.credential), |_| {});
    assert_eq!(r.status, 405, "{r:?}");
}

#[test]
fn malformed_requests_are_validation_errors() {
    let proxy = Proxy::start();
    let encrypt = Proxy::path("keys/key-1/encrypt");
    let valid: Value = serde_json::from_str(SPEC_ENCRYPT).unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = valid.clone();
        f(&mut v);
        v.to_string()
    };
    let cases = [
        ("not JSON", "{\"requestMetadata\": ".to_string()),
        ("a JSON array", "[]".to_string()),
        ("no requestMetadata", with(&|v| { v.as_object_mut().unwrap().remove("requestMetadata"); })),
        ("no kmsRequestId", with(&|v| { v["requestMetadata"].as_object_mut().unwrap().remove("kmsRequestId"); })),
        ("no plaintext", with(&|v| { v.as_object_mut().unwrap().remove("plaintext"); })),
        ("plaintext a number", with(&|v| v["plaintext"] = json!(5))),
        ("plaintext not Base64", with(&|v| v["plaintext"] = json!("not base64!"))),
        ("AAD not Base64", with(&|v| v["additionalAuthenticatedData"] = json!("%%%"))),
        ("another algorithm", with(&|v| v["encryptionAlgorithm"] = json!("AES_CBC"))),
        ("another CDIV algorithm", with(&|v| v["ciphertextDataIntegrityValueAlgorithm"] = json!("SHA_1"))),
    ];
    for (what, body) in cases {
        let r = proxy.call(&encrypt, &body);
        assert_eq!((r.status, r.error_name()), (400, "ValidationException"), "{what}: {r:?}");
        // The message never echoes the request's content.
        assert!(!r.body["errorMessage"].as_str().unwrap_or("").contains("SGVsbG8"), "{what}");
    }
    // Unknown members (KMS may add metadata fields) are fine.
    let r = proxy.call(&encrypt, &with(&|v| v["requestMetadata"]["kmsFutureField"] = json!("x")));
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn the_data_directory_holds_no_key_material_or_secret_in_clear() {
    let proxy = Proxy::start();
    let secret = proxy.credential.secret.clone();
    for sub in ["keys", "credentials"] {
        for entry in std::fs::read_dir(proxy.dir.path().join(sub)).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(!text.contains(&secret));
            let file: Value = serde_json::from_str(&text).unwrap();
            // Sealed: version byte, 12-byte nonce, 32 (or 44) bytes, 16-byte tag.
            let sealed = file.get("material").or(file.get("secret")).and_then(Value::as_str).unwrap();
            assert!(STANDARD.decode(sealed).unwrap().len() >= 1 + 12 + 32 + 16);
        }
    }
    // Creating a key prints only its id.
    assert_eq!(trent(proxy.dir.path(), &["key", "create", "--key-id", "k.2_x"]), "k.2_x\n");
}

#[test]
fn the_tls_port_gives_plain_http_no_answer_and_insecure_http_is_opt_in() {
    let proxy = Proxy::start();
    let plain = format!("POST {} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: 0\r\n\r\n", Proxy::path("health"));
    let answer = proxy.exchange_raw(plain.as_bytes(), false);
    assert!(!answer.starts_with(b"HTTP/"), "{}", String::from_utf8_lossy(&answer));

    // With --insecure-http the same API answers over plain HTTP, signed alike.
    let insecure = Proxy::start_with(false);
    let r = insecure.call(&Proxy::path("health"), SPEC_HEALTH);
    assert_eq!(r.status, 200, "{r:?}");
    let r = insecure.send("POST", &Proxy::path("health"), SPEC_HEALTH, None, |_| {});
    assert_eq!((r.status, r.error_name()), (401, "AuthenticationFailedException"), "{r:?}");
}

/// Runs curl as the spec's Appendix D does (`--aws-sigv4
/// "aws:amz:REGION:kms-xks-proxy"`): a signer that is not Trent's own.
fn curl(proxy: &Proxy, path: &str, body: &str, secret: &str) -> (u16, Value) {
    let out = std::process::Command::new("curl")
        .args(["--silent", "--show-error", "--aws-sigv4", "aws:amz:us-east-1:kms-xks-proxy", "--user"])
        .arg(format!("{}:{secret}", proxy.credential.access_key_id))
        .args(["-X", "POST", "-H", "Content-Type:application/json", "--data", body, "--cacert"])
        .arg(proxy.dir.path().join("cert.pem"))
        .args(["--write-out", "\n%{http_code}"])
        .arg(format!("https://localhost:{}{path}", proxy.port))
        .output()
        .expect("running curl (7.75 or later is needed for --aws-sigv4)");
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), serde_json::from_str(body).unwrap())
}

#[test]
fn curl_as_in_the_specs_appendix_d_is_accepted() {
    let proxy = Proxy::start();
    let secret = proxy.credential.secret.clone();
    let (status, e) = curl(&proxy, &Proxy::path("keys/key-1/encrypt"), SPEC_ENCRYPT, &secret);
    assert_eq!(status, 200, "{e}");
    let (status, d) = curl(&proxy, &Proxy::path("keys/key-1/decrypt"), &decrypt_body(&e, Some(b"project=nile,department=marketing")).to_string(), &secret);
    assert_eq!(status, 200, "{d}");
    assert_eq!(STANDARD.decode(d["plaintext"].as_str().unwrap()).unwrap(), b"Hello World!");
    let (status, h) = curl(&proxy, &Proxy::path("health"), SPEC_HEALTH, &secret);
    assert_eq!((status, &h["ekmFleetDetails"][0]["healthStatus"]), (200, &json!("ACTIVE")));
    // And curl with a wrong secret is refused.
    let (status, r) = curl(&proxy, &Proxy::path("health"), SPEC_HEALTH, "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE");
    assert_eq!((status, &r["errorName"]), (401, &json!("AuthenticationFailedException")));
}

/// Encrypts `plaintext` under `key`: the Encrypt answer's body.
fn encrypted(proxy: &Proxy, key: &str, plaintext: &[u8]) -> Value {
    let e = proxy.call(&Proxy::path(&format!("keys/{key}/encrypt")), &encrypt_body(plaintext, Some(b"aad")));
    assert_eq!(e.status, 200, "{e:?}");
    e.body
}

/// Decrypts an Encrypt answer's body with `key` through the proxy.
fn decrypted(proxy: &Proxy, key: &str, encrypted: &Value) -> Vec<u8> {
    let d = proxy.call(&Proxy::path(&format!("keys/{key}/decrypt")), &decrypt_body(encrypted, Some(b"aad")).to_string());
    assert_eq!(d.status, 200, "{d:?}");
    plaintext_of(&d)
}

/// The sealed files of a data directory (keys and credentials), by path.
fn sealed_files(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    for sub in ["keys", "credentials"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            files.insert(path.clone(), std::fs::read(path).unwrap());
        }
    }
    files
}

#[test]
fn rotate_root_is_offline_and_reseals_everything_kms_sees_no_change() {
    use std::os::unix::fs::PermissionsExt;
    let mut proxy = Proxy::start();
    let dir = proxy.dir.path().to_path_buf();
    assert_eq!(trent(&dir, &["key", "create", "--key-id", "key-2"]).trim(), "key-2");
    trent(&dir, &["key", "disable", "--key-id", "key-2"]);
    let before = (encrypted(&proxy, "key-1", b"a data key under key-1"), sealed_files(&dir));
    let old_root = std::fs::read(dir.join("root.key")).unwrap();

    // The running proxy holds the old key in memory: refused, nothing changed.
    let refused = trent_result(&dir, &["rotate-root"], &[]).unwrap_err();
    assert!(refused.contains("in use by a running trent xks-proxy") && refused.contains("stop it first"), "{refused}");
    assert_eq!(std::fs::read(dir.join("root.key")).unwrap(), old_root);
    assert!(!dir.join("root.key.next").exists());
    assert_eq!(sealed_files(&dir), before.1);

    proxy.kill();
    let out = trent(&dir, &["rotate-root"]);
    assert!(out.contains("resealed 3 files, 0 already were"), "{out}");
    proxy.restart().expect("the proxy starts on the rotated directory");
    // The same credential signs, the same material decrypts: KMS sees nothing.
    assert_eq!(decrypted(&proxy, "key-1", &before.0), b"a data key under key-1");
    let fresh = encrypted(&proxy, "key-1", b"after the rotation");
    assert_eq!(decrypted(&proxy, "key-1", &fresh), b"after the rotation");
    // key-2 kept its status; enabled, it works.
    assert_eq!(trent(&dir, &["key", "list"]), "key-1\tENABLED\nkey-2\tDISABLED\n");
    trent(&dir, &["key", "enable", "--key-id", "key-2"]);
    let e2 = encrypted(&proxy, "key-2", b"key-2 too");
    assert_eq!(decrypted(&proxy, "key-2", &e2), b"key-2 too");

    // Every sealed file changed, the old key's bytes are gone from DIR.
    let after = sealed_files(&dir);
    assert!(before.1.iter().all(|(path, bytes)| after[path] != *bytes));
    assert_eq!(find_in_files(&dir, &old_root), Vec::<String>::new());
    let meta = std::fs::metadata(dir.join("root.key")).unwrap();
    assert_eq!((meta.len(), meta.permissions().mode() & 0o777), (32, 0o600));
    assert!(!dir.join("root.key.next").exists());
}

#[test]
fn a_rotate_root_killed_midway_blocks_the_proxy_and_resumes() {
    let mut proxy = Proxy::start();
    let dir = proxy.dir.path().to_path_buf();
    trent(&dir, &["key", "create", "--key-id", "key-2"]);
    let e1 = encrypted(&proxy, "key-1", b"sealed before the crash");
    let e2 = encrypted(&proxy, "key-2", b"key-2 before the crash");
    let old_root = std::fs::read(dir.join("root.key")).unwrap();
    let before = sealed_files(&dir);
    proxy.kill();

    let crash = [("TRENT_TEST_ROTATE_ROOT_CRASH_AT".to_string(), "xks-first-file".to_string())];
    let killed = trent_result(&dir, &["rotate-root"], &crash).unwrap_err();
    assert!(killed.contains("xks-first-file: stopping here"), "{killed}");
    assert_eq!(std::fs::read(dir.join("root.key")).unwrap(), old_root);
    assert!(dir.join("root.key.next").exists());
    let half = sealed_files(&dir);
    assert_eq!(before.iter().filter(|(path, bytes)| half[*path] != **bytes).count(), 1, "exactly one file resealed");

    // Half rotated: the proxy does not start and nothing new is sealed.
    let unfinished = "unfinished root key rotation: run `trent xks-proxy rotate-root --data-dir";
    let refused = proxy.restart().unwrap_err();
    assert!(refused.contains(unfinished), "{refused}");
    let refused = trent_result(&dir, &["key", "create", "--key-id", "key-3"], &[]).unwrap_err();
    assert!(refused.contains(unfinished), "{refused}");
    let refused = trent_result(&dir, &["credential", "create"], &[]).unwrap_err();
    assert!(refused.contains(unfinished), "{refused}");
    assert_eq!(sealed_files(&dir), half);

    let out = trent(&dir, &["rotate-root"]);
    assert!(out.contains("Resuming") && out.contains("resealed 2 files, 1 already were"), "{out}");
    proxy.restart().expect("the proxy starts once the rotation is finished");
    assert_eq!(decrypted(&proxy, "key-1", &e1), b"sealed before the crash");
    assert_eq!(decrypted(&proxy, "key-2", &e2), b"key-2 before the crash");
    assert_eq!(trent(&dir, &["key", "create", "--key-id", "key-3"]).trim(), "key-3");
    let e3 = encrypted(&proxy, "key-3", b"new");
    assert_eq!(decrypted(&proxy, "key-3", &e3), b"new");
    assert_eq!(find_in_files(&dir, &old_root), Vec::<String>::new());
}

#[test]
fn rotate_root_waits_for_no_writer_and_stops_at_a_file_neither_key_opens() {
    let mut proxy = Proxy::start();
    let dir = proxy.dir.path().to_path_buf();
    proxy.kill();
    // A key command that writes holds the change lock: rotate-root refuses
    // beside it (simulated by holding the lock as that command would).
    let held = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("seal.lock")).unwrap();
    held.try_lock().unwrap();
    let refused = trent_result(&dir, &["rotate-root"], &[]).unwrap_err();
    assert!(refused.contains("another change of the root of trust is running"), "{refused}");
    // And the key and credential commands that write take it (as a
    // rotation holds it); reads do not.
    for write in [&["key", "disable", "--key-id", "key-1"][..], &["key", "create"], &["credential", "create"]] {
        let refused = trent_result(&dir, write, &[]).unwrap_err();
        assert!(refused.contains("another change of the root of trust is running"), "{write:?}: {refused}");
    }
    assert_eq!(trent(&dir, &["key", "list"]), "key-1\tENABLED\n");
    held.unlock().unwrap();
    drop(held);

    // A key file sealed under some other key (here: key-1's moved to key-x,
    // which its AAD refuses) stops the rotation, named; nothing is lost.
    std::fs::copy(dir.join("keys/key-1.json"), dir.join("keys/key-x.json")).unwrap();
    let text = std::fs::read_to_string(dir.join("keys/key-x.json")).unwrap().replace("\"key-1\"", "\"key-x\"");
    std::fs::write(dir.join("keys/key-x.json"), text).unwrap();
    let stopped = trent_result(&dir, &["rotate-root"], &[]).unwrap_err();
    assert!(stopped.contains("key-x.json opens under neither the old root key nor the new one"), "{stopped}");
    std::fs::remove_file(dir.join("keys/key-x.json")).unwrap();
    trent(&dir, &["rotate-root"]);
    proxy.restart().unwrap();
    let e = encrypted(&proxy, "key-1", b"still here");
    assert_eq!(decrypted(&proxy, "key-1", &e), b"still here");
}

/// `trent serve` and the XKS proxy each keep a `root.key` and a `lock` in
/// their data directory: neither starts on, or writes into, the other's.
#[test]
fn trent_serve_and_the_proxy_refuse_each_others_data_directory() {
    let listing = |dir: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    };

    let proxy = tempfile::Builder::new().prefix("trent-xks-").tempdir().unwrap();
    assert_eq!(trent(proxy.path(), &["key", "create", "--key-id", "key-1"]).trim(), "key-1");
    let (files, root_key) = (listing(proxy.path()), std::fs::read(proxy.path().join("root.key")).unwrap());
    let refused = common::serve_refused(proxy.path());
    assert!(refused.contains("is an XKS proxy's data directory"), "{refused}");
    assert_eq!(listing(proxy.path()), files, "trent serve wrote nothing there");
    assert_eq!(std::fs::read(proxy.path().join("root.key")).unwrap(), root_key);

    let mut server = common::Trent::start(&[]);
    server.stop();
    let serve_dir = server.data_dir();
    let files = listing(&serve_dir);
    for args in [&["key", "create", "--key-id", "key-1"][..], &["credential", "create"], &["rotate-root"]] {
        let refused = trent_result(&serve_dir, args, &[]).unwrap_err();
        assert!(refused.contains("is a `trent serve` data directory (it holds trent.db)"), "{args:?}: {refused}");
        assert_eq!(listing(&serve_dir), files, "{args:?} wrote nothing there");
    }
}
