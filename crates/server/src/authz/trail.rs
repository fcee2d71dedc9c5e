//! What authorization decided during one request, kept on [`crate::state::Ctx`]
//! so the audit log can record every allow and deny with its reason, and
//! what the connection says of the request (its peer, a trusted service).

use std::sync::{Mutex, OnceLock};

use crate::policy::Facts;

/// One decision: who asked for what, the answer, and which statement or grant gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub allowed: bool,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Trail {
    /// The trusted service the request came through (`kms:ViaService`).
    via_service: OnceLock<String>,
    /// The peer's address (`aws:SourceIp`).
    source_ip: OnceLock<std::net::IpAddr>,
    /// The request came over TLS (`aws:SecureTransport`).
    secure_transport: OnceLock<bool>,
    decisions: Mutex<Vec<Record>>,
}

impl Trail {
    /// Adds what the connection says (`kms:ViaService`, `aws:SourceIp`) to `facts`.
    pub fn add_connection_facts(&self, facts: &mut Facts) {
        if let Some(service) = self.via_service.get() {
            facts.set("kms:ViaService", service.clone());
        }
        if let Some(ip) = self.source_ip.get().filter(|_| facts.wants("aws:SourceIp")) {
            facts.set("aws:SourceIp", ip.to_string());
        }
    }

    /// Notes the address the request came from (once, by http).
    pub fn set_source_ip(&self, ip: std::net::IpAddr) {
        let _ = self.source_ip.set(ip);
    }

    /// Notes whether the request came over TLS (once, by http).
    pub fn set_secure_transport(&self, tls: bool) {
        let _ = self.secure_transport.set(tls);
    }

    /// Whether the request came over TLS (false where http did not say).
    pub fn secure_transport(&self) -> bool {
        self.secure_transport.get().copied().unwrap_or(false)
    }

    /// The trusted service the request came through, if any.
    pub fn via_service(&self) -> Option<&str> {
        self.via_service.get().map(String::as_str)
    }

    /// Notes that a trusted service forwarded the request (once, by http).
    pub fn set_via_service(&self, service: String) {
        let _ = self.via_service.set(service);
    }

    pub fn record(&self, record: Record) {
        tracing::debug!(principal = %record.principal, action = %record.action, resource = %record.resource, allowed = record.allowed, reason = %record.reason, "authorization");
        // A poisoned lock means a panic mid-push; the list is still usable.
        self.decisions.lock().unwrap_or_else(|e| e.into_inner()).push(record);
    }

    /// `f` of the latest decision, if any, without copying the list.
    pub fn with_latest<R>(&self, f: impl FnOnce(Option<&Record>) -> R) -> R {
        f(self.decisions.lock().unwrap_or_else(|e| e.into_inner()).last())
    }
}
