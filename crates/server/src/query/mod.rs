//! The AWS Query protocol, for IAM and STS on the same endpoint as KMS:
//! form-encoded `POST /` with an `Action` parameter, XML answers.
//!
//! A request comes here instead of the KMS JSON path when it carries no
//! `X-Amz-Target` and is signed for the `iam` or `sts` service (the SigV4
//! credential scope), or, unsigned, is form-encoded. Then: authentication
//! for that service -> [`crate::iam`] or [`crate::sts`] by `Action`.

pub mod error;
pub mod form;
pub mod xml;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::audit::Trail;
use crate::http::body::{Refused, MAX_BODY_BYTES};
use crate::state::{AppState, Ctx};
use error::QueryError;
use form::Params;
use xml::Xml;

pub const IAM_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
pub const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";


#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Iam,
    Sts,
}

impl Service {
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Sts => "sts",
        }
    }
    fn namespace(self) -> &'static str {
        match self {
            Service::Iam => IAM_NAMESPACE,
            Service::Sts => STS_NAMESPACE,
        }
    }
}

/// Which Query service a request is for, if it is not a KMS (JSON) request.
pub fn route(headers: &HeaderMap) -> Option<Service> {
    if headers.contains_key("x-amz-target") {
        return None;
    }
    let scope_service = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| trent_sigv4::parse_authorization(h).ok())
        .map(|a| a.service);
    match scope_service.as_deref() {
        Some("iam") => Some(Service::Iam),
        Some("sts") => Some(Service::Sts),
        Some(_) => None,
        // Unsigned: a form body is a Query request; the Action says whose.
        None => {
            let form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
            form.then_some(Service::Iam)
        }
    }
}

/// Serves one Query request for `service` and writes its XML answer,
/// after its audit event (`trail`, begun by the HTTP layer) is written.
/// `tls`: the request came over Trent's TLS (`aws:SecureTransport`).
#[allow(clippy::too_many_arguments)] // the request's parts, each used once
pub async fn handle(state: Arc<AppState>, service: Service, method: Method, uri: Uri, headers: HeaderMap, body: Result<Bytes, Refused>, tls: bool, mut trail: Trail) -> Response {
    let started = Instant::now();
    let request_id = trail.request_id.clone();
    let audit = state.audit.clone();
    let refused = || QueryError::new(error::QueryCode::ServiceFailure, "Trent cannot write its audit log, so it refuses requests until an operator fixes it.");
    let (service, action, result) = if audit.refusing() {
        // Nothing is served unaudited: refused before it can act.
        (service, String::new(), Err(refused()))
    } else {
        let (service, action, result) = match body {
            Ok(body) => serve(state, service, &method, &uri, &headers, &body, &request_id, tls, &mut trail).await,
            Err(Refused::TooLarge) => (service, String::new(), Err(QueryError::invalid_input(format!("The request body is larger than {MAX_BODY_BYTES} bytes.")))),
            Err(Refused::Unreadable) => (service, String::new(), Err(QueryError::invalid_input("The request body could not be read."))),
        };
        trail.event_source = Some(match service {
            Service::Iam => "iam.amazonaws.com",
            Service::Sts => "sts.amazonaws.com",
        });
        trail.target = Some(if action.is_empty() { "(none)".to_owned() } else { action.chars().take(128).collect() });
        let event = crate::audit::event::build(&trail, result.as_ref().err().map(|e| (e.code.name(), e.message.as_str())));
        let changed = result.is_ok() && !crate::audit::event::read_only(&action);
        match audit.record(&event, changed).await {
            Ok(()) => (service, action, result),
            Err(e) => {
                tracing::error!(request_id = %request_id, error = %e, "the answer is withheld: its audit event could not be written");
                (service, action, Err(refused()))
            }
        }
    };
    let ns = service.namespace();
    let (status, text) = match result {
        Ok(result) => {
            let mut x = Xml::new();
            let mut out = format!("<{action}Response xmlns=\"{ns}\">");
            if let Some(inner) = result {
                out.push_str(&format!("<{action}Result>{inner}</{action}Result>"));
            }
            x.start("ResponseMetadata").text("RequestId", &request_id).end("ResponseMetadata");
            out.push_str(&x.into_string());
            out.push_str(&format!("</{action}Response>"));
            (StatusCode::OK, out)
        }
        Err(err) => {
            if let Some(detail) = &err.internal {
                tracing::error!(request_id = %request_id, detail = %detail, "internal error");
            }
            let mut x = Xml::new();
            x.start("Error").text("Type", err.fault()).text("Code", err.code.name()).text("Message", &err.message).end("Error").text("RequestId", &request_id);
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, format!("<ErrorResponse xmlns=\"{ns}\">{}</ErrorResponse>", x.into_string()))
        }
    };
    tracing::info!(request_id = %request_id, service = service.signing_name(), action = %action, status = status.as_u16(), micros = started.elapsed().as_micros() as u64, "request");
    let mut response = (status, text).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-requestid", id);
    }
    response
}

