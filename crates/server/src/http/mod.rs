//! The HTTP step: one route, `POST /`, which carries a request through
//! protocol -> authentication -> validation -> dispatch and writes the
//! answer with its `x-amzn-RequestId`. Around all of it, once: the audit
//! event of the request, written before the answer (or instead of it, if
//! the audit log cannot be written).
//!
//! Each request that may change something runs in a task of its own
//! ([`handle`]): a client that closes its connection drops the connection's
//! future, never the work such a request began, so a change that commits
//! always gets its audit event.

pub mod admin;
pub mod body;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::watch;

use crate::audit::{self, Trail};
use crate::metrics::{Outcome, Slot, METRICS};
use crate::protocol::error::{ErrorCode, KmsError};
use crate::protocol::catalogue::Error;
use crate::protocol::{self, CONTENT_TYPE};
use crate::state::{AppState, Ctx};

/// Seconds a client is asked to wait before retrying a request refused
/// because the audit log cannot be written (the writer retries each second).
const RETRY_AFTER_SECS: &str = "1";

/// Knows when every request task has ended: each task holds a clone of
/// the [`Running`] token, and the sender sees when the last is dropped.
pub struct RequestTasks(watch::Sender<()>);

/// The token each request task holds while it runs.
#[derive(Clone)]
pub struct Running {
    /// Held, never read: dropping it is the signal.
    _token: watch::Receiver<()>,
}

impl RequestTasks {
    pub fn new() -> (RequestTasks, Running) {
        let (tx, rx) = watch::channel(());
        (RequestTasks(tx), Running { _token: rx })
    }

    /// Resolves once every [`Running`] token is gone: the router's (it
    /// goes when the server stops) and each task's.
    pub async fn all_done(self) {
        self.0.closed().await;
    }
}

#[derive(Clone)]
struct Served {
    /// The unsealed state, or nothing while sealed (crate::seal).
    gate: Arc<crate::seal::Gate>,
    running: Running,
    /// `GET /health` and `GET /metrics`, when served on this listener.
    admin: Option<Arc<admin::Admin>>,
}

/// The service; each request's task holds a clone of `running` (see
/// [`handle`]). Beside `POST /`: the seal's endpoints (crate::seal::http)
/// and, with `admin`, the operator's (`GET /health`, `GET /metrics`).
pub fn router(gate: Arc<crate::seal::Gate>, running: Running, admin: Option<Arc<admin::Admin>>) -> Router {
    Router::new()
        .route("/trent/unseal", axum::routing::post(unseal))
        .route("/trent/seal-status", axum::routing::get(seal_status))
        .fallback(handle)
        .with_state(Served { gate, running, admin })
}

async fn unseal(State(served): State<Served>, request: axum::extract::Request) -> Response {
    match body::read(request.into_body()).await {
        Ok(body) => crate::seal::http::unseal(&served.gate, &body).await,
        Err(refused) => (StatusCode::BAD_REQUEST, format!("{:?}", body_refusal(refused).message)).into_response(),
    }
}

async fn seal_status(State(served): State<Served>) -> Response {
    crate::seal::http::status(&served.gate).await
}

/// Runs a request that may change something in a task of its own and
/// waits for its answer: if the client goes away, hyper drops this future,
/// but the task runs on to its end, so its store writes and its audit event
/// stay one unit. Reads and cryptographic operations are awaited here (a
/// task costs ~8% of Encrypt's throughput, docs/BENCHMARKS.md); dropped,
/// they leave nothing behind but a key use noted without its event.
async fn handle(State(served): State<Served>, method: Method, uri: Uri, headers: HeaderMap, request: axum::extract::Request) -> Response {
    // Answered sealed or not: /health says so.
    if let Some(admin) = &served.admin {
        // Never a KMS request (those are POSTs), and not audited.
        if let Some(response) = admin.answer(&method, uri.path()).await {
            return response;
        }
    }
    let Some(state) = served.gate.state() else {
        return crate::seal::http::sealed(&headers);
    };
    let changes = may_change(&headers);
    // One reading of the store's change epoch serves the request's lookups (trent_store::read_cache).
    let work = trent_store::read_cache::request_scope(answer(state, method, uri, headers, request));
    if !changes {
        return work.await;
    }
    let running = served.running;
    let task = tokio::spawn(async move {
        let response = work.await;
        drop(running);
        response
    });
    match task.await {
        Ok(response) => response,
        Err(e) => {
            let request_id = trent_crypto::new_uuid().to_string();
            tracing::error!(request_id = %request_id, error = %e, "a request's task failed; it has no audit event");
            json_response(&request_id, error_answer(&request_id, &KmsError::internal(e.to_string())))
        }
    }
}

