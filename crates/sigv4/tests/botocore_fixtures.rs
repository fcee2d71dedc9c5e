//! KMS requests as sent and signed by a real SDK (botocore's KMS client), from
//! the committed fixture tests/fixtures/botocore_kms.json, regenerated only by
//! tests/gen_botocore_fixture.py.

mod support;

use trent_sigv4::{authorization_header, parse_authorization, verify, Request, SigV4Error};

struct Captured {
    name: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    access_key_id: String,
    secret: String,
    region: String,
    service: String,
    now: i64,
}

impl Captured {
    fn request(&self) -> Request<'_> {
        Request {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers: Box::leak(trent_sigv4::borrowed(&self.headers).into_boxed_slice()),
            body: &self.body,
        }
    }
}

fn fixtures() -> Vec<Captured> {
    let text = include_str!("fixtures/botocore_kms.json");
    let doc = support::parse(text);
    let list: Vec<Captured> = doc
        .get("requests")
        .array()
        .iter()
        .map(|r| Captured {
            name: r.get("name").str().into(),
            method: r.get("method").str().into(),
            path: r.get("path").str().into(),
            query: r.get("query").str().into(),
            headers: r
                .get("headers")
                .array()
                .iter()
                .map(|h| {
                    (
                        h.array()[0].str().to_string(),
                        h.array()[1].str().to_string(),
                    )
                })
                .collect(),
            body: r.get("body").str().as_bytes().to_vec(),
            access_key_id: r.get("access_key_id").str().into(),
            secret: r.get("secret_access_key").str().into(),
            region: r.get("region").str().into(),
            service: r.get("service").str().into(),
            now: r.get("now_unix").int(),
        })
        .collect();
    assert_eq!(list.len(), 3);
    list
}

#[test]
fn botocore_requests_verify() {
    let mut targets = Vec::new();
    for c in fixtures() {
        let req = c.request();
        let auth = parse_authorization(authorization_header(&req).unwrap()).unwrap();
        assert_eq!(auth.access_key_id, c.access_key_id, "{}", c.name);
        auth.check_scope(&c.region, &c.service).unwrap();
        assert_eq!(
            verify(&req, &auth, c.secret.as_bytes(), c.now),
            Ok(()),
            "{}",
            c.name
        );
        // And still at the edges of the allowed skew.
        assert_eq!(
            verify(&req, &auth, c.secret.as_bytes(), c.now + 300),
            Ok(()),
            "{}",
            c.name
        );
        assert_eq!(
            verify(&req, &auth, c.secret.as_bytes(), c.now - 300),
            Ok(()),
            "{}",
            c.name
        );
        let target = c
            .headers
            .iter()
            .find(|(n, _)| n == "X-Amz-Target")
            .map(|(_, v)| v.clone())
            .unwrap();
        targets.push(target);
    }
    assert_eq!(
        targets,
        [
            "TrentService.ListKeys",
            "TrentService.Encrypt",
            "TrentService.DescribeKey"
        ]
    );
}

#[test]
fn session_token_fixture_signs_the_token() {
    let c = fixtures()
        .into_iter()
        .find(|c| c.name == "describe-key-session-token")
        .unwrap();
    let auth = parse_authorization(authorization_header(&c.request()).unwrap()).unwrap();
    assert!(auth
        .signed_headers
        .iter()
        .any(|h| h == "x-amz-security-token"));
    // Changing the token breaks the signature.
    let headers: Vec<(String, String)> = c
        .headers
        .iter()
        .map(|(n, v)| {
            if n == "X-Amz-Security-Token" {
                (n.clone(), format!("{v}x"))
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect();
    let req = Request {
        headers: &trent_sigv4::borrowed(&headers),
        ..c.request()
    };
    assert_eq!(
        verify(&req, &auth, c.secret.as_bytes(), c.now),
        Err(SigV4Error::SignatureMismatch)
    );
}

#[test]
fn botocore_requests_fail_when_tampered() {
    for c in fixtures() {
        let req = c.request();
        let auth = parse_authorization(authorization_header(&req).unwrap()).unwrap();
        let secret = c.secret.as_bytes();
        let code = |r: Result<(), SigV4Error>| r.unwrap_err().aws_error_code();

        // Body: the Encrypt/ListKeys/DescribeKey JSON changed by one byte.
        let mut body = c.body.clone();
        let last = body.len() - 2;
        body[last] ^= 1;
        assert_eq!(
            code(verify(
                &Request { body: &body, ..req },
                &auth,
                secret,
                c.now
            )),
            "InvalidSignatureException",
            "{}",
            c.name
        );

        // Operation header retargeted.
        let headers: Vec<(String, String)> = c
            .headers
            .iter()
            .map(|(n, v)| {
                if n == "X-Amz-Target" {
                    (n.clone(), "TrentService.ScheduleKeyDeletion".into())
                } else {
                    (n.clone(), v.clone())
                }
            })
            .collect();
        assert_eq!(
            verify(
                &Request {
                    headers: &trent_sigv4::borrowed(&headers),
                    ..req
                },
                &auth,
                secret,
                c.now
            ),
            Err(SigV4Error::SignatureMismatch),
            "{}",
            c.name
        );

        // Unsigned headers may change freely.
        let headers: Vec<(String, String)> = c
            .headers
            .iter()
            .map(|(n, v)| {
                if n == "User-Agent" {
                    (n.clone(), "something else".into())
                } else {
                    (n.clone(), v.clone())
                }
            })
            .collect();
        assert_eq!(
            verify(
                &Request {
                    headers: &trent_sigv4::borrowed(&headers),
                    ..req
                },
                &auth,
                secret,
                c.now
            ),
            Ok(()),
            "{}",
            c.name
        );

        // Wrong secret, and outside the skew window.
        assert_eq!(
            verify(
                &req,
                &auth,
                b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEZ",
                c.now
            ),
            Err(SigV4Error::SignatureMismatch)
        );
        assert!(matches!(
            verify(&req, &auth, secret, c.now + 301),
            Err(SigV4Error::SignatureExpired { .. })
        ));
        assert!(matches!(
            verify(&req, &auth, secret, c.now - 301),
            Err(SigV4Error::SignatureNotYetCurrent { .. })
        ));
    }
}
