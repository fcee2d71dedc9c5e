//! AWS's published SigV4 test-suite vectors (see tests/vectors/README.md).
//!
//! For every case: the canonical request and string to sign equal the
//! published ones, the published Authorization verifies, and a tampered
//! signature, body, signed header value, or a wrong secret all fail with
//! InvalidSignatureException.

use std::fs;
use std::path::{Path, PathBuf};

use trent_sigv4::{
    canonical_request, parse_authorization, sign, string_to_sign, verify, Authorization, Request,
    SigV4Error,
};

const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

struct Vector {
    name: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    authz: String,
    creq: String,
    sts: String,
}

impl Vector {
    fn request(&self) -> Request<'_> {
        Request {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: Box::leak(trent_sigv4::borrowed(&self.headers).into_boxed_slice()),
            body: &self.body,
        }
    }

    /// Request time from the published string to sign (second line).
    fn now(&self) -> i64 {
        let ts = self.sts.lines().nth(1).expect("sts has a timestamp line");
        iso_to_unix(ts)
    }
}

/// Minimal `yyyymmddThhmmssZ` parser for the test (independent of the crate's).
fn iso_to_unix(ts: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| ts[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    let (y2, m2) = if m <= 2 { (y - 1, m + 12) } else { (y, m) };
    let days = 365 * y2 + y2 / 4 - y2 / 100 + y2 / 400 + (153 * (m2 - 3) + 2) / 5 + d - 719_469;
    days * 86_400 + n(9..11) * 3600 + n(11..13) * 60 + n(13..15)
}

/// Parses a suite `.req` file: request line, `Name:value` header lines, blank
/// line, body.
fn parse_req(text: &str) -> (String, String, String, Vec<(String, String)>, Vec<u8>) {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let (method, rest) = request_line.split_once(' ').unwrap();
    let (target, _version) = rest.rsplit_once(' ').unwrap();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_string(), v.to_string())
        })
        .collect();
    (
        method.into(),
        path.into(),
        query.into(),
        headers,
        body.as_bytes().to_vec(),
    )
}

fn load(dir: &Path) -> Vector {
    let name = dir.file_name().unwrap().to_str().unwrap().to_string();
    let read = |ext: &str| fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap();
    let (method, path, query, headers, body) = parse_req(&read("req"));
    Vector {
        method,
        path,
        query,
        headers,
        body,
        authz: read("authz"),
        creq: read("creq"),
        sts: read("sts"),
        name,
    }
}

fn vectors() -> Vec<Vector> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let v: Vec<Vector> = dirs.iter().map(|d| load(d)).collect();
    assert!(
        v.len() >= 30,
        "expected the full vector set, found {}",
        v.len()
    );
    v
}

fn payload_hash(v: &Vector) -> String {
    // The suite's creq ends with the payload hash line.
    v.creq.rsplit('\n').next().unwrap().to_string()
}

#[test]
fn canonical_request_and_string_to_sign_match_the_suite() {
    for v in vectors() {
        let auth = parse_authorization(&v.authz).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        let creq = canonical_request(&v.request(), &auth, &payload_hash(&v));
        assert_eq!(creq, v.creq, "{}: canonical request", v.name);
        let ts = v.sts.lines().nth(1).unwrap();
        assert_eq!(
            string_to_sign(ts, &auth.scope(), &creq),
            v.sts,
            "{}: string to sign",
            v.name
        );
    }
}

#[test]
fn published_authorization_verifies() {
    for v in vectors() {
        let auth = parse_authorization(&v.authz).unwrap();
        assert_eq!(
            verify(&v.request(), &auth, SECRET, v.now()),
            Ok(()),
            "{}",
            v.name
        );
    }
}

/// The client side (`sign`, which the KMS side uses to call XKS proxies)
/// writes exactly the published Authorization header.
#[test]
fn sign_writes_the_published_authorization() {
    for v in vectors() {
        let auth = parse_authorization(&v.authz).unwrap();
        let headers: Vec<&str> = auth.signed_headers.iter().map(String::as_str).collect();
        let written = sign(
            &v.request(),
            &auth.access_key_id,
            SECRET,
            &auth.region,
            &auth.service,
            &headers,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(written, v.authz, "{}", v.name);
    }
}

fn expect_invalid_signature(
    v: &Vector,
    req: Request<'_>,
    auth: &Authorization,
    secret: &[u8],
    what: &str,
) {
    let r = verify(&req, auth, secret, v.now());
    match r {
        Err(e) => assert_eq!(
            e.aws_error_code(),
            "InvalidSignatureException",
            "{}: {what}: {e:?}",
            v.name
        ),
        Ok(()) => panic!("{}: {what} was accepted", v.name),
    }
}

#[test]
fn tampered_signature_fails() {
    for v in vectors() {
        let auth = parse_authorization(&v.authz).unwrap();
        let mut sig = auth.signature.clone().into_bytes();
        sig[10] = if sig[10] == b'0' { b'1' } else { b'0' };
        let bad = Authorization {
            signature: String::from_utf8(sig).unwrap(),
            ..auth.clone()
        };
        expect_invalid_signature(&v, v.request(), &bad, SECRET, "tampered signature");
        assert_eq!(
            verify(&v.request(), &bad, SECRET, v.now()),
            Err(SigV4Error::SignatureMismatch)
        );
    }
}

#[test]
fn tampered_body_fails() {
    for v in vectors() {
        let auth = parse_authorization(&v.authz).unwrap();
        let mut body = v.body.clone();
        body.push(b'x');
        let req = Request {
            body: &body,
            ..v.request()
        };
        expect_invalid_signature(&v, req, &auth, SECRET, "tampered body");
    }
}

#[test]
fn tampered_signed_header_fails() {
    for v in vectors() {
        let auth = parse_authorization(&v.authz).unwrap();
        let headers: Vec<(String, String)> = v
            .headers
            .iter()
            .map(|(n, val)| {
                if n.eq_ignore_ascii_case("host") {
                    (n.clone(), format!("evil.{val}"))
                } else {
                    (n.clone(), val.clone())
                }
            })
            .collect();
        assert_ne!(
            headers, v.headers,
            "{}: no host header to tamper with",
            v.name
        );
        let req = Request {
            headers: &trent_sigv4::borrowed(&headers),
            ..v.request()
        };
        expect_invalid_signature(&v, req, &auth, SECRET, "tampered host header");
    }
}

#[test]
fn wrong_secret_fails() {
    for v in vectors() {
        let auth = parse_authorization(&v.authz).unwrap();
        expect_invalid_signature(
            &v,
            v.request(),
            &auth,
            b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ",
            "wrong secret",
        );
    }
}
