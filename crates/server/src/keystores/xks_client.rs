//! The KMS side's client of an XKS proxy (external key stores,
//! docs/custom-key-stores.md): HTTPS on rustls, every request signed with
//! SigV4 (service `kms-xks-proxy`, the caller's Region) under the key
//! store's proxy credential, and bounded by AWS's time limit. Failures are
//! typed, each with AWS's `ConnectionErrorCode`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Deserialize;
use serde_json::{json, Value};

use super::xks_pool::{Lease, Pool};

/// The SigV4 service name of the XKS proxy API.
pub const SERVICE: &str = "kms-xks-proxy";
/// AWS KMS gives a proxy 250 ms per request (the XKS proxy API's latency
/// requirement); `trent serve --xks-timeout-ms` changes it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// Larger answers are not a proxy's (the spec's largest is a 4300-byte
/// plaintext in Base64 plus metadata).
const MAX_ANSWER: usize = 64 * 1024;
const SIGNED_HEADERS: [&str; 3] = ["content-type", "host", "x-amz-date"];

/// How `trent serve` reaches proxies.
#[derive(Clone)]
pub struct XksClient {
    tls: tokio_rustls::TlsConnector,
    timeout: Duration,
    /// `HOST` -> the address its port 443 is reached at instead (tests, and
    /// proxies behind a port mapping); TLS still checks `HOST`.
    connect_to: Arc<HashMap<String, SocketAddr>>,
    /// Kept-alive connections, shared by the clones.
    pool: Pool,
}

/// One proxy and the credential to call it with.
pub struct Target<'a> {
    /// `https://HOST`, validated by CreateCustomKeyStore.
    pub uri_endpoint: &'a str,
    pub uri_path: &'a str,
    pub access_key_id: &'a str,
    pub secret: &'a [u8],
    pub region: &'a str,
}

/// Why a call to a proxy failed.
#[derive(Debug, thiserror::Error)]
pub enum XksError {
    #[error("TLS with the proxy failed: {0}")]
    Tls(String),
    #[error("the proxy cannot be reached: {0}")]
    NotReachable(String),
    #[error("the proxy did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("the proxy rejected the request's signature (HTTP 401)")]
    BadCredential,
    #[error("the proxy denied access (HTTP 403)")]
    AccessDenied,
    #[error("the proxy does not serve the URI path (HTTP 404)")]
    InvalidUriPath,
    #[error("the proxy's answer cannot be read: {0}")]
    InvalidResponse(String),
    #[error("the proxy reports every external key manager instance UNAVAILABLE")]
    Unavailable,
    /// The spec's DependencyTimeoutException (503): the proxy timed out
    /// reaching its external key manager.
    #[error("the proxy timed out reaching its external key manager (DependencyTimeoutException)")]
    DependencyTimeout,
    /// The spec's ThrottlingException (429).
    #[error("the proxy refused the request rate (ThrottlingException)")]
    Throttled,
    #[error("the proxy answered HTTP {status} {name}: {message}")]
    Refused { status: u16, name: String, message: String },
    #[error("{0}")]
    Internal(String),
}

impl XksError {
    /// AWS's `ConnectionErrorCode` for a connection that failed this way.
    pub fn connection_error_code(&self) -> &'static str {
        match self {
            XksError::Tls(_) => "XKS_PROXY_INVALID_TLS_CONFIGURATION",
            XksError::NotReachable(_) | XksError::Unavailable => "XKS_PROXY_NOT_REACHABLE",
            XksError::TimedOut(_) | XksError::DependencyTimeout => "XKS_PROXY_TIMED_OUT",
            // The spec makes it XksProxyUriUnreachableException at creation,
            // the exception of a proxy that cannot be reached.
            XksError::Throttled => "XKS_PROXY_NOT_REACHABLE",
            XksError::BadCredential => "INVALID_CREDENTIALS",
            XksError::AccessDenied => "XKS_PROXY_ACCESS_DENIED",
            XksError::InvalidUriPath => "XKS_PROXY_INVALID_CONFIGURATION",
            XksError::InvalidResponse(_) | XksError::Refused { .. } => "XKS_PROXY_INVALID_RESPONSE",
            XksError::Internal(_) => "INTERNAL_ERROR",
        }
    }
}

/// GetHealthStatus's answer (the spec's members; others ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthStatus {
    pub xks_proxy_fleet_size: u64,
    pub xks_proxy_vendor: String,
    pub xks_proxy_model: String,
    pub ekm_vendor: String,
    pub ekm_fleet_details: Vec<EkmInstance>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EkmInstance {
    pub id: String,
    pub model: String,
    pub health_status: String,
}

/// GetKeyMetadata's answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMetadata {
    pub key_spec: String,
    pub key_usage: Vec<String>,
    pub key_status: String,
}