type Outcome = (Service, String, Result<Option<String>, QueryError>);

#[allow(clippy::too_many_arguments)] // The request's parts, as the HTTP layer has them.
async fn serve(state: Arc<AppState>, service: Service, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8], request_id: &str, tls: bool, trail: &mut Trail) -> Outcome {
    // The form body, or for GET the query string, carries the parameters.
    let raw = if method == Method::GET { uri.query().unwrap_or("").as_bytes() } else { body };
    let params = match Params::parse(raw) {
        Ok(p) => p,
        Err(e) => return (service, String::new(), Err(e)),
    };
    let action = params.get("Action").unwrap_or("").to_owned();
    let audited = crate::audit::params::query_request(|name| params.get(name).map(str::to_owned));
    // An unsigned request has no scope to say whose it is: STS's actions are its own.
    let service = if headers.contains_key(header::AUTHORIZATION) { service } else if crate::sts::ACTIONS.contains(&action.as_str()) { Service::Sts } else { Service::Iam };
    let result = async {
        if action.is_empty() {
            return Err(QueryError::new(error::QueryCode::MissingAction, "Missing Action"));
        }
        let header_list = crate::http::sigv4_headers(headers, uri);
        let signed = trent_sigv4::Request { method: method.as_str(), path: uri.path(), query: uri.query().unwrap_or(""), headers: &header_list, body };
        let (principal, region) = crate::auth::authenticate_for(&state, &signed, service.signing_name()).await?;
        // Only an authenticated caller's parameters are recorded.
        trail.principal = Some(principal.clone());
        trail.region = Some(region.clone());
        trail.request_parameters = audited;
        let ctx = Ctx { state, principal, region, request_id: request_id.to_owned(), event_id: trail.event_id.clone(), audit: crate::audit::Notes::default(), authz: Default::default() };
        ctx.authz.set_secure_transport(tls);
        match service {
            Service::Iam => crate::iam::call(&ctx, &action, &params).await,
            Service::Sts => crate::sts::call(&ctx, &action, &params).await,
        }
    }
    .await;
    (service, action, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn signed_for(service: &str) -> String {
        format!("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature={}", "0".repeat(64))
    }

    #[test]
    fn the_credential_scope_chooses_the_protocol() {
        assert_eq!(route(&headers(&[("authorization", &signed_for("iam"))])), Some(Service::Iam));
        assert_eq!(route(&headers(&[("authorization", &signed_for("sts"))])), Some(Service::Sts));
        assert_eq!(route(&headers(&[("authorization", &signed_for("kms"))])), None);
        // A JSON request stays on the KMS path whatever its scope says; KMS then refuses the scope.
        assert_eq!(route(&headers(&[("authorization", &signed_for("iam")), ("x-amz-target", "TrentService.ListKeys")])), None);
        // Unsigned: a form body is a Query request, anything else KMS's.
        assert_eq!(route(&headers(&[("content-type", "application/x-www-form-urlencoded; charset=utf-8")])), Some(Service::Iam));
        assert_eq!(route(&headers(&[("content-type", "application/x-amz-json-1.1")])), None);
        assert_eq!(route(&HeaderMap::new()), None);
    }
}
