//! The seal's HTTP side.
//!
//! - `POST /trent/unseal` with `{"key": "SHARE"}` (or the passphrase in
//!   passphrase mode), `{"reset": true}` to drop the shares given so far:
//!   unauthenticated, as Vault's `sys/unseal`, because while sealed the
//!   access keys' secrets are sealed too: the shares are the
//!   authentication. Answers the progress, `{"sealed", "threshold",
//!   "shares", "progress", "mode"}`.
//! - `GET /trent/seal-status`: the same, without a share.
//! - `TrentAdmin.Seal` on `POST /` (SigV4, as every KMS call): seals. Only
//!   the deployment's operator may: the first admin (`user/admin`) or the
//!   root of the account `trent serve` made first.
//! - `TrentAdmin.RotateRoot` and `TrentAdmin.RotateRootStatus`: the
//!   online root key rotation (`super::online::call`), for the same
//!   operator only.
//! - While sealed, every other request is refused with a retryable
//!   server fault (see [`sealed`]).

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use trent_crypto::SecretBytes;

use super::gate::{Gate, Refusal};
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::{AppState, Principal, PrincipalKind};

/// The admin call that seals, on the KMS endpoint.
pub const SEAL_TARGET: &str = "TrentAdmin.Seal";
/// Its name in the audit log.
pub const SEAL_EVENT: &str = "TrentSeal";
/// The store setting naming the account of the first admin.
pub const OPERATOR_ACCOUNT: &str = "operator_account";

#[derive(Deserialize)]
struct UnsealBody {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    reset: bool,
}

/// `POST /trent/unseal`.
pub async fn unseal(gate: &Gate, body: &[u8]) -> Response {
    let parsed: UnsealBody = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(_) => return refusal(StatusCode::BAD_REQUEST, "the body must be JSON: {\"key\": \"SHARE\"}", None),
    };
    if parsed.reset {
        return json_answer(StatusCode::OK, &gate.reset().await);
    }
    let Some(key) = parsed.key else {
        return refusal(StatusCode::BAD_REQUEST, "the body must be JSON: {\"key\": \"SHARE\"}", None);
    };
    let key = SecretBytes::new(zeroize::Zeroizing::new(key).as_bytes().to_vec());
    match gate.unseal(key).await {
        Ok(progress) => json_answer(StatusCode::OK, &progress),
        Err(Refusal::Delayed(wait)) => {
            let secs = wait.as_secs().max(1);
            refusal(StatusCode::TOO_MANY_REQUESTS, &format!("too many failed unseal attempts: try again in {secs} s"), Some(secs))
        }
        Err(Refusal::Wrong(why)) => refusal(StatusCode::BAD_REQUEST, &why, None),
        Err(Refusal::Cannot(why)) => refusal(StatusCode::CONFLICT, &why, None),
        // As every answer of a server that cannot serve now (sealed IAM/STS, /health).
        Err(Refusal::Unavailable(why)) => refusal(StatusCode::SERVICE_UNAVAILABLE, &why, None),
    }
}

/// `GET /trent/seal-status`.
pub async fn status(gate: &Gate) -> Response {
    json_answer(StatusCode::OK, &gate.status().await)
}

fn json_answer(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let text = serde_json::to_string(value).unwrap_or_default();
    let mut response = (status, text).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn refusal(status: StatusCode, message: &str, retry_after: Option<u64>) -> Response {
    let mut response = json_answer(status, &json!({ "error": message }));
    if let Some(secs) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        response.headers_mut().insert(header::RETRY_AFTER, secs);
    }
    response
}

/// The answer to any other request while sealed, a server fault every AWS
/// SDK retries. KMS callers get `DependencyTimeoutException` with HTTP 500
/// (the model's fault that says "you can retry the request"; AWS sends it
/// with 500); IAM and STS callers the Query protocol's
/// `ServiceUnavailable` (503). Not audited: the audit log's signing key is
/// sealed too.
pub fn sealed(headers: &HeaderMap) -> Response {
    let request_id = trent_crypto::new_uuid().to_string();
    let message = crate::protocol::catalogue::Error::Sealed.message().unwrap_or_default();
    let (status, content_type, body) = match crate::query::route(headers) {
        Some(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            ),
        ),
        None => (ErrorCode::DependencyTimeout.status(), crate::protocol::CONTENT_TYPE, json!({ "__type": ErrorCode::DependencyTimeout.name(), "message": message }).to_string()),
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-requestid", id);
    }
    response
}

/// Trent's admin calls on the KMS endpoint: the target's audit event
/// name, if `target` is one of them.
pub fn admin_event(target: Option<&str>) -> Option<&'static str> {
    use super::online::call::{ROTATE_EVENT, ROTATE_TARGET, STATUS_EVENT, STATUS_TARGET};
    match target? {
        SEAL_TARGET => Some(SEAL_EVENT),
        ROTATE_TARGET => Some(ROTATE_EVENT),
        STATUS_TARGET => Some(STATUS_EVENT),
        _ => None,
    }
}

/// One of [`admin_event`]'s calls, after SigV4 authentication.
pub async fn admin_call(target: Option<&str>, state: &std::sync::Arc<AppState>, principal: &Principal, body: &[u8]) -> Result<serde_json::Value, KmsError> {
    use super::online::call;
    match target {
        Some(call::ROTATE_TARGET) => call::rotate_call(state, principal, body).await,
        Some(call::STATUS_TARGET) => call::status_call(state, principal).await,
        _ => seal_call(state, principal).await,
    }
}

/// Refuses anyone but the deployment's operator: the first admin
/// (`user/admin`) or the root of the account `trent serve` made first.
pub async fn require_operator(state: &AppState, principal: &Principal, what: &str) -> Result<(), KmsError> {
    let operator = state.store.get_setting(OPERATOR_ACCOUNT).await?.and_then(|v| String::from_utf8(v).ok());
    let allowed = operator.is_some_and(|account| {
        principal.account_id == account && (principal.kind == PrincipalKind::Root || principal.kind == PrincipalKind::User("admin".to_owned()))
    });
    if !allowed {
        return Err(KmsError::new(ErrorCode::AccessDenied, format!("User: {} is not allowed to {what} Trent: only the deployment's first admin or its account's root may", principal.arn)));
    }
    Ok(())
}

/// `TrentAdmin.Seal`, after SigV4 authentication.
pub async fn seal_call(state: &AppState, principal: &Principal) -> Result<serde_json::Value, KmsError> {
    require_operator(state, principal, "seal").await?;
    let gate = state.sealer.upgrade().ok_or_else(|| KmsError::internal("no seal gate"))?;
    let sealed_now = gate.seal().await.map_err(|e| KmsError::new(ErrorCode::Conflict, e))?;
    Ok(json!({ "sealed": true, "changed": sealed_now }))
}
