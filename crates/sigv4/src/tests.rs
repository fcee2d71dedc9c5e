//! Unit tests of `verify` and the error surface.

use super::*;

const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
/// 2015-08-30T12:36:00Z
const T0: i64 = 1_440_938_160;
const BODY: &[u8] = br#"{"KeyId":"alias/test","Plaintext":"aGVsbG8="}"#;

fn headers(date: &str) -> Vec<(String, String)> {
    vec![
        ("Host".into(), "kms.us-east-1.amazonaws.com".into()),
        ("Content-Type".into(), "application/x-amz-json-1.1".into()),
        ("X-Amz-Target".into(), "TrentService.Encrypt".into()),
        ("X-Amz-Date".into(), date.into()),
    ]
}

fn req<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> Request<'a> {
    Request {
        method: "POST",
        path: "/",
        query: "",
        // A test's few pairs, kept for its run.
        headers: Box::leak(borrowed(headers).into_boxed_slice()),
        body,
    }
}

/// Signs with the given signed-header list and returns the parsed Authorization.
fn signed(h: &[(String, String)], body: &[u8], signed_headers: &[&str]) -> Authorization {
    let value = sign(
        &req(h, body),
        "AKIDEXAMPLE",
        SECRET,
        "us-east-1",
        "kms",
        signed_headers,
    )
    .unwrap();
    parse_authorization(&value).unwrap()
}

const ALL: &[&str] = &["content-type", "host", "x-amz-date", "x-amz-target"];

#[test]
fn sign_then_verify_round_trip() {
    let h = headers("20150830T123600Z");
    let auth = signed(&h, BODY, ALL);
    assert_eq!(auth.date, "20150830");
    assert_eq!(auth.signed_headers, ALL);
    assert_eq!(auth.signature.len(), 64);
    verify(&req(&h, BODY), &auth, SECRET, T0).unwrap();
    // Header names are matched case-insensitively.
    let lower: Vec<(String, String)> = h
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    verify(&req(&lower, BODY), &auth, SECRET, T0).unwrap();
}

#[test]
fn clock_skew_boundaries() {
    let h = headers("20150830T123600Z");
    let auth = signed(&h, BODY, ALL);
    let r = req(&h, BODY);
    for now in [T0 - 300, T0 - 299, T0, T0 + 299, T0 + 300] {
        assert_eq!(
            verify(&r, &auth, SECRET, now),
            Ok(()),
            "now = T0{:+}",
            now - T0
        );
    }
    // Request 301 s in the past.
    let e = verify(&r, &auth, SECRET, T0 + 301).unwrap_err();
    assert_eq!(e.aws_error_code(), "InvalidSignatureException");
    assert_eq!(e.message(), "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T124101Z - 5 min.)");
    // The brief's example: server clock at 12:51:00.
    let e = verify(&r, &auth, SECRET, T0 + 900).unwrap_err();
    assert_eq!(e.message(), "Signature expired: 20150830T123600Z is now earlier than 20150830T124600Z (20150830T125100Z - 5 min.)");
    // Request 301 s in the future.
    let e = verify(&r, &auth, SECRET, T0 - 301).unwrap_err();
    assert_eq!(e.aws_error_code(), "InvalidSignatureException");
    assert_eq!(e.message(), "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z (20150830T123059Z + 5 min.)");
    assert_eq!(e.http_status(), 400);
}

