//! One request, from its URI to its answer: the path (prefix and
//! operation), the method, SigV4 authentication, then the operation.

use std::sync::Arc;
use std::time::Instant;

use trent_crypto::RootKey;
use trent_sigv4::{authorization_header, parse_authorization, verify, Request, SigV4Error};

use super::credentials;
use super::error::{ErrorName, XksError};
use super::keys::KeyBackend;
use super::ops::{self, Operation};
use super::store::{self, DataDir};

/// The SigV4 service name KMS signs XKS requests with (the spec's Appendix
/// A and its curl example: `kms-xks-proxy`).
pub const SERVICE: &str = "kms-xks-proxy";
/// What follows the URI path prefix.
pub const API_PATH: &str = "/kms/xks/v1";

/// Everything a request needs.
pub struct Proxy {
    pub dir: DataDir,
    pub root_key: Arc<RootKey>,
    pub backend: Box<dyn KeyBackend>,
    /// The URI path prefixes served, each `""` or `/some/prefix` (no
    /// trailing slash): one per external key store that uses this proxy
    /// (AWS wants each store's endpoint and path unique in an account and
    /// Region). They serve the same keys and credentials.
    pub prefixes: Vec<String>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("dir", &self.dir).field("prefixes", &self.prefixes).finish_non_exhaustive()
    }
}

/// An answer: status and body (the body may hold plaintext, so it is
/// zeroized when dropped).
pub struct Answer {
    pub status: u16,
    pub body: zeroize::Zeroizing<Vec<u8>>,
}

impl From<XksError> for Answer {
    fn from(e: XksError) -> Answer {
        Answer { status: e.name.status(), body: zeroize::Zeroizing::new(e.body()) }
    }
}

/// The operation and key id a path names under one of `prefixes`, or
/// InvalidUriPathException.
pub fn route_any(path: &str, prefixes: &[String]) -> Result<(Operation, String), XksError> {
    let mut last = None;
    for prefix in prefixes {
        match route(path, prefix) {
            Ok(r) => return Ok(r),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| XksError::new(ErrorName::InvalidUriPathException, "This external key store proxy serves no URI path.")))
}

/// The operation and key id a path names, or InvalidUriPathException.
pub fn route(path: &str, prefix: &str) -> Result<(Operation, String), XksError> {
    let invalid = || XksError::new(ErrorName::InvalidUriPathException, "The URI path is not valid for this external key store proxy.");
    let rest = path
        .strip_prefix(prefix)
        .and_then(|p| p.strip_prefix(API_PATH))
        .and_then(|p| p.strip_prefix('/'))
        .ok_or_else(invalid)?;
    if rest == "health" {
        return Ok((Operation::GetHealthStatus, String::new()));
    }
    let (key_id, op) = rest.strip_prefix("keys/").and_then(|r| r.rsplit_once('/')).ok_or_else(invalid)?;
    let op = match op {
        "metadata" => Operation::GetKeyMetadata,
        "encrypt" => Operation::Encrypt,
        "decrypt" => Operation::Decrypt,
        _ => return Err(invalid()),
    };
    if key_id.is_empty() || key_id.contains('/') {
        return Err(invalid());
    }
    Ok((op, key_id.to_string()))
}

