//! The operator's endpoints, `GET /health` and `GET /metrics`:
//! unauthenticated and not audited, on the main listener or, with
//! `--admin-listen`, on a listener of their own (then only there).
//!
//! Neither answer names a key, principal or account: /health says
//! which of its checks fail, /metrics counts requests by operation
//! name and outcome (docs/operations.md says what that still tells).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::metrics::exposition::{self, Gauges};
use crate::metrics::METRICS;
use crate::seal::Gate;
use trent_store::Store;

use crate::clock::Clock;

/// The store is written at most this often for /health; callers in
/// between share the last answer (an unauthenticated caller cannot make
/// Trent fsync at will).
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// A store write slower than this counts as not writable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The lease row the store probe writes (it takes nothing any job needs).
const PROBE_LEASE: &str = "health-probe";

/// Why /health answers 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unhealthy {
    /// Waiting for `trent operator unseal` (crate::seal).
    Sealed,
    StoreNotWritable,
    AuditLogFailing,
}

impl Unhealthy {
    pub fn reason(self) -> &'static str {
        match self {
            Unhealthy::Sealed => "the server is sealed",
            Unhealthy::StoreNotWritable => "the store cannot be written",
            Unhealthy::AuditLogFailing => "the audit log cannot be written",
        }
    }
}

/// What the operator's endpoints read.
pub struct Admin {
    /// The unsealed state, for the audit log's figures; none while sealed.
    gate: Arc<Gate>,
    /// The store and clock, which a sealed server has too.
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// This node's id: the store probe's lease holder.
    node_id: String,
    /// When the store was last probed and whether it was writable.
    last_probe: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

impl Admin {
    pub fn new(gate: Arc<Gate>, store: Arc<dyn Store>, clock: Arc<dyn Clock>, node_id: String) -> Arc<Admin> {
        Arc::new(Admin { gate, store, clock, node_id, last_probe: tokio::sync::Mutex::new(None) })
    }

    /// What the server's checks find wrong now (empty: healthy).
    pub async fn problems(&self) -> Vec<Unhealthy> {
        let mut problems = Vec::new();
        let state = self.gate.state();
        if state.is_none() {
            problems.push(Unhealthy::Sealed);
        }
        if !self.store_writable().await {
            problems.push(Unhealthy::StoreNotWritable);
        }
        if state.is_some_and(|s| s.audit.failing()) {
            problems.push(Unhealthy::AuditLogFailing);
        }
        problems
    }

    /// A real write (a lease renewed in the store), at most once per
    /// [`PROBE_EVERY`]; concurrent callers wait for one probe.
    async fn store_writable(&self) -> bool {
        let mut last = self.last_probe.lock().await;
        if let Some((at, writable)) = *last {
            if at.elapsed() < PROBE_EVERY {
                return writable;
            }
        }
        let now = self.clock.now_millis();
        let probe = self.store.try_lease(PROBE_LEASE, &self.node_id, now, 0);
        let writable = match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health: the store cannot be written");
                false
            }
            Err(_) => {
                tracing::warn!(timeout = ?PROBE_TIMEOUT, "health: a store write did not finish in time");
                false
            }
        };
        *last = Some((Instant::now(), writable));
        writable
    }

    /// The answer to `GET /health` or `GET /metrics`; None for anything else.
    pub async fn answer(&self, method: &Method, path: &str) -> Option<Response> {
        if method != Method::GET {
            return None;
        }
        match path {
            "/health" => Some(self.health().await),
            "/metrics" => Some(self.metrics()),
            _ => None,
        }
    }

    async fn health(&self) -> Response {
        let problems = self.problems().await;
        let (status, body) = if problems.is_empty() {
            (StatusCode::OK, serde_json::json!({ "status": "ok" }))
        } else {
            let reasons: Vec<&str> = problems.iter().map(|p| p.reason()).collect();
            (StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({ "status": "unavailable", "reasons": reasons }))
        };
        let mut response = (status, body.to_string()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    fn metrics(&self) -> Response {
        // A sealed server has no audit writer open: its figures read zero.
        let audit = self.gate.state().map(|s| s.audit.stats()).unwrap_or_default();
        let gauges = Gauges { audit, cache: self.store.read_cache_stats() };
        let mut response = (StatusCode::OK, exposition::render(&METRICS, &gauges)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(exposition::CONTENT_TYPE));
        response
    }
}

/// The `--admin-listen` listener's service: /health and /metrics, 404 else.
pub fn router(admin: Arc<Admin>) -> Router {
    Router::new().fallback(move |method: Method, uri: axum::http::Uri| {
        let admin = admin.clone();
        async move {
            match admin.answer(&method, uri.path()).await {
                Some(response) => response,
                None => (StatusCode::NOT_FOUND, "Only GET /health and GET /metrics are served here.\n").into_response(),
            }
        }
    })
}
