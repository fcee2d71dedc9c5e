//! The canonical request and string to sign, built from the request exactly as
//! received (see the SigV4 "create a canonical request" rules).
//!
//! * URI: the raw (already percent-encoded) path, dot segments removed and
//!   repeated slashes collapsed, then URI-encoded once more (so `%` becomes
//!   `%25`). That is the "encode each path segment twice" rule for non-S3
//!   services, counted from the decoded path; S3 semantics are not supported.
//! * Query: each `name=value` pair percent-decoded, re-encoded with the RFC 3986
//!   unreserved set left bare and uppercase hex, sorted by name then value.
//!   `+` is taken literally (encoded as `%2B`), not as a space.
//! * Headers: the signed headers only, lower-cased names, values trimmed with
//!   inner whitespace runs collapsed to one space, repeated headers joined
//!   with `,` in the order received.

use crate::{Authorization, Request};

/// Hex SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes every byte except RFC 3986 unreserved ones (and `/` when
/// `keep_slash`), with uppercase hex.
pub(crate) fn uri_encode(input: &[u8], keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(input.len());
    for &b in input {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes; a `%` not followed by two hex digits is kept literally.
pub(crate) fn percent_decode(input: &str) -> Vec<u8> {
    let b = input.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&c| hex_value(c)),
                b.get(i + 2).and_then(|&c| hex_value(c)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Removes `.` and `..` segments and empty segments (repeated slashes), keeping
/// a leading slash and a trailing slash (when anything remains). Same rules as
/// botocore's `remove_dot_segments`.
pub(crate) fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing = path.ends_with('/') && !segments.is_empty();
    let mut out = String::with_capacity(path.len() + 1);
    out.push('/');
    out.push_str(&segments.join("/"));
    if trailing {
        out.push('/');
    }
    out
}

/// Canonical URI of a raw request path.
pub fn canonical_uri(raw_path: &str) -> String {
    uri_encode(normalize_path(raw_path).as_bytes(), true)
}

/// Canonical query string of a raw query (without `?`).
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k), false),
                uri_encode(&percent_decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    let parts: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join("&")
}

/// Trims and collapses runs of spaces/tabs (and stray CR/LF) to one space.
fn push_normalized_header_value(out: &mut String, v: &str) {
    let mut first = true;
    for word in v.split([' ', '\t', '\r', '\n']).filter(|s| !s.is_empty()) {
        if !first {
            out.push(' ');
        }
        out.push_str(word);
        first = false;
    }
}

/// All values of header `name` (ASCII case-insensitive), in the order received.
pub(crate) fn header_values<'a>(
    req: &'a Request<'_>,
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    req.headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// First value of header `name`, trimmed.
pub(crate) fn header_value<'a>(req: &'a Request<'_>, name: &'a str) -> Option<&'a str> {
    header_values(req, name).next().map(str::trim)
}

/// Canonical header block (each line ends in `\n`), in `SignedHeaders` order.
/// A signed header absent from the request contributes `name:` (callers that
/// care reject that earlier).
pub fn canonical_headers(req: &Request<'_>, signed_headers: &[String]) -> String {
    let mut out = String::with_capacity(256);
    push_canonical_headers(&mut out, req, signed_headers);
    out
}

fn push_canonical_headers(out: &mut String, req: &Request<'_>, signed_headers: &[String]) {
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        for (i, value) in header_values(req, name).enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_normalized_header_value(out, value);
        }
        out.push('\n');
    }
}

/// The canonical request for `req` under `auth`, with `hashed_payload` (hex
/// SHA-256 of the body, or `UNSIGNED-PAYLOAD`) as its last line.
pub fn canonical_request(req: &Request<'_>, auth: &Authorization, hashed_payload: &str) -> String {
    // Built in one buffer: it is made for every request.
    let mut out = String::with_capacity(512);
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_uri(req.path));
    out.push('\n');
    if !req.query.is_empty() {
        out.push_str(&canonical_query(req.query));
    }
    out.push('\n');
    push_canonical_headers(&mut out, req, &auth.signed_headers);
    out.push('\n');
    for (i, name) in auth.signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(hashed_payload);
    out
}

/// The string to sign: algorithm, `yyyymmddThhmmssZ` timestamp, credential
/// scope, hex SHA-256 of the canonical request.
pub fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{}\n{timestamp}\n{scope}\n{}",
        crate::ALGORITHM,
        crate::sha256_hex(canonical_request.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_encoding() {
        assert_eq!(uri_encode(b"-._~azAZ09", false), "-._~azAZ09");
        assert_eq!(
            uri_encode("a b/ሴ+*=%".as_bytes(), false),
            "a%20b%2F%E1%88%B4%2B%2A%3D%25"
        );
        assert_eq!(uri_encode(b"/a b/", true), "/a%20b/");
    }

    #[test]
    fn path_normalization() {
        for (raw, want) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/../..", "/"),
            ("//example//", "/example/"),
            ("/./example", "/example"),
            ("/a/./b/../c/", "/a/c/"),
        ] {
            assert_eq!(normalize_path(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn canonical_uri_encodes_the_raw_path_again() {
        assert_eq!(canonical_uri("/example space/"), "/example%20space/");
        assert_eq!(canonical_uri("/ሴ"), "/%E1%88%B4");
        // An already-encoded path is encoded once more (non-S3 double encoding).
        assert_eq!(canonical_uri("/%E1%88%B4"), "/%25E1%2588%25B4");
        assert_eq!(
            canonical_uri("/key/arn%3Aaws%3Akms"),
            "/key/arn%253Aaws%253Akms"
        );
    }

    #[test]
    fn query_canonicalization() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(
            canonical_query("Param2=value2&Param1=value1"),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(
            canonical_query("Param1=value2&Param1=Value1"),
            "Param1=Value1&Param1=value2"
        );
        assert_eq!(canonical_query("b&a="), "a=&b=");
        assert_eq!(canonical_query("a=1&&b=2&"), "a=1&b=2");
        // Decoded then re-encoded: lowercase hex, raw UTF-8 and reserved chars.
        assert_eq!(canonical_query("%e1%88%b4=bar"), "%E1%88%B4=bar");
        assert_eq!(canonical_query("ሴ=bar"), "%E1%88%B4=bar");
        assert_eq!(canonical_query("k=a b+c/d%2x"), "k=a%20b%2Bc%2Fd%252x");
        assert_eq!(canonical_query("%41=%7e"), "A=~");
        // Sorted on the encoded form, bytewise.
        assert_eq!(
            canonical_query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1"),
            "%E1%88%B4=Value1&Param=Value2&Param-3=Value3"
        );
    }

    #[test]
    fn header_canonicalization() {
        let headers = vec![
            ("Host".to_string(), "example.amazonaws.com".to_string()),
            ("My-Header1".to_string(), "  a   b \t c  ".to_string()),
            ("my-header1".to_string(), "d".to_string()),
            ("Unsigned".to_string(), "x".to_string()),
        ];
        let req = Request {
            method: "GET",
            path: "/",
            query: "",
            headers: &crate::borrowed(&headers),
            body: b"",
        };
        let signed = vec![
            "host".to_string(),
            "my-header1".to_string(),
            "absent".to_string(),
        ];
        assert_eq!(
            canonical_headers(&req, &signed),
            "host:example.amazonaws.com\nmy-header1:a b c,d\nabsent:\n"
        );
    }
}