#[test]
fn scope_date_must_match_request_date() {
    let h = headers("20150830T123600Z");
    let mut auth = signed(&h, BODY, ALL);
    auth.date = "20150831".into();
    let e = verify(&req(&h, BODY), &auth, SECRET, T0).unwrap_err();
    assert_eq!(e.aws_error_code(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20150831' != '20150830', from '20150830T123600Z'."
    );
}

#[test]
fn host_must_be_signed() {
    let h = headers("20150830T123600Z");
    let auth = signed(&h, BODY, &["content-type", "x-amz-date", "x-amz-target"]);
    let e = verify(&req(&h, BODY), &auth, SECRET, T0).unwrap_err();
    assert_eq!(e, SigV4Error::HostNotSigned);
    assert_eq!(e.aws_error_code(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    );
}

#[test]
fn the_date_header_must_be_signed() {
    // X-Amz-Date present but left out of the signature: a valid signature
    // over the rest is still refused.
    let h = headers("20150830T123600Z");
    let auth = signed(&h, BODY, &["content-type", "host", "x-amz-target"]);
    let e = verify(&req(&h, BODY), &auth, SECRET, T0).unwrap_err();
    assert_eq!(e, SigV4Error::HeaderNotSigned { header: "X-Amz-Date".into() });
    assert_eq!(e.aws_error_code(), "InvalidSignatureException");
    assert_eq!(e.http_status(), 400);
    assert_eq!(e.message(), "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
    // The same when the time comes from Date.
    let mut d = headers("");
    d.retain(|(n, _)| n != "X-Amz-Date");
    d.push(("Date".into(), "Sun, 30 Aug 2015 12:36:00 GMT".into()));
    let auth = signed(&d, BODY, &["host", "x-amz-target"]);
    let e = verify(&req(&d, BODY), &auth, SECRET, T0).unwrap_err();
    assert_eq!(e, SigV4Error::HeaderNotSigned { header: "Date".into() });
    // A Date beside a signed X-Amz-Date is not the time: it need not be signed.
    let mut both = headers("20150830T123600Z");
    both.push(("Date".into(), "Sun, 30 Aug 2015 12:36:00 GMT".into()));
    let auth = signed(&both, BODY, ALL);
    verify(&req(&both, BODY), &auth, SECRET, T0).unwrap();
}

#[test]
fn server_rules_name_headers_that_must_be_signed() {
    const RULES: SignedHeaderRules<'static> = SignedHeaderRules {
        names: &["content-type", "x-amz-target", "x-amz-security-token"],
        prefixes: &["x-trent-"],
    };
    let mut h = headers("20150830T123600Z");
    h.push(("User-Agent".into(), "not decisive".into()));
    h.push(("X-Trent-On-Behalf-Of".into(), "arn:aws:iam::111122223333:user/ann".into()));
    let all = signed(&h, BODY, &["content-type", "host", "x-amz-date", "x-amz-target", "x-trent-on-behalf-of"]);
    all.check_signed_headers(&req(&h, BODY), &RULES).unwrap();
    verify(&req(&h, BODY), &all, SECRET, T0).unwrap();
    // Each decisive header left unsigned is named; the signature over the
    // others would have matched.
    for (left_out, name) in [
        ("x-amz-target", "X-Amz-Target"),
        ("content-type", "Content-Type"),
        ("x-trent-on-behalf-of", "X-Trent-On-Behalf-Of"),
    ] {
        let signed_list: Vec<&str> = ["content-type", "host", "x-amz-date", "x-amz-target", "x-trent-on-behalf-of"]
            .into_iter()
            .filter(|n| *n != left_out)
            .collect();
        let auth = signed(&h, BODY, &signed_list);
        verify(&req(&h, BODY), &auth, SECRET, T0).unwrap();
        let e = auth.check_signed_headers(&req(&h, BODY), &RULES).unwrap_err();
        assert_eq!(e, SigV4Error::HeaderNotSigned { header: name.into() });
        assert_eq!(e.aws_error_code(), "InvalidSignatureException");
        assert_eq!(e.message(), format!("'{name}' must be a 'SignedHeader' in the AWS Authorization."));
    }
    // A required header that is absent is not required.
    let bare: Vec<_> = h.iter().filter(|(n, _)| n.starts_with("Host") || n.starts_with("X-Amz-Date")).cloned().collect();
    signed(&bare, BODY, &["host", "x-amz-date"]).check_signed_headers(&req(&bare, BODY), &RULES).unwrap();
    // A session token added after signing is refused (AWS's test suite
    // post-sts-header-after verifies, but a server must not read it).
    let mut sts = h.clone();
    sts.push(("X-Amz-Security-Token".into(), "token".into()));
    let e = all.check_signed_headers(&req(&sts, BODY), &RULES).unwrap_err();
    assert_eq!(e, SigV4Error::HeaderNotSigned { header: "X-Amz-Security-Token".into() });
}

#[test]
fn region_names_in_the_scope() {
    let h = headers("20150830T123600Z");
    for (region, ok) in [("us-east-1", true), ("us-gov-west-1", true), ("x:y", false), ("..", false), ("US-EAST-1", false), ("", false)] {
        let value = sign(&req(&h, BODY), "AKIDEXAMPLE", SECRET, region, "kms", ALL).unwrap();
        let auth = parse_authorization(&value).unwrap();
        assert_eq!(auth.region, region);
        let result = auth.check_region_name();
        assert_eq!(result.is_ok(), ok, "{region:?}");
        if let Err(e) = result {
            assert_eq!(e.aws_error_code(), "InvalidSignatureException");
            assert_eq!(e.message(), format!("Credential should be scoped to a valid region, not '{region}'."));
        }
    }
}

#[test]
fn every_signed_header_must_be_present() {
    let h = headers("20150830T123600Z");
    let auth = signed(&h, BODY, ALL);
    let without: Vec<_> = h
        .iter()
        .filter(|(n, _)| n != "X-Amz-Target")
        .cloned()
        .collect();
    let e = verify(&req(&without, BODY), &auth, SECRET, T0).unwrap_err();
    assert_eq!(
        e,
        SigV4Error::SignedHeaderMissing {
            header: "x-amz-target".into()
        }
    );
    assert_eq!(e.aws_error_code(), "InvalidSignatureException");
}

#[test]
fn payload_hash_header() {
    let body_hash = sha256_hex(BODY);
    let mut h = headers("20150830T123600Z");
    h.push(("X-Amz-Content-Sha256".into(), body_hash.clone()));
    let auth = signed(&h, BODY, &["host", "x-amz-content-sha256", "x-amz-date"]);
    verify(&req(&h, BODY), &auth, SECRET, T0).unwrap();
    // Same header, different body: the header no longer matches the body.
    let e = verify(&req(&h, b"{}"), &auth, SECRET, T0).unwrap_err();
    assert_eq!(e, SigV4Error::PayloadHashMismatch);
    assert_eq!(e.aws_error_code(), "InvalidSignatureException");
    // A hash that is not the body's, even if it was what got signed.
    let mut h2 = headers("20150830T123600Z");
    h2.push(("x-amz-content-sha256".into(), EMPTY_SHA256.into()));
    let auth2 = signed(&h2, b"", &["host", "x-amz-content-sha256", "x-amz-date"]);
    assert_eq!(
        verify(&req(&h2, BODY), &auth2, SECRET, T0),
        Err(SigV4Error::PayloadHashMismatch)
    );
    assert_eq!(verify(&req(&h2, b""), &auth2, SECRET, T0), Ok(()));
}

#[test]
fn unsigned_payload_skips_the_body() {
    let mut h = headers("20150830T123600Z");
    h.push(("x-amz-content-sha256".into(), UNSIGNED_PAYLOAD.into()));
    let auth = signed(&h, BODY, &["host", "x-amz-content-sha256", "x-amz-date"]);
    verify(&req(&h, BODY), &auth, SECRET, T0).unwrap();
    verify(&req(&h, b"anything"), &auth, SECRET, T0).unwrap();
}

#[test]
fn body_is_covered_without_payload_header() {
    let h = headers("20150830T123600Z");
    let auth = signed(&h, BODY, ALL);
    let e = verify(&req(&h, b"{\"KeyId\":\"other\"}"), &auth, SECRET, T0).unwrap_err();
    assert_eq!(e, SigV4Error::SignatureMismatch);
}

#[test]
fn date_presence_and_format() {
    let h = headers("20150830T123600Z");
    let auth = signed(&h, BODY, ALL);
    let no_date: Vec<_> = h
        .iter()
        .filter(|(n, _)| n != "X-Amz-Date")
        .cloned()
        .collect();
    let e = verify(&req(&no_date, BODY), &auth, SECRET, T0).unwrap_err();
    assert_eq!(e.aws_error_code(), "IncompleteSignatureException");
    assert_eq!(
        e.message(),
        format!("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={}", auth.to_header_value())
    );
    for bad in [
        "2015-08-30T12:36:00Z",
        "20150830T123600",
        "",
        "20150830T253600Z",
    ] {
        let e = verify(&req(&headers(bad), BODY), &auth, SECRET, T0).unwrap_err();
        assert_eq!(e, SigV4Error::InvalidDateFormat { value: bad.into() });
        assert_eq!(e.aws_error_code(), "IncompleteSignatureException");
    }
    // X-Amz-Date wins over Date; a bad X-Amz-Date is not rescued by Date.
    let mut both = headers("nonsense");
    both.push(("Date".into(), "Sun, 30 Aug 2015 12:36:00 GMT".into()));
    assert!(matches!(
        verify(&req(&both, BODY), &auth, SECRET, T0),
        Err(SigV4Error::InvalidDateFormat { .. })
    ));
}

#[test]
fn http_date_header_is_accepted() {
    let mut h = headers("");
    h.retain(|(n, _)| n != "X-Amz-Date");
    h.push(("Date".into(), "Sun, 30 Aug 2015 12:36:00 GMT".into()));
    let auth = signed(&h, BODY, &["date", "host", "x-amz-target"]);
    assert_eq!(auth.date, "20150830");
    verify(&req(&h, BODY), &auth, SECRET, T0).unwrap();
    assert!(verify(&req(&h, BODY), &auth, SECRET, T0 + 301).is_err());
}

#[test]
fn wrong_secret_and_tampered_signature() {
    let h = headers("20150830T123600Z");
    let auth = signed(&h, BODY, ALL);
    assert_eq!(
        verify(&req(&h, BODY), &auth, b"wrong", T0),
        Err(SigV4Error::SignatureMismatch)
    );
    for sig in [
        String::new(),
        auth.signature.to_uppercase(),
        auth.signature[..63].to_string(),
        format!("{}0", auth.signature),
    ] {
        let a = Authorization {
            signature: sig,
            ..auth.clone()
        };
        assert_eq!(
            verify(&req(&h, BODY), &a, SECRET, T0),
            Err(SigV4Error::SignatureMismatch)
        );
    }
    // Scope parts are part of the signing key.
    for a in [
        Authorization {
            region: "us-west-2".into(),
            ..auth.clone()
        },
        Authorization {
            service: "s3".into(),
            ..auth.clone()
        },
    ] {
        assert_eq!(
            verify(&req(&h, BODY), &a, SECRET, T0),
            Err(SigV4Error::SignatureMismatch)
        );
    }
}

#[test]
fn signature_mismatch_message_leaks_nothing() {
    let h = headers("20150830T123600Z");
    let good = signed(&h, BODY, ALL);
    let bad = Authorization {
        signature: "0".repeat(64),
        ..good.clone()
    };
    let e = verify(&req(&h, BODY), &bad, SECRET, T0).unwrap_err();
    assert_eq!(e.aws_error_code(), "InvalidSignatureException");
    assert_eq!(e.message(), SIGNATURE_MISMATCH_MESSAGE);
    let shown = format!("{e} {e:?}");
    assert!(
        !shown.contains(&good.signature),
        "computed signature leaked"
    );
    assert!(!shown.contains("wJalrXUtnFEMI"), "secret leaked");
    assert_eq!(e.to_string(), e.message());
}

#[test]
fn signing_key_matches_aws_documentation_example() {
    // AWS General Reference, "Examples of how to derive a signing key"
    // (secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam).
    let k = signing_key(SECRET, "20120215", "us-east-1", "iam");
    assert_eq!(
        hex::encode(k),
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    );
}

#[test]
fn authorization_header_lookup() {
    let mut h = headers("20150830T123600Z");
    let r = req(&h, b"");
    assert_eq!(
        authorization_header(&r),
        Err(SigV4Error::MissingAuthenticationToken)
    );
    h.push(("authorization".into(), "  ".into()));
    assert_eq!(
        authorization_header(&req(&h, b"")),
        Err(SigV4Error::MissingAuthenticationToken)
    );
    h.pop();
    h.push(("AUTHORIZATION".into(), "AWS4-HMAC-SHA256 x".into()));
    assert_eq!(
        authorization_header(&req(&h, b"")),
        Ok("AWS4-HMAC-SHA256 x")
    );
    let e = SigV4Error::MissingAuthenticationToken;
    assert_eq!(
        (e.aws_error_code(), e.http_status(), e.message().as_str()),
        (
            "MissingAuthenticationTokenException",
            400,
            "Request is missing Authentication Token"
        )
    );
}

#[test]
fn unrecognized_client() {
    let e = SigV4Error::UnrecognizedClient;
    assert_eq!(e.aws_error_code(), "UnrecognizedClientException");
    assert_eq!(
        e.message(),
        "The security token included in the request is invalid."
    );
    assert_eq!(e.http_status(), 400);
}

#[test]
fn lower_hex_is_hex_encode() {
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(crate::lower_hex(&all), hex::encode(&all));
    assert_eq!(crate::lower_hex(&[]), "");
    assert_eq!(crate::lower_hex(&[0x0f, 0xa0]), "0fa0");
}
