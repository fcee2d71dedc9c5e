//! Signature computation and the full verification of a request.

use aws_lc_rs::{constant_time, hmac};

use crate::canonical::{canonical_request, header_value, header_values, string_to_sign};
use crate::time::{format_iso_basic, parse_http_date, parse_iso_basic};
use crate::{sha256_hex, Authorization, Request, SigV4Error, SCOPE_TERMINATOR};

/// Largest accepted difference between the request time and the server clock.
pub const MAX_CLOCK_SKEW_SECS: i64 = 5 * 60;

/// Payload hash value that leaves the body out of the signature.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0u8; 32];
    // An HMAC-SHA256 tag is always exactly 32 bytes.
    out.copy_from_slice(tag.as_ref());
    out
}

/// The SigV4 signing key: HMAC chain over date, region, service and
/// `aws4_request`, keyed first with `"AWS4" + secret`. Depends only on the
/// secret and the scope, so it can be cached per (key, day, region, service).
pub fn signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret);
    let k_date = hmac_sha256(&k_secret, date.as_bytes());
    k_secret.fill(0);
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, SCOPE_TERMINATOR.as_bytes())
}

/// The request time: `X-Amz-Date` if present (must be `yyyymmddThhmmssZ`),
/// else `Date` (that format or an HTTP date). Returns the
/// `yyyymmddThhmmssZ` form and Unix seconds.
fn request_timestamp(req: &Request<'_>, auth: &Authorization) -> Result<(String, i64), SigV4Error> {
    if let Some(v) = header_value(req, "x-amz-date") {
        let t = parse_iso_basic(v).ok_or_else(|| SigV4Error::InvalidDateFormat {
            value: v.to_string(),
        })?;
        return Ok((v.to_string(), t));
    }
    if let Some(v) = header_value(req, "date") {
        let t = parse_iso_basic(v)
            .or_else(|| parse_http_date(v))
            .ok_or_else(|| SigV4Error::InvalidDateFormat {
                value: v.to_string(),
            })?;
        return Ok((format_iso_basic(t), t));
    }
    Err(SigV4Error::MissingDate {
        authorization: auth.to_header_value(),
    })
}

/// The payload hash going into the canonical request: the
/// `x-amz-content-sha256` header if present (which must be `UNSIGNED-PAYLOAD`
/// or the body's hash), else the body's hash.
fn hashed_payload(req: &Request<'_>) -> Result<String, SigV4Error> {
    let body_hash = sha256_hex(req.body);
    match header_value(req, "x-amz-content-sha256") {
        None => Ok(body_hash),
        Some(UNSIGNED_PAYLOAD) => Ok(UNSIGNED_PAYLOAD.to_string()),
        Some(v) if v.eq_ignore_ascii_case(&body_hash) => Ok(v.to_string()),
        Some(_) => Err(SigV4Error::PayloadHashMismatch),
    }
}

fn check_skew(request_time: i64, now: i64) -> Result<(), SigV4Error> {
    let earliest = now.saturating_sub(MAX_CLOCK_SKEW_SECS);
    let latest = now.saturating_add(MAX_CLOCK_SKEW_SECS);
    if request_time < earliest {
        return Err(SigV4Error::SignatureExpired {
            request_time: format_iso_basic(request_time),
            earliest: format_iso_basic(earliest),
            now: format_iso_basic(now),
        });
    }
    if request_time > latest {
        return Err(SigV4Error::SignatureNotYetCurrent {
            request_time: format_iso_basic(request_time),
            latest: format_iso_basic(latest),
            now: format_iso_basic(now),
        });
    }
    Ok(())
}

/// Lowercase hex signature of `req` under `auth` (its scope, signed
/// headers), with the scope's signing key.
fn compute_signature(
    req: &Request<'_>,
    auth: &Authorization,
    timestamp: &str,
    hashed_payload: &str,
    key: &hmac::Key,
) -> String {
    let creq = canonical_request(req, auth, hashed_payload);
    let sts = string_to_sign(timestamp, &auth.scope(), &creq);
    crate::lower_hex(hmac::sign(key, sts.as_bytes()).as_ref())
}