impl XksClient {
    /// Trusts the system's roots and the certificates of `ca_bundle` (PEM).
    pub fn new(ca_bundle: Option<&Path>, timeout: Duration, connect_to: HashMap<String, SocketAddr>) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        // Unreadable system certificates are skipped, as rustls suggests:
        // one bad file must not leave the proxy untrusted.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = ca_bundle {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect())
                .map_err(|e| format!("cannot read the XKS CA bundle {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("the XKS CA bundle {} holds no certificate", path.display()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| format!("the XKS CA bundle {}: {e}", path.display()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS versions: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(XksClient { tls: tokio_rustls::TlsConnector::from(Arc::new(config)), timeout, connect_to: Arc::new(connect_to), pool: Pool::default() })
    }

    /// GetHealthStatus, as KMS calls it to test a proxy. A proxy whose
    /// every external key manager instance is UNAVAILABLE fails.
    pub async fn health(&self, target: &Target<'_>, kms_operation: &str) -> Result<HealthStatus, XksError> {
        let body = json!({ "requestMetadata": { "kmsRequestId": uuid::Uuid::new_v4().to_string(), "kmsOperation": kms_operation } });
        let answer = self.call(target, "health", &body).await?;
        let health: HealthStatus = serde_json::from_value(answer).map_err(|e| XksError::InvalidResponse(format!("GetHealthStatus: {e}")))?;
        if let Some(bad) = health.ekm_fleet_details.iter().find(|e| !matches!(e.health_status.as_str(), "ACTIVE" | "DEGRADED" | "UNAVAILABLE")) {
            return Err(XksError::InvalidResponse(format!("GetHealthStatus: healthStatus {:?}", bad.health_status)));
        }
        if !health.ekm_fleet_details.is_empty() && health.ekm_fleet_details.iter().all(|e| e.health_status == "UNAVAILABLE") {
            return Err(XksError::Unavailable);
        }
        Ok(health)
    }

    /// GetKeyMetadata of external key `key_id`, for `kms_operation` by
    /// `principal` (the spec's request metadata).
    pub async fn key_metadata(&self, target: &Target<'_>, key_id: &str, kms_operation: &str, principal: &str, request_id: &str) -> Result<KeyMetadata, XksError> {
        let body = json!({ "requestMetadata": { "awsPrincipalArn": principal, "kmsOperation": kms_operation, "kmsRequestId": request_id } });
        let answer = self.call(target, &format!("keys/{}/metadata", super::xks_crypto::path_segment(key_id)?), &body).await?;
        serde_json::from_value(answer).map_err(|e| XksError::InvalidResponse(format!("GetKeyMetadata: {e}")))
    }

    /// POSTs `body` to `URI_PATH/api`; the JSON answer of a 200.
    pub(super) async fn call(&self, target: &Target<'_>, api: &str, body: &Value) -> Result<Value, XksError> {
        tokio::time::timeout(self.timeout, self.exchange(target, api, body)).await.unwrap_or(Err(XksError::TimedOut(self.timeout)))
    }

    async fn exchange(&self, target: &Target<'_>, api: &str, body: &Value) -> Result<Value, XksError> {
        let host = target.uri_endpoint.strip_prefix("https://").ok_or_else(|| XksError::Internal(format!("endpoint {} is not https", target.uri_endpoint)))?;
        let path = format!("{}/{api}", target.uri_path);
        let payload = serde_json::to_vec(body).map_err(|e| XksError::Internal(format!("request body: {e}")))?;
        if let Some(lease) = self.pool.take(host) {
            // An idle connection the proxy closed meanwhile fails at once:
            // then, and only then, a new connection is tried.
            match send(lease, signed(target, host, &path, &payload)?).await {
                Sent::Stale(e) => tracing::debug!(host, error = %e, "a kept-alive XKS proxy connection was closed; reconnecting"),
                Sent::Answer(result) => return result,
            }
        }
        let lease = self.connect(host).await?;
        match send(lease, signed(target, host, &path, &payload)?).await {
            Sent::Stale(e) => Err(XksError::NotReachable(format!("no answer: {e}"))),
            Sent::Answer(result) => result,
        }
    }

    /// A new TLS connection to `host`, its HTTP/1.1 driver running in the pool.
    async fn connect(&self, host: &str) -> Result<Lease, XksError> {
        let tcp = match self.connect_to.get(host) {
            Some(addr) => tokio::net::TcpStream::connect(addr).await,
            None => tokio::net::TcpStream::connect((host, 443)).await,
        }
        .map_err(|e| XksError::NotReachable(e.to_string()))?;
        let name = ServerName::try_from(host.to_owned()).map_err(|e| XksError::NotReachable(format!("host name {host}: {e}")))?;
        let tls = self.tls.connect(name, tcp).await.map_err(|e| XksError::Tls(e.to_string()))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.map_err(|e| XksError::NotReachable(e.to_string()))?;
        Ok(self.pool.lease(host, sender, connection))
    }
}

/// What sending on a connection gave.
enum Sent {
    Answer(Result<Value, XksError>),
    /// A reused connection failed before any answer.
    Stale(hyper::Error),
}

/// Sends `request` on `lease`; a connection whose answer was read in full
/// goes back to the pool, any other is closed (the lease's drop).
async fn send(mut lease: Lease, request: hyper::Request<axum::body::Body>) -> Sent {
    let Some(sender) = lease.sender() else { return Sent::Answer(Err(XksError::Internal("a released connection".into()))) };
    let response = match sender.send_request(request).await {
        Ok(r) => r,
        Err(e) if lease.reused => return Sent::Stale(e),
        Err(e) => return Sent::Answer(Err(XksError::NotReachable(format!("no answer: {e}")))),
    };
    let status = response.status().as_u16();
    let bytes = match axum::body::to_bytes(axum::body::Body::new(response.into_body()), MAX_ANSWER).await {
        Ok(b) => b,
        Err(e) => return Sent::Answer(Err(XksError::InvalidResponse(format!("body: {e}")))),
    };
    lease.release();
    Sent::Answer(answer(status, &bytes))
}

/// The POST of `payload` to `path`, signed with SigV4 under the target's credential.
fn signed(target: &Target<'_>, host: &str, path: &str, payload: &[u8]) -> Result<hyper::Request<axum::body::Body>, XksError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| XksError::Internal(format!("clock: {e}")))?.as_secs();
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("host".to_owned(), host.to_owned()),
        ("x-amz-date".to_owned(), trent_sigv4::format_iso_basic(i64::try_from(now).unwrap_or(i64::MAX))),
    ];
    let unsigned = trent_sigv4::Request { method: "POST", path, query: "", headers: &trent_sigv4::borrowed(&headers), body: payload };
    let authorization = trent_sigv4::sign(&unsigned, target.access_key_id, target.secret, target.region, SERVICE, &SIGNED_HEADERS)
        .map_err(|e| XksError::Internal(format!("signing: {e}")))?;
    let mut request = hyper::Request::post(path);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    request
        .header("authorization", authorization)
        .body(axum::body::Body::from(payload.to_vec()))
        .map_err(|e| XksError::Internal(format!("request: {e}")))
}

