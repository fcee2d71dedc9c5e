//! The HTTP step: one route, `POST /`, which carries a request through
//! protocol -> authentication -> validation -> dispatch and writes the
//! answer with its `x-amzn-RequestId`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::protocol::error::KmsError;
use crate::protocol::{self, CONTENT_TYPE};
use crate::state::{AppState, Ctx};

/// Large enough for any KMS request (the largest, a 32 KiB policy, is far below).
const MAX_BODY_BYTES: usize = 1 << 20;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(State(state): State<Arc<AppState>>, extensions: axum::http::Extensions, method: Method, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let peer = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    // IAM and STS (the Query protocol) share the endpoint; see `crate::query`.
    if let Some(service) = crate::query::route(&headers) {
        return crate::query::handle(state, service, method, uri, headers, body).await;
    }
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    // Read here rather than with an extractor, so that even a refused body
    // gets an AWS-shaped answer with a request id.
    let result = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => serve(state, &method, &uri, &headers, &body, &request_id, peer).await,
        Err(_) => Err(KmsError::validation(format!("The request body is larger than {MAX_BODY_BYTES} bytes or could not be read."))),
    };
    let (status, body) = match result {
        Ok(value) => (StatusCode::OK, value.to_string()),
        Err(err) => {
            if let Some(detail) = &err.internal {
                tracing::error!(request_id = %request_id, detail = %detail, "internal error");
            }
            let body = serde_json::json!({ "__type": err.code.name(), "message": err.message });
            (err.code.status(), body.to_string())
        }
    };
    tracing::info!(request_id = %request_id, target = target.unwrap_or("-"), status = status.as_u16(), micros = started.elapsed().as_micros() as u64, "request");
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-requestid", id);
    }
    response
}

async fn serve(state: Arc<AppState>, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8], request_id: &str, peer: Option<std::net::IpAddr>) -> Result<serde_json::Value, KmsError> {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    // Trent's own admin call (see authz::explain) shares the endpoint and its SigV4.
    let admin = target == Some(crate::authz::explain::ADMIN_TARGET);
    let operation = if admin { "ExplainAuthorization" } else { protocol::operation(target)? };
    if method != Method::POST {
        return Err(KmsError::new(protocol::error::ErrorCode::UnknownOperation, "AWS KMS operations are POST requests to /."));
    }
    // SigV4 signs header values as sent; headers that are not valid text cannot have been signed.
    let mut header_list: Vec<(String, String)> =
        headers.iter().filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))).collect();
    // HTTP/2 carries the host as the `:authority` pseudo-header, which SigV4 signs as `host`.
    if !headers.contains_key(axum::http::header::HOST) {
        if let Some(authority) = uri.authority() {
            header_list.push(("host".to_owned(), authority.as_str().to_owned()));
        }
    }
    let signed = trent_sigv4::Request { method: method.as_str(), path: uri.path(), query: uri.query().unwrap_or(""), headers: &header_list, body };
    let (principal, region) = crate::auth::authenticate(&state, &signed).await?;
    let (principal, via_service) = crate::authz::via::forwarded(&state, principal, &signed).await?;
    if admin {
        let ctx = Ctx { state, principal, region, request_id: request_id.to_owned(), authz: Default::default() };
        return crate::authz::explain::handle(&ctx, body).await;
    }
    let input = trent_model::validate_input(operation, body)?;
    let ctx = Ctx { state, principal, region, request_id: request_id.to_owned(), authz: Default::default() };
    if let Some(service) = via_service {
        ctx.authz.set_via_service(service);
    }
    if let Some(ip) = peer {
        ctx.authz.set_source_ip(ip);
    }
    crate::dispatch::call(&ctx, operation, input).await
}