/// Verifies a SigV4-signed request.
///
/// Checks, in order: a request date is present (`X-Amz-Date`, else `Date`) and
/// well-formed; `host` and that date header are signed; the credential-scope date equals the request
/// date; the request time is within [`MAX_CLOCK_SKEW_SECS`] of `now_unix`
/// (inclusive, both directions); every signed header is present; the
/// `x-amz-content-sha256` header, if present, is `UNSIGNED-PAYLOAD` or the
/// body's SHA-256; and finally the signature, compared in constant time.
///
/// Region and service are not checked here; see [`Authorization::check_scope`].
pub fn verify(
    req: &Request<'_>,
    auth: &Authorization,
    secret_access_key: &[u8],
    now_unix: i64,
) -> Result<(), SigV4Error> {
    let mut key = signing_key(secret_access_key, &auth.date, &auth.region, &auth.service);
    let result = verify_with_signing_key(req, auth, &key, now_unix);
    key.fill(0);
    result
}

/// [`verify`] with the signing key of `auth`'s scope already derived (see
/// [`signing_key`]), for a server that caches it.
pub fn verify_with_signing_key(
    req: &Request<'_>,
    auth: &Authorization,
    signing_key: &[u8; 32],
    now_unix: i64,
) -> Result<(), SigV4Error> {
    verify_with_hmac_key(req, auth, &hmac::Key::new(hmac::HMAC_SHA256, signing_key), now_unix)
}

/// [`verify_with_signing_key`] with the signing key already prepared as an
/// HMAC key (a server keeping keys saves preparing one per request).
pub fn verify_with_hmac_key(
    req: &Request<'_>,
    auth: &Authorization,
    signing_key: &hmac::Key,
    now_unix: i64,
) -> Result<(), SigV4Error> {
    let (timestamp, request_time) = request_timestamp(req, auth)?;
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::HostNotSigned);
    }
    // The header the request time comes from must be signed too (AWS's rule).
    let date_header = if header_value(req, "x-amz-date").is_some() { "x-amz-date" } else { "date" };
    if !auth.is_signed(date_header) {
        return Err(SigV4Error::HeaderNotSigned { header: crate::rules::display_name(date_header) });
    }
    let request_date = timestamp.get(..8).unwrap_or_default();
    if auth.date != request_date {
        return Err(SigV4Error::ScopeDateMismatch {
            scope_date: auth.date.clone(),
            request_date: request_date.to_string(),
            request_timestamp: timestamp.clone(),
        });
    }
    check_skew(request_time, now_unix)?;
    if let Some(h) = auth
        .signed_headers
        .iter()
        .find(|h| header_values(req, h).next().is_none())
    {
        return Err(SigV4Error::SignedHeaderMissing { header: h.clone() });
    }
    let payload = hashed_payload(req)?;
    let expected = compute_signature(req, auth, &timestamp, &payload, signing_key);
    constant_time::verify_slices_are_equal(expected.as_bytes(), auth.signature.as_bytes())
        .map_err(|_| SigV4Error::SignatureMismatch)
}

/// Signs `req` as a client would and returns the `Authorization` header value.
///
/// The time comes from the request's `X-Amz-Date` (or `Date`) header, which
/// must be present; the payload hash from `x-amz-content-sha256` if present,
/// else the body. `signed_headers` are lower-cased and sorted. Meant for tests
/// and tools; it does not check that the headers exist.
pub fn sign(
    req: &Request<'_>,
    access_key_id: &str,
    secret_access_key: &[u8],
    region: &str,
    service: &str,
    signed_headers: &[&str],
) -> Result<String, SigV4Error> {
    let mut headers: Vec<String> = signed_headers
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    headers.sort();
    headers.dedup();
    let mut auth = Authorization {
        access_key_id: access_key_id.to_string(),
        date: String::new(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: headers,
        signature: String::new(),
    };
    let (timestamp, _) = request_timestamp(req, &auth)?;
    auth.date = timestamp.get(..8).unwrap_or_default().to_string();
    let payload = hashed_payload(req)?;
    let key = signing_key(secret_access_key, &auth.date, &auth.region, &auth.service);
    auth.signature = compute_signature(req, &auth, &timestamp, &payload, &hmac::Key::new(hmac::HMAC_SHA256, &key));
    Ok(auth.to_header_value())
}