/// Whether a request may change something: a KMS operation whose row says
/// it changes, a request on another's behalf (a trusted service's first
/// use of `alias/aws/<service>` makes the AWS managed key), and anything
/// not routed by its target (IAM and STS, which change identities). An
/// unknown target changes nothing: it is refused.
fn may_change(headers: &HeaderMap) -> bool {
    if headers.contains_key(crate::authz::via::HEADER) {
        return true;
    }
    match headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        None => true,
        Some(target) => target
            .strip_prefix(protocol::TARGET_PREFIX)
            .and_then(trent_model::Operation::from_name)
            .is_some_and(|op| crate::dispatch::table::describe(op).changes),
    }
}

async fn answer(state: Arc<AppState>, method: Method, uri: Uri, headers: HeaderMap, request: axum::extract::Request) -> Response {
    let started = Instant::now();
    // This request holds the root key it began under until it ends: an
    // online rotation waits for every request begun before its switch,
    // which may still write what it sealed under the old key (seal/online).
    let _in_flight = state.root_key.load_full();
    let request_id = trent_crypto::new_uuid().to_string();
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    let peer_ip = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let tls = request.extensions().get::<crate::serve::connections::Transport>().is_some_and(|t| t.tls);
    let peer = peer_ip.map(|ip| ip.to_string());
    // Read whole before anything answers, refusals included (see `body`).
    let body = body::read(request.into_body()).await;
    // IAM and STS (the Query protocol) share the endpoint; see `crate::query`.
    if let Some(service) = crate::query::route(&headers) {
        let trail = begin_trail(&state, &headers, request_id, peer);
        // Boxed, like each KMS operation (dispatch::run): a request's future stays small.
        let slot = match service {
            crate::query::Service::Iam => Slot::Iam,
            crate::query::Service::Sts => Slot::Sts,
        };
        let response = Box::pin(crate::query::handle(state, service, method, uri, headers, body, tls, trail)).await;
        METRICS.request(slot, Outcome::of_status(response.status()), started.elapsed());
        return response;
    }
    let slot = target.and_then(|t| t.strip_prefix(protocol::TARGET_PREFIX)).and_then(trent_model::Operation::from_name).map_or(Slot::KmsUnknown, Slot::Kms);
    // AWS answers a denial with 400, like other refusals: told apart here.
    let mut denied = false;
    // Set when the answer is the audit log's refusal, which lasts until the log resumes.
    let mut audit_refused = false;
    let (status, text) = if state.audit.refusing() {
        // Nothing is served unaudited: the request is refused before it can act.
        tracing::error!(request_id = %request_id, target = target.unwrap_or("-"), "refused: the audit log cannot be written");
        audit_refused = true;
        error_answer(&request_id, &audit_failure())
    } else {
        let mut trail = begin_trail(&state, &headers, request_id.clone(), peer);
        trail.target = target.map(|t| t.strip_prefix(protocol::TARGET_PREFIX).unwrap_or(t).chars().take(128).collect());
        let result = match body {
            Ok(body) => Box::pin(serve(state.clone(), &method, &uri, &headers, &body, &request_id, (peer_ip, tls), &mut trail)).await,
            Err(refused) => Err(body_refusal(refused)),
        };
        // Events of changes are on disk before the answer; the rest are group-committed.
        let changed = result.is_ok() && trail.operation.is_some_and(|op| !audit::event::read_only(op));
        let mut recorded = {
            let event = audit::event::build(&trail, result.as_ref().err().map(|e| (e.code.name(), e.text())));
            state.audit.record(&event, changed).await
        };
        // ReplicateKey: the replica's Region gets its CreateKey event too, before the answer.
        if recorded.is_ok() {
            if let Some(second) = audit::event::replica_created(&trail) {
                // Boxed: the second event's room would otherwise be in every request's future.
                recorded = Box::pin(record_second(&state, second)).await;
            }
        }
        match recorded {
            Ok(()) => match result {
                Ok(value) => (StatusCode::OK, value.to_string()),
                Err(err) if err.code == ErrorCode::UnknownOperation && !protocol::is_json_request(&headers) => {
                    return wrong_content_type(&request_id);
                }
                Err(err) => {
                    denied = err.code == ErrorCode::AccessDenied;
                    error_answer(&request_id, &err)
                }
            },
            Err(e) => {
                tracing::error!(request_id = %request_id, error = %e, "the answer is withheld: its audit event could not be written");
                audit_refused = true;
                error_answer(&request_id, &audit_failure())
            }
        }
    };
    // Debug, not info: the audit log already records every request, and
    // this line cost ~3% of the server's time under load (docs/BENCHMARKS.md).
    let took = started.elapsed();
    METRICS.request(slot, if denied { Outcome::Denied } else { Outcome::of_status(status) }, took);
    tracing::debug!(request_id = %request_id, target = target.unwrap_or("-"), status = status.as_u16(), micros = took.as_micros() as u64, "request");
    let mut response = json_response(&request_id, (status, text));
    if audit_refused {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    response
}

async fn record_second(state: &AppState, second: Trail) -> Result<(), String> {
    state.audit.record(&audit::event::build(&second, None), true).await
}

fn json_response(request_id: &str, (status, text): (StatusCode, String)) -> Response {
    let mut response = (status, text).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", id);
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // What is left of an oversized body may not have been read: the connection ends after the answer.
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request without the AWS JSON 1.1 content type is not a KMS request to
/// AWS's front end: it answers 404 with an empty `UnknownOperationException`
/// element (docs/protocol.md).
fn wrong_content_type(request_id: &str) -> Response {
    let mut response = (StatusCode::NOT_FOUND, "<UnknownOperationException/>\n").into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", id);
    }
    response
}

/// The answer to a body that was not read (see [`body`]).
fn body_refusal(refused: body::Refused) -> KmsError {
    match refused {
        body::Refused::TooLarge => Error::BodyTooLarge { max: body::MAX_BODY_BYTES.to_string() }.into(),
        body::Refused::Unreadable => Error::BodyUnreadable.into(),
    }
}

/// What is known of a request's event before it is served.
fn begin_trail(state: &AppState, headers: &HeaderMap, request_id: String, peer: Option<String>) -> Trail {
    Trail {
        request_id,
        event_id: trent_crypto::new_uuid().to_string(),
        event_time_millis: state.clock.now_millis(),
        source_ip: peer,
        user_agent: headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
        access_key_id: claimed_access_key(headers),
        ..Trail::default()
    }
}

fn error_answer(request_id: &str, err: &KmsError) -> (StatusCode, String) {
    if let Some(detail) = &err.internal {
        tracing::error!(request_id = %request_id, detail = %detail, "internal error");
    }
    // AWS sends some exceptions without a message: then no `message` member at all.
    let body = match &err.message {
        Some(message) => serde_json::json!({ "__type": err.code.name(), "message": message }),
        None => serde_json::json!({ "__type": err.code.name() }),
    };
    (err.code.status(), body.to_string())
}

fn audit_failure() -> KmsError {
    Error::AuditUnavailable.into()
}

/// The access key id a request claims in its SigV4 `Authorization` header
/// (checked or not), for its audit event. Never the signature.
/// Read in place (authentication parses the whole header later).
fn claimed_access_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let credential = &value[value.find("Credential=")? + "Credential=".len()..];
    let id = credential.split(['/', ',', ' ']).next().filter(|id| !id.is_empty())?;
    Some(id.chars().take(128).collect())
}