impl Proxy {
    /// Answers one request.
    pub fn handle(&self, req: &Request<'_>) -> Answer {
        let started = Instant::now();
        let (op, key_id) = match route_any(req.path, &self.prefixes) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(path = req.path, "xks-proxy: {e}");
                return e.into();
            }
        };
        // The spec: GET (or anything but POST) on an API URI is 405.
        if req.method != "POST" {
            return Answer { status: 405, body: zeroize::Zeroizing::new(Vec::new()) };
        }
        if let Err(e) = self.authenticate(req) {
            tracing::warn!(operation = ?op, "xks-proxy: {e}");
            return e.into();
        }
        let parsed = match ops::parse(op, req.body) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(operation = ?op, key_id, "xks-proxy: {e}");
                return e.into();
            }
        };
        let result = ops::run(op, &key_id, &parsed, self.backend.as_ref());
        // The spec asks for the request metadata, the outcome and the time
        // in the log; never the plaintext (the body is not logged).
        let m = &parsed.metadata;
        let outcome = match &result {
            Ok(_) => "ok".to_string(),
            Err(e) => e.name.as_str().to_string(),
        };
        tracing::info!(
            operation = ?op,
            key_id,
            kms_request_id = m.kms_request_id.as_deref().unwrap_or(""),
            kms_operation = m.kms_operation.as_deref().unwrap_or(""),
            aws_principal_arn = m.aws_principal_arn.as_deref().unwrap_or(""),
            kms_key_arn = m.kms_key_arn.as_deref().unwrap_or(""),
            kms_via_service = m.kms_via_service.as_deref().unwrap_or(""),
            outcome,
            micros = started.elapsed().as_micros() as u64,
            "xks-proxy request"
        );
        match result {
            Ok(body) => Answer { status: 200, body },
            Err(e) => e.into(),
        }
    }

    /// SigV4 with this proxy's credentials; any failure is
    /// AuthenticationFailedException (401).
    fn authenticate(&self, req: &Request<'_>) -> Result<(), XksError> {
        let failed = |e: SigV4Error| XksError::new(ErrorName::AuthenticationFailedException, e.message());
        let auth = authorization_header(req).and_then(parse_authorization).map_err(failed)?;
        if auth.service != SERVICE {
            return Err(failed(SigV4Error::WrongService { expected: SERVICE.to_string() }));
        }
        // KMS signs with the region it calls from; any well-formed one is
        // accepted (the proxy serves every region's KMS alike).
        auth.check_region_name().map_err(failed)?;
        let secret = credentials::lookup(&self.dir, &self.root_key, &auth.access_key_id)
            .map_err(|detail| {
                tracing::error!("xks-proxy credentials: {detail}");
                XksError::internal()
            })?
            .ok_or_else(|| failed(SigV4Error::UnrecognizedClient))?;
        verify(req, &auth, secret.as_bytes(), store::now_unix()).map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_the_spec_layout() {
        let p = "/example/prefix";
        assert_eq!(route("/example/prefix/kms/xks/v1/health", p).unwrap(), (Operation::GetHealthStatus, String::new()));
        assert_eq!(route("/example/prefix/kms/xks/v1/keys/k-1.a_b/encrypt", p).unwrap(), (Operation::Encrypt, "k-1.a_b".to_string()));
        assert_eq!(route("/kms/xks/v1/keys/k/metadata", "").unwrap(), (Operation::GetKeyMetadata, "k".to_string()));
        for bad in [
            "/kms/xks/v1/health",
            "/example/prefixx/kms/xks/v1/health",
            "/example/prefix/kms/xks/v2/health",
            "/example/prefix/kms/xks/v1/keys/k/sign",
            "/example/prefix/kms/xks/v1/keys//decrypt",
            "/example/prefix/kms/xks/v1/keys/a/b/decrypt",
            "/example/prefix/kms/xks/v1/keys/k",
        ] {
            assert_eq!(route(bad, p).unwrap_err().name, ErrorName::InvalidUriPathException, "{bad}");
        }
    }

    #[test]
    fn each_prefix_routes_and_no_other() {
        let prefixes = vec!["/a".to_string(), "/b/c".to_string()];
        assert_eq!(route_any("/a/kms/xks/v1/health", &prefixes).unwrap().0, Operation::GetHealthStatus);
        assert_eq!(route_any("/b/c/kms/xks/v1/keys/k/decrypt", &prefixes).unwrap(), (Operation::Decrypt, "k".to_string()));
        for bad in ["/kms/xks/v1/health", "/b/kms/xks/v1/health", "/c/kms/xks/v1/health", "/a/b/c/kms/xks/v1/health"] {
            assert_eq!(route_any(bad, &prefixes).unwrap_err().name, ErrorName::InvalidUriPathException, "{bad}");
        }
        assert!(route_any("/kms/xks/v1/health", &[]).is_err());
    }
}
