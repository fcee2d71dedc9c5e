//! The audit log through the real server: every operation and every class
//! of error gives exactly one event with the right fields; the log verifies
//! with `trent audit verify` and tampering is named; syslog gets the same
//! records; an unwritable sink refuses requests.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::Command;

use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, DryRunModifierType, Tag};
use common::{Trent, REGION};
use serde_json::Value;

/// What one field of an event must be.
enum Check {
    Eq(Value),
    Prefix(&'static str),
    Absent,
    Present,
}

/// One request and what its event must say.
struct Case {
    request_id: String,
    event_name: &'static str,
    error: Option<&'static str>,
    checks: Vec<(&'static str, Check)>,
}

/// A raw HTTP/1.1 request; returns (status, x-amzn-requestid, body).
fn raw(endpoint: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let addr = endpoint.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut request = format!("POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += "\r\n";
    request += body;
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let request_id = response
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("x-amzn-requestid: ").map(|v| v.trim().to_owned()))
        .expect("x-amzn-RequestId");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, request_id, body)
}

fn trent_cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trent")).args(args).output().expect("running trent");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Records a successful SDK call as a case.
macro_rules! ok {
    ($cases:ident, $name:literal, $call:expr, [$(($ptr:literal, $check:expr)),* $(,)?]) => {{
        let out = $call.send().await.expect($name);
        $cases.push(Case { request_id: out.request_id().expect("request id").to_owned(), event_name: $name, error: None, checks: vec![$(($ptr, $check)),*] });
        out
    }};
}

/// Records a failed SDK call as a case, checking its error code.
macro_rules! fails {
    ($cases:ident, $name:literal, $code:literal, $call:expr, [$(($ptr:literal, $check:expr)),* $(,)?]) => {{
        let err = $call.send().await.expect_err(concat!($name, " must fail with ", $code));
        assert_eq!(common::code(&err), $code, "{}", $name);
        $cases.push(Case { request_id: err.request_id().expect("request id").to_owned(), event_name: $name, error: Some($code), checks: vec![$(($ptr, $check)),*] });
    }};
}

fn eq(v: impl Into<Value>) -> Check {
    Check::Eq(v.into())
}

#[tokio::test]
async fn every_operation_and_every_error_class_gives_exactly_one_event() {
    let trent = Trent::start(&[]);
    let kms = trent.client(REGION);
    let (admin_key, admin_secret) = trent.admin_keys();
    let mut cases: Vec<Case> = Vec::new();

    // --- every operation, succeeding ---------------------------------------------
    let created = ok!(cases, "CreateKey", kms.create_key().description("audited").tags(Tag::builder().tag_key("team").tag_value("a").build().unwrap()), [
        ("/readOnly", eq(false)),
        ("/requestParameters/description", eq("audited")),
        ("/requestParameters/tags/0/tagKey", eq("team")),
        ("/responseElements/keyMetadata/keyState", eq("Enabled")),
        ("/userIdentity/type", eq("IAMUser")),
        ("/userIdentity/userName", eq("admin")),
        ("/userIdentity/accessKeyId", eq(admin_key.clone())),
        ("/resources/0/type", eq("AWS::KMS::Key")),
        ("/trentAuthorizationReason", Check::Prefix("allowed kms:CreateKey on *")),
    ]);
    let meta = created.key_metadata.unwrap();
    let (key_id, key_arn, account) = (meta.key_id().to_owned(), meta.arn().unwrap().to_owned(), meta.aws_account_id().unwrap().to_owned());
    let other = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let third = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    // Requests made only to set a case up still count: each has its one event.
    for _ in 0..2 {
        cases.push(Case { request_id: String::new(), event_name: "CreateKey", error: None, checks: vec![] });
    }
    let key_checks = || vec![("/resources/0/ARN", eq(key_arn.clone())), ("/recipientAccountId", eq(account.clone()))];

    ok!(cases, "DescribeKey", kms.describe_key().key_id(&key_id), [("/requestParameters/keyId", eq(key_id.clone())), ("/readOnly", eq(true))]);
    cases.last_mut().unwrap().checks.extend(key_checks());
    ok!(cases, "ListKeys", kms.list_keys().limit(5), [("/requestParameters/limit", eq(5)), ("/responseElements", eq(Value::Null))]);
    ok!(cases, "DescribeCustomKeyStores", kms.describe_custom_key_stores(), []);
    let plaintext = b"audit secret plaintext 0123456789";
    let encrypted = ok!(cases, "Encrypt", kms.encrypt().key_id(&key_id).plaintext(Blob::new(plaintext.as_slice())).encryption_context("dept", "eng"), [
        ("/requestParameters/keyId", eq(key_id.clone())),
        ("/requestParameters/encryptionContext/dept", eq("eng")),
        ("/requestParameters/plaintext", Check::Absent),
        ("/responseElements", eq(Value::Null)),
        ("/additionalEventData/keyMaterialId", Check::Present),
        ("/readOnly", eq(true)),
        ("/sourceIPAddress", eq("127.0.0.1")),
        ("/userAgent", Check::Present),
        ("/eventSource", eq("kms.amazonaws.com")),
        ("/eventType", eq("AwsApiCall")),
        ("/awsRegion", eq(REGION)),
    ]);
    cases.last_mut().unwrap().checks.extend(key_checks());
    let blob = encrypted.ciphertext_blob.unwrap();
    ok!(cases, "Decrypt", kms.decrypt().ciphertext_blob(blob.clone()).encryption_context("dept", "eng"), [
        ("/requestParameters/ciphertextBlob", Check::Absent),
        ("/requestParameters/encryptionContext/dept", eq("eng")),
        ("/resources/0/ARN", eq(key_arn.clone())),
    ]);
    ok!(cases, "ReEncrypt", kms.re_encrypt().ciphertext_blob(blob.clone()).source_encryption_context("dept", "eng").destination_key_id(other.key_id()), [
        ("/requestParameters/destinationKeyId", eq(other.key_id())),
        ("/requestParameters/sourceEncryptionContext/dept", eq("eng")),
        ("/resources/1/ARN", Check::Present),
    ]);
    let data_key = ok!(cases, "GenerateDataKey", kms.generate_data_key().key_id(&key_id).key_spec(DataKeySpec::Aes256), [
        ("/requestParameters/keySpec", eq("AES_256")),
        ("/responseElements", eq(Value::Null)),
    ]);
    ok!(cases, "GenerateDataKeyWithoutPlaintext", kms.generate_data_key_without_plaintext().key_id(&key_id).number_of_bytes(32), [("/requestParameters/numberOfBytes", eq(32))]);
    let random = ok!(cases, "GenerateRandom", kms.generate_random().number_of_bytes(24), [("/requestParameters/numberOfBytes", eq(24)), ("/resources", Check::Absent)]);
    ok!(cases, "DisableKey", kms.disable_key().key_id(&key_id), [("/readOnly", eq(false))]);
    cases.last_mut().unwrap().checks.extend(key_checks());
    ok!(cases, "EnableKey", kms.enable_key().key_id(&key_id), []);
    ok!(cases, "UpdateKeyDescription", kms.update_key_description().key_id(&key_id).description("new"), [("/requestParameters/description", eq("new"))]);
    let alias = "alias/audited";
    let alias_arn = format!("arn:aws:kms:{REGION}:{account}:{alias}");
    ok!(cases, "CreateAlias", kms.create_alias().alias_name(alias).target_key_id(&key_id), [
        ("/requestParameters/aliasName", eq(alias)),
        ("/requestParameters/targetKeyId", eq(key_id.clone())),
        ("/resources/0/ARN", eq(alias_arn.clone())),
        ("/resources/0/type", eq("AWS::KMS::Alias")),
        ("/resources/1/ARN", eq(key_arn.clone())),
    ]);
    ok!(cases, "UpdateAlias", kms.update_alias().alias_name(alias).target_key_id(other.key_id()), []);
    ok!(cases, "ListAliases", kms.list_aliases(), []);
    ok!(cases, "DeleteAlias", kms.delete_alias().alias_name(alias), [("/resources/0/ARN", eq(alias_arn.clone()))]);
    ok!(cases, "TagResource", kms.tag_resource().key_id(&key_id).tags(Tag::builder().tag_key("env").tag_value("prod").build().unwrap()), [("/requestParameters/tags/0/tagValue", eq("prod"))]);
    ok!(cases, "UntagResource", kms.untag_resource().key_id(&key_id).tag_keys("env"), [("/requestParameters/tagKeys/0", eq("env"))]);
    ok!(cases, "ListResourceTags", kms.list_resource_tags().key_id(&key_id), []);
    ok!(cases, "GetKeyPolicy", kms.get_key_policy().key_id(&key_id).policy_name("default"), [("/requestParameters/policyName", eq("default"))]);
    let policy = format!(r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"a","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#);
    ok!(cases, "PutKeyPolicy", kms.put_key_policy().key_id(&key_id).policy_name("default").policy(&policy), [("/requestParameters/policy", eq(policy.clone()))]);
    ok!(cases, "ListKeyPolicies", kms.list_key_policies().key_id(&key_id), []);
    ok!(cases, "ScheduleKeyDeletion", kms.schedule_key_deletion().key_id(other.key_id()).pending_window_in_days(7), [
        ("/requestParameters/pendingWindowInDays", eq(7)),
        ("/responseElements/keyState", eq("PendingDeletion")),
        ("/responseElements/keyId", eq(other.arn().unwrap())),
    ]);
    ok!(cases, "CancelKeyDeletion", kms.cancel_key_deletion().key_id(other.key_id()), [("/responseElements/keyId", eq(other.arn().unwrap()))]);

    // --- every class of error ------------------------------------------------------
    let missing = "11111111-2222-3333-4444-555555555555";
    fails!(cases, "DescribeKey", "NotFoundException", kms.describe_key().key_id(missing), [("/errorMessage", Check::Present), ("/trentAuthorizationReason", Check::Prefix("not evaluated"))]);
    kms.create_alias().alias_name("alias/dup").target_key_id(&key_id).send().await.unwrap();
    cases.push(Case { request_id: String::new(), event_name: "CreateAlias", error: None, checks: vec![] });
    fails!(cases, "CreateAlias", "AlreadyExistsException", kms.create_alias().alias_name("alias/dup").target_key_id(&key_id), []);
    fails!(cases, "CreateAlias", "NotFoundException", kms.create_alias().alias_name("alias/x").target_key_id(missing), []);
    fails!(cases, "Encrypt", "DryRunOperationException", kms.encrypt().key_id(&key_id).plaintext(Blob::new(plaintext.as_slice())).dry_run(true), [("/requestParameters/dryRun", eq(true))]);
    fails!(cases, "Decrypt", "InvalidCiphertextException", kms.decrypt().ciphertext_blob(Blob::new(vec![7u8; 64])), []);
    fails!(cases, "Decrypt", "IncorrectKeyException", kms.decrypt().ciphertext_blob(blob.clone()).encryption_context("dept", "eng").key_id(third.key_id()), []);
    fails!(cases, "Decrypt", "DryRunOperationException", kms.decrypt().ciphertext_blob(blob.clone()).dry_run(true).dry_run_modifiers(DryRunModifierType::IgnoreCiphertext), []);
    fails!(cases, "ListKeys", "InvalidMarkerException", kms.list_keys().marker("bm90LWEtbWFya2Vy"), []);
    fails!(cases, "GenerateRandom", "ValidationException", kms.generate_random().number_of_bytes(0), [("/trentAuthorizationReason", Check::Prefix("not evaluated"))]);
    fails!(cases, "UpdatePrimaryRegion", "UnsupportedOperationException", kms.update_primary_region().key_id(&key_id).primary_region("us-west-2"), []);
    fails!(cases, "DescribeCustomKeyStores", "CustomKeyStoreNotFoundException", kms.describe_custom_key_stores().custom_key_store_id("cks-00000000000000000"), [("/requestParameters/customKeyStoreId", eq("cks-00000000000000000"))]);
    fails!(cases, "PutKeyPolicy", "MalformedPolicyDocumentException", kms.put_key_policy().key_id(&key_id).policy_name("default").policy("not a policy"), []);
    fails!(cases, "TagResource", "TagException", kms.tag_resource().key_id(&key_id).tags(Tag::builder().tag_key("aws:x").tag_value("v").build().unwrap()), []);
    let foreign = "arn:aws:kms:us-east-1:999999999999:key/11111111-2222-3333-4444-555555555555";
    fails!(cases, "DescribeKey", "NotFoundException", kms.describe_key().key_id(foreign), [("/trentAuthorizationReason", Check::Prefix("not evaluated"))]);
    // A key policy that denies: the reason names the denial.
    let deny = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}},{{"Sid":"nodescribe","Effect":"Deny","Principal":"*","Action":"kms:DescribeKey","Resource":"*"}}]}}"#
    );
    ok!(cases, "PutKeyPolicy", kms.put_key_policy().key_id(third.key_id()).policy_name("default").policy(deny), []);
    fails!(cases, "DescribeKey", "AccessDeniedException", kms.describe_key().key_id(third.key_id()), [("/trentAuthorizationReason", Check::Prefix("denied: User: arn:aws:iam::"))]);
    kms.disable_key().key_id(&key_id).send().await.unwrap();
    cases.push(Case { request_id: String::new(), event_name: "DisableKey", error: None, checks: vec![] });
    fails!(cases, "Encrypt", "DisabledException", kms.encrypt().key_id(&key_id).plaintext(Blob::new(plaintext.as_slice())), [("/additionalEventData", Check::Absent)]);
    kms.schedule_key_deletion().key_id(other.key_id()).send().await.unwrap();
    cases.push(Case { request_id: String::new(), event_name: "ScheduleKeyDeletion", error: None, checks: vec![] });
    fails!(cases, "GenerateDataKey", "KMSInvalidStateException", kms.generate_data_key().key_id(other.key_id()).number_of_bytes(16), []);
    // Signed requests whose body or target the server refuses, built by the SDK and changed before signing.
    fails!(cases, "Encrypt", "SerializationException",
        kms.encrypt().key_id(&key_id).plaintext(Blob::new(plaintext.as_slice())).customize().mutate_request(|r| {
            let body = "{\"KeyId\": [";
            *r.body_mut() = body.into();
            r.headers_mut().insert("content-length", body.len().to_string());
        }),
        [("/requestParameters", eq(Value::Null))]);

    // Authentication failures: who claimed to call is recorded, not who they are.
    let mut wrong = admin_secret.clone().into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let bad_secret = trent.client_with(REGION, &admin_key, std::str::from_utf8(&wrong).unwrap());
    fails!(cases, "ListKeys", "InvalidSignatureException", bad_secret.list_keys(), [
        ("/userIdentity/type", eq("Unknown")),
        ("/userIdentity/accessKeyId", eq(admin_key.clone())),
        ("/recipientAccountId", Check::Absent),
        ("/trentAuthorizationReason", Check::Prefix("not evaluated: the request was not authenticated")),
    ]);
    let unknown = trent.client_with(REGION, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    fails!(cases, "CreateKey", "UnrecognizedClientException", unknown.create_key().description("never made"), [
        ("/userIdentity/accessKeyId", eq("AKIAIOSFODNN7EXAMPLE")),
        ("/requestParameters", eq(Value::Null)),
    ]);
    let json_type = ("Content-Type", "application/x-amz-json-1.1");
    for (headers, event_name, code) in [
        (vec![json_type, ("X-Amz-Target", "TrentService.ListKeys")], "ListKeys", "MissingAuthenticationTokenException"),
        (vec![json_type, ("X-Amz-Target", "TrentService.ListKeys"), ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAX/20260101/us-east-1/kms/aws4_request")], "ListKeys", "IncompleteSignatureException"),
        (vec![json_type, ("X-Amz-Target", "TrentService.NoSuchThing")], "NoSuchThing", "UnknownOperationException"),
    ] {
        let (status, request_id, body) = raw(&trent.endpoint(), &headers, "{}");
        assert_eq!(status, 400, "{body}");
        assert!(body.contains(code), "{body}");
        cases.push(Case { request_id, event_name, error: Some(code), checks: vec![("/userIdentity/type", eq("Unknown"))] });
    }

    // --- the log holds exactly one event per request, with the right fields ------------
    let all = common::audit_events(&trent.data_dir());
    assert_eq!(all.len(), cases.len(), "one event per request, and no other");
    let mut by_id: HashMap<&str, Vec<&Value>> = HashMap::new();
    for e in &all {
        by_id.entry(e["requestID"].as_str().expect("requestID")).or_default().push(e);
    }
    for case in cases.iter().filter(|c| !c.request_id.is_empty()) {
        let found = by_id.get(case.request_id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        assert_eq!(found.len(), 1, "{} {:?}: {} events for request {}", case.event_name, case.error, found.len(), case.request_id);
        let e = found[0];
        let what = format!("{} {:?}: {e:#}", case.event_name, case.error);
        assert_eq!(e["eventName"], case.event_name, "{what}");
        assert_eq!(e.get("errorCode").and_then(Value::as_str), case.error, "{what}");
        assert_eq!(e.get("errorMessage").is_some(), case.error.is_some(), "{what}");
        for field in ["eventVersion", "eventTime", "eventID", "userIdentity", "requestParameters", "responseElements", "readOnly", "managementEvent"] {
            assert!(e.get(field).is_some(), "{field} missing: {what}");
        }
        assert_eq!(e["eventCategory"], "Management", "{what}");
        for (ptr, check) in &case.checks {
            let v = e.pointer(ptr);
            match check {
                Check::Eq(want) => assert_eq!(v, Some(want), "{ptr}: {what}"),
                Check::Prefix(p) => assert!(v.and_then(Value::as_str).is_some_and(|s| s.starts_with(p)), "{ptr} should start with {p:?}: {what}"),
                Check::Absent => assert!(v.is_none(), "{ptr} should be absent: {what}"),
                Check::Present => assert!(v.is_some_and(|v| !v.is_null()), "{ptr} should be present: {what}"),
            }
        }
    }
    // No secret of this run is anywhere in the log.
    let text: String = std::fs::read_dir(trent.data_dir().join("audit")).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default()).collect();
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let secrets = [
        b64(plaintext),
        String::from_utf8_lossy(plaintext).into_owned(),
        b64(data_key.plaintext.unwrap().as_ref()),
        b64(data_key.ciphertext_blob.unwrap().as_ref()),
        b64(random.plaintext.unwrap().as_ref()),
        b64(blob.as_ref()),
        admin_secret.clone(),
    ];
    for s in secrets {
        assert!(!text.contains(&s), "a secret is in the audit log: {s}");
    }
}

fn verify(args: &[&str]) -> (i32, String) {
    trent_cli(&[&["audit", "verify"], args].concat())
}

#[tokio::test]
async fn verify_passes_an_intact_log_and_names_the_tampered_record() {
    let mut trent = Trent::start(&["--audit-max-file-bytes", "2000"]);
    let kms = trent.client(REGION);
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    for i in 0..6 {
        kms.encrypt().key_id(key.key_id()).plaintext(Blob::new(format!("p{i}"))).send().await.unwrap();
    }
    trent.stop();
    let data_dir = trent.data_dir();
    let dd = data_dir.to_str().unwrap();
    let (code, out) = verify(&["--data-dir", dd, "--require-signed"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK: "), "{out}");

    // Offline: a copy of the files and the exported public key.
    let work = tempfile::tempdir().unwrap();
    let pem = work.path().join("audit.pem");
    let (code, out) = trent_cli(&["audit", "export-public-key", "--data-dir", dd, "--out", pem.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(std::fs::read_to_string(&pem).unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
    let files = common::audit_files(&data_dir);
    assert!(files.len() >= 2, "the small --audit-max-file-bytes rotated the log: {files:?}");
    let all_lines: Vec<String> = files.iter().flat_map(|f| std::fs::read_to_string(f).unwrap().lines().map(str::to_owned).collect::<Vec<_>>()).collect();
    let copy = work.path().join("copy.jsonl");
    let check = |lines: &[String]| {
        std::fs::write(&copy, lines.join("\n") + "\n").unwrap();
        verify(&["--log", copy.to_str().unwrap(), "--public-key", pem.to_str().unwrap()])
    };
    let (code, out) = check(&all_lines);
    assert_eq!(code, 0, "the untouched copy verifies: {out}");

    // Edit, delete, insert, reorder: each fails and names the record (line 4 is seq 4).
    let mut edited = all_lines.clone();
    edited[3] = edited[3].replace("\"Encrypt\"", "\"Decrypt\"").replace("\"digestTime\":\"2", "\"digestTime\":\"1");
    assert_ne!(edited[3], all_lines[3]);
    let mut deleted = all_lines.clone();
    deleted.remove(3);
    let mut inserted = all_lines.clone();
    inserted.insert(3, all_lines[1].clone());
    let mut reordered = all_lines.clone();
    reordered.swap(3, 4);
    for (name, lines, named) in [("edit", edited, "record seq 4 at "), ("delete", deleted, "record seq 5 at "), ("insert", inserted, "record seq 2 at "), ("reorder", reordered, "record seq 5 at ")] {
        let (code, out) = check(&lines);
        assert_eq!(code, 1, "{name}: {out}");
        assert!(out.contains(named) && out.contains("copy.jsonl:4"), "{name} should name line 4: {out}");
    }
    // In place, in the data directory: verify names the file and line.
    let first = &files[0];
    let text = std::fs::read_to_string(first).unwrap().replacen("\"CreateKey\"", "\"DeleteKey\"", 1);
    std::fs::write(first, text).unwrap();
    let (code, out) = verify(&["--data-dir", dd]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED: record seq") && out.contains("altered"), "{out}");
    // A missing key file is "cannot check" (2), not "intact" or "tampered".
    let (code, _) = verify(&["--log", copy.to_str().unwrap()]);
    assert_eq!(code, 2);
}

#[tokio::test]
async fn syslog_gets_the_same_records_and_query_finds_events() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("log.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let sink = format!("syslog:{}", socket_path.display());
    let trent = Trent::start(&["--audit-sink", "file", "--audit-sink", &sink]);
    let kms = trent.client(REGION);
    let out = kms.create_key().description("to syslog").send().await.unwrap();
    let mut buf = vec![0u8; 65536];
    let n = socket.recv(&mut buf).unwrap();
    let message = String::from_utf8_lossy(&buf[..n]).into_owned();
    let line = message.strip_prefix("<86>trent[").and_then(|m| m.split_once("]: ")).map(|(_, l)| l.to_owned()).expect("an RFC 3164 message");
    assert!(line.contains(out.request_id().unwrap()), "{line}");
    let file_text: String = std::fs::read_dir(trent.data_dir().join("audit")).unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default()).collect();
    assert!(file_text.lines().any(|l| l == line), "the syslog record is the file's record");

    let key_id = out.key_metadata.unwrap().key_id().to_owned();
    let _ = kms.describe_key().key_id("alias/none").send().await;
    let dd = trent.data_dir();
    let dd = dd.to_str().unwrap();
    let (code, text) = trent_cli(&["audit", "query", "--data-dir", dd, "--key", &key_id]);
    assert_eq!(code, 0, "{text}");
    let found: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(found.len(), 1, "{text}");
    assert_eq!(found[0]["eventName"], "CreateKey");
    let (_, text) = trent_cli(&["audit", "query", "--data-dir", dd, "--error-code", "NotFoundException", "--output", "table"]);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0].starts_with("TIME") && rows[1].contains("DescribeKey") && rows[1].contains("NotFoundException"), "{text}");
    let (_, text) = trent_cli(&["audit", "query", "--data-dir", dd, "--since", "2999-01-01"]);
    assert_eq!(text, "");
}

#[tokio::test]
async fn an_unwritable_audit_log_refuses_requests_until_it_resumes() {
    // Every batch of events starts a new file, so the next write needs the directory.
    let mut trent = Trent::start(&["--audit-max-file-bytes", "1"]);
    let kms = trent.client(REGION);
    let kept = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let audit = trent.data_dir().join("audit");
    let moved = trent.data_dir().join("audit.moved");
    std::fs::rename(&audit, &moved).unwrap();
    std::fs::write(&audit, "not a directory").unwrap();

    let refused = kms.list_keys().send().await.expect_err("the event cannot be written");
    assert_eq!(common::code(&refused), "KMSInternalException");
    assert_eq!(refused.raw_response().unwrap().status().as_u16(), 500);
    // While it cannot be written, every request is refused before it acts.
    for _ in 0..3 {
        assert_err!(kms.create_key().description("unaudited").send().await, is_kms_internal_exception);
    }
    assert!(trent.log().contains("THE AUDIT LOG CANNOT BE WRITTEN"), "{}", trent.log());
    // The directory is back: the writer resumes by itself (it retries each second).
    std::fs::remove_file(&audit).unwrap();
    std::fs::rename(&moved, &audit).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let resumed = loop {
        match kms.create_key().description("after").send().await {
            Ok(created) => break created.key_metadata.unwrap(),
            Err(e) => assert!(common::code(&e) == "KMSInternalException" && std::time::Instant::now() < deadline, "{e:?}\n{}", trent.log()),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(trent.log().contains("the audit log resumed"), "{}", trent.log());

    // Nothing was done unaudited, and the log is intact.
    trent.restart(&[]);
    let kms = trent.client(REGION);
    let keys = kms.list_keys().send().await.unwrap();
    let mut ids: Vec<&str> = keys.keys().iter().filter_map(|k| k.key_id()).collect();
    ids.sort();
    let mut expected = vec![kept.key_id(), resumed.key_id()];
    expected.sort();
    assert_eq!(ids, expected);
    trent.stop();
    let (code, out) = verify(&["--data-dir", trent.data_dir().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(common::successful_events(&trent.data_dir(), "CreateKey"), 2, "the refused CreateKeys left no event");
}

#[test]
fn a_server_whose_audit_log_cannot_be_opened_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("audit"), "not a directory").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["serve", "--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("audit log"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
}

#[tokio::test]
async fn background_work_records_one_service_event_each() {
    // Dev mode: the moved clock would fail SigV4's 5-minute skew check.
    let mut trent = Trent::start(&["--dev"]);
    let kms = trent.client(REGION);
    let doomed = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.schedule_key_deletion().key_id(doomed.key_id()).pending_window_in_days(7).send().await.unwrap();
    let rotating = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    kms.enable_key_rotation().key_id(rotating.key_id()).rotation_period_in_days(90).send().await.unwrap();
    drop(kms);

    // 100 days later both are due: done at start-up, each recorded once, and
    // a second start at the same time does and records nothing more.
    let later = (100 * common::DAY_SECS).to_string();
    trent.restart(&["--dev", "--clock-offset-secs", &later]);
    trent.restart(&["--dev", "--clock-offset-secs", &later]);
    trent.stop();
    let service: Vec<Value> = common::audit_events(&trent.data_dir()).into_iter().filter(|e| e["eventType"] == "AwsServiceEvent").collect();
    let named = |name: &str| service.iter().filter(|e| e["eventName"] == name).cloned().collect::<Vec<_>>();
    let [deleted] = named("DeleteKey").try_into().unwrap_or_else(|v: Vec<Value>| panic!("DeleteKey events: {v:?}"));
    assert_eq!(deleted["resources"][0]["ARN"], doomed.arn().unwrap());
    assert_eq!(deleted["userIdentity"]["invokedBy"], "kms.amazonaws.com");
    let [rotated] = named("RotateKey").try_into().unwrap_or_else(|v: Vec<Value>| panic!("RotateKey events: {v:?}"));
    assert_eq!(rotated["resources"][0]["ARN"], rotating.arn().unwrap());
    assert_eq!(rotated["additionalEventData"]["rotationType"], "AUTOMATIC");
    assert_eq!(service.len(), 2, "{service:?}");
    let (code, out) = verify(&["--data-dir", trent.data_dir().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
}