#[allow(clippy::too_many_arguments)] // the request's parts, each used once
async fn serve(
    state: Arc<AppState>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    request_id: &str,
    (peer, tls): (Option<std::net::IpAddr>, bool),
    trail: &mut Trail,
) -> Result<serde_json::Value, KmsError> {
    if !protocol::is_json_request(headers) {
        return Err(Error::WrongContentType { expected: CONTENT_TYPE.to_owned() }.into());
    }
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    // Trent's own admin call (see authz::explain) shares the endpoint and its SigV4.
    let admin = target == Some(crate::authz::explain::ADMIN_TARGET);
    let seal = crate::seal::http::admin_event(target);
    let operation = if admin {
        "ExplainAuthorization"
    } else if let Some(event) = seal {
        event
    } else {
        protocol::operation(target)?
    };
    trail.operation = Some(operation);
    if method != Method::POST {
        return Err(Error::NotPostToRoot.into());
    }
    let header_list = sigv4_headers(headers, uri);
    let signed = trent_sigv4::Request { method: method.as_str(), path: uri.path(), query: uri.query().unwrap_or(""), headers: &header_list, body };
    let (principal, region) = crate::auth::authenticate(&state, &signed).await?;
    let (principal, via_service) = crate::authz::via::forwarded(&state, principal, &signed).await?;
    trail.principal = Some(principal.clone());
    trail.region = Some(region.clone());
    if seal.is_some() {
        return crate::seal::http::admin_call(target, &state, &principal, body).await;
    }
    if admin {
        let ctx = Ctx { state, principal, region, request_id: request_id.to_owned(), event_id: trail.event_id.clone(), audit: audit::Notes::default(), authz: Default::default() };
        return Box::pin(crate::authz::explain::handle(&ctx, body)).await;
    }
    let input = match trent_model::validate_input(operation, body) {
        Ok(input) => input,
        Err(e) => {
            // Allow-listed members only, so never a secret even of a refused body.
            trail.request_parameters = serde_json::from_slice(body).map(|v| audit::params::request(&v)).unwrap_or_default();
            return Err(e.into());
        }
    };
    trail.request_parameters = audit::params::request(&input);
    // Every operation name `protocol::operation` accepts is the model's, and so has a variant.
    let typed = trent_model::Operation::from_name(operation).ok_or_else(|| KmsError::internal(format!("{operation} is in the model but not in its operation table")))?;
    let request = trent_model::Request::parse_ref(typed, &input)?;
    let ctx = Ctx { state, principal, region, request_id: request_id.to_owned(), event_id: trail.event_id.clone(), audit: audit::Notes::default(), authz: Default::default() };
    if let Some(service) = via_service {
        ctx.authz.set_via_service(service);
    }
    if let Some(ip) = peer {
        ctx.authz.set_source_ip(ip);
    }
    ctx.authz.set_secure_transport(tls);
    let result = crate::dispatch::call(&ctx, request).await;
    trail.notes = ctx.audit.take();
    if let Ok(output) = &result {
        trail.response_elements = audit::params::response(operation, output);
        add_created_key(trail, output);
    }
    result
}

