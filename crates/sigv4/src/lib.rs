//! Server-side AWS Signature Version 4 verification for Trent.
//!
//! This crate is the authentication step of Trent's request path:
//! HTTP -> protocol -> **SigV4 authentication** -> dispatch -> ...
//! The HTTP layer hands over the request as received ([`Request`]); the
//! server finds the `Authorization` header ([`authorization_header`]), parses
//! it ([`parse_authorization`]), looks up the secret for its access key id
//! (answering [`SigV4Error::UnrecognizedClient`] if there is none), optionally
//! checks region and service ([`Authorization::check_scope`],
//! [`Authorization::check_region_name`]) and the headers it needs signed
//! ([`Authorization::check_signed_headers`]), and calls [`verify`] with its
//! clock. Every failure is a [`SigV4Error`] carrying the
//! AWS error code, HTTP status and message to send back.
//!
//! The crate is pure: no I/O, no clock (the time is passed in), no global
//! state. Cryptography is aws-lc-rs (HMAC-SHA256, SHA-256, constant-time
//! comparison).
//!
//! Scope: header-based SigV4 (`AWS4-HMAC-SHA256`) with non-S3 canonicalization.
//! Not supported: presigned URLs (query-string auth), SigV4a, chunked/streaming
//! payloads, S3 path rules. `X-Amz-Security-Token` is treated as an ordinary
//! header (signed if the client signed it); validating session tokens is the
//! caller's business.
//!
//! For HTTP/2 the caller must supply a `host` header (from `:authority`).

#![forbid(unsafe_code)]

mod canonical;
mod error;
mod parse;
mod rules;
mod time;
mod verify;

pub use canonical::{
    canonical_headers, canonical_query, canonical_request, canonical_uri, string_to_sign,
    EMPTY_SHA256,
};
pub use error::{SigV4Error, SigV4ErrorKind, SIGNATURE_MISMATCH_MESSAGE};
pub use parse::{parse_authorization, Authorization, ALGORITHM, SCOPE_TERMINATOR};
pub use rules::{is_region_name, SignedHeaderRules};
pub use time::{days_from_civil, format_iso_basic, format_iso_extended};
pub use verify::{sign, signing_key, verify, verify_with_hmac_key, verify_with_signing_key, MAX_CLOCK_SKEW_SECS, UNSIGNED_PAYLOAD};

/// An HTTP request as the HTTP layer received it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Method, e.g. `POST`.
    pub method: &'a str,
    /// Raw path as received (still percent-encoded), e.g. `/`.
    pub path: &'a str,
    /// Raw query string without `?`, possibly empty.
    pub query: &'a str,
    /// All headers as received: names in any case, values untouched; a
    /// repeated header appears once per occurrence. Borrowed, so a server
    /// lists its headers without copying them ([`borrowed`] for owned pairs).
    pub headers: &'a [(&'a str, &'a str)],
    /// The complete body.
    pub body: &'a [u8],
}

/// Owned header pairs as [`Request::headers`] takes them.
pub fn borrowed(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect()
}

/// The request's `Authorization` header (the first one, if repeated).
/// Missing or blank is [`SigV4Error::MissingAuthenticationToken`].
pub fn authorization_header<'a>(req: &Request<'a>) -> Result<&'a str, SigV4Error> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| *v)
        .filter(|v| !v.trim().is_empty())
        .ok_or(SigV4Error::MissingAuthenticationToken)
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    lower_hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

/// Lowercase hex, as `hex::encode`, by table: every request hex-encodes a
/// few hashes (SigV4's, the audit record's), and `hex::encode` goes a char
/// at a time through an iterator (~2,000 instructions for a SHA-256;
/// docs/BENCHMARKS.md).
pub fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
    // Only ASCII digits and letters were pushed.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests;