/// A proxy's HTTP answer as a result (the spec's error table).
fn answer(status: u16, bytes: &[u8]) -> Result<Value, XksError> {
    let json: Option<Value> = serde_json::from_slice(bytes).ok();
    if status == 200 {
        return match json {
            Some(v @ Value::Object(_)) => Ok(v),
            _ => Err(XksError::InvalidResponse("a 200 answer that is not a JSON object".into())),
        };
    }
    let member = |m: &str| json.as_ref().and_then(|v| v[m].as_str()).unwrap_or("").to_owned();
    let name = member("errorName");
    match (status, name.as_str()) {
        (_, "DependencyTimeoutException") => Err(XksError::DependencyTimeout),
        (_, "ThrottlingException") => Err(XksError::Throttled),
        (401, _) => Err(XksError::BadCredential),
        (403, _) => Err(XksError::AccessDenied),
        (404, "KeyNotFoundException") => Err(XksError::Refused { status, name, message: member("errorMessage") }),
        (404, _) => Err(XksError::InvalidUriPath),
        _ => Err(XksError::Refused { status, name, message: member("errorMessage") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_aws_connection_error_codes() {
        let code = |status, body: &str| answer(status, body.as_bytes()).unwrap_err().connection_error_code();
        assert_eq!(answer(200, br#"{"a":1}"#).unwrap()["a"], 1);
        assert_eq!(code(200, "not json"), "XKS_PROXY_INVALID_RESPONSE");
        assert_eq!(code(200, "[1]"), "XKS_PROXY_INVALID_RESPONSE");
        assert_eq!(code(401, r#"{"errorName":"AuthenticationFailedException"}"#), "INVALID_CREDENTIALS");
        assert_eq!(code(403, r#"{"errorName":"AccessDeniedException"}"#), "XKS_PROXY_ACCESS_DENIED");
        assert_eq!(code(404, r#"{"errorName":"InvalidUriPathException"}"#), "XKS_PROXY_INVALID_CONFIGURATION");
        assert_eq!(code(404, ""), "XKS_PROXY_INVALID_CONFIGURATION");
        assert!(matches!(answer(404, br#"{"errorName":"KeyNotFoundException","errorMessage":"m"}"#), Err(XksError::Refused { status: 404, .. })));
        assert_eq!(code(500, r#"{"errorName":"InternalException"}"#), "XKS_PROXY_INVALID_RESPONSE");
        assert!(matches!(answer(503, br#"{"errorName":"DependencyTimeoutException"}"#), Err(XksError::DependencyTimeout)));
        assert_eq!(code(503, r#"{"errorName":"DependencyTimeoutException"}"#), "XKS_PROXY_TIMED_OUT");
        assert!(matches!(answer(429, br#"{"errorName":"ThrottlingException"}"#), Err(XksError::Throttled)));
        assert_eq!(code(503, ""), "XKS_PROXY_INVALID_RESPONSE");
        assert_eq!(XksError::TimedOut(DEFAULT_TIMEOUT).connection_error_code(), "XKS_PROXY_TIMED_OUT");
        assert_eq!(XksError::Tls(String::new()).connection_error_code(), "XKS_PROXY_INVALID_TLS_CONFIGURATION");
        assert_eq!(XksError::NotReachable(String::new()).connection_error_code(), "XKS_PROXY_NOT_REACHABLE");
        assert_eq!(XksError::Unavailable.connection_error_code(), "XKS_PROXY_NOT_REACHABLE");
    }
}