/// A request's headers as SigV4 reads them, borrowed (no copy per request).
/// SigV4 signs header values as sent; headers that are not valid text
/// cannot have been signed. HTTP/2 carries the host as the `:authority`
/// pseudo-header, which SigV4 signs as `host`.
pub(crate) fn sigv4_headers<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Vec<(&'a str, &'a str)> {
    let mut list: Vec<(&str, &str)> = Vec::with_capacity(headers.len() + 1);
    list.extend(headers.iter().filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))));
    if !headers.contains_key(header::HOST) {
        if let Some(authority) = uri.authority() {
            list.push(("host", authority.as_str()));
        }
    }
    list
}

/// CreateKey names its key only in the answer: the event's resource.
fn add_created_key(trail: &mut Trail, output: &serde_json::Value) {
    let meta = &output["KeyMetadata"];
    if let (Some(arn), Some(account)) = (meta["Arn"].as_str(), meta["AWSAccountId"].as_str()) {
        if trail.notes.resources.is_empty() {
            trail.notes.resources.push(audit::event::Resource { arn: arn.to_owned(), account_id: account.to_owned(), kind: "AWS::KMS::Key" });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_without_a_message_has_no_message_member() {
        let (status, body) = error_answer("r", &Error::InvalidCiphertext.into());
        assert_eq!((status, body.as_str()), (StatusCode::BAD_REQUEST, r#"{"__type":"InvalidCiphertextException"}"#));
        let (status, body) = error_answer("r", &Error::DryRun.into());
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST, "AWS answers a DryRun with 400, not 412");
        assert_eq!(body["message"], "The request would have succeeded, but the DryRun option is set.");
    }

    #[test]
    fn requests_that_may_change_something_are_the_ones_run_in_a_task_of_their_own() {
        let with = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (name, value) in pairs {
                h.insert(*name, HeaderValue::from_str(value).unwrap());
            }
            may_change(&h)
        };
        for op in ["CreateKey", "ScheduleKeyDeletion", "CreateGrant", "PutKeyPolicy", "TagResource", "Decapsulate"] {
            assert!(with(&[("x-amz-target", &format!("TrentService.{op}"))]), "{op}");
        }
        for op in ["Encrypt", "Decrypt", "DescribeKey", "ListKeys", "GenerateDataKey", "Sign"] {
            assert!(!with(&[("x-amz-target", &format!("TrentService.{op}"))]), "{op}");
        }
        // A trusted service's first use of alias/aws/<service> makes a key.
        assert!(with(&[("x-amz-target", "TrentService.Encrypt"), (crate::authz::via::HEADER, "arn:aws:iam::111122223333:user/u")]));
        // IAM and STS (no target) change identities; an unknown target is refused.
        assert!(with(&[]));
        assert!(!with(&[("x-amz-target", "TrentService.NoSuchOperation")]));
        // Every operation whose row says it changes something.
        for op in trent_model::Operation::ALL {
            let changes = crate::dispatch::table::describe(op).changes;
            assert_eq!(with(&[("x-amz-target", &format!("TrentService.{}", op.name()))]), changes, "{}", op.name());
        }
    }

    #[test]
    fn the_claimed_access_key_is_the_credential_up_to_its_scope() {
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            claimed_access_key(&h)
        };
        let signed = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
        assert_eq!(with(signed).as_deref(), Some("AKIAIOSFODNN7EXAMPLE"));
        assert_eq!(with("AWS4-HMAC-SHA256 Credential=AKIAX, Signature=abc").as_deref(), Some("AKIAX"));
        assert_eq!(with("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc"), None);
        assert_eq!(with("Basic dXNlcjpwYXNz"), None);
        assert_eq!(with("AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/kms/aws4_request"), None);
        assert_eq!(claimed_access_key(&HeaderMap::new()), None);
    }
}
