//! Kept-alive HTTP/1.1 connections to XKS proxies, per host: a request
//! reuses an idle connection instead of paying TCP and TLS handshakes
//! inside the proxy's 250 ms budget.
//!
//! Each connection is driven by its own task; a request holds a
//! [`Lease`], which aborts that task when dropped unless the connection
//! went back to the pool. So a timed-out or failed request still takes
//! its connection down with it (never a half-read answer reused).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hyper::client::conn::http1::SendRequest;
use tokio::task::AbortHandle;

/// Idle connections kept per host; more are closed when they finish.
const MAX_IDLE_PER_HOST: usize = 8;

pub type Sender = SendRequest<axum::body::Body>;

struct Idle {
    sender: Sender,
    task: AbortHandle,
}

#[derive(Clone, Default)]
pub struct Pool {
    idle: Arc<Mutex<HashMap<String, Vec<Idle>>>>,
}

/// A connection in use by one request.
pub struct Lease {
    sender: Option<Sender>,
    task: Option<AbortHandle>,
    host: String,
    pool: Pool,
    /// Whether it came from the pool (a stale one may fail at once: retry).
    pub reused: bool,
}

impl Pool {
    /// An idle connection to `host` still open and ready, if any.
    pub fn take(&self, host: &str) -> Option<Lease> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(host)?;
        while let Some(c) = list.pop() {
            if c.sender.is_ready() && !c.sender.is_closed() {
                return Some(Lease { sender: Some(c.sender), task: Some(c.task), host: host.to_owned(), pool: self.clone(), reused: true });
            }
            c.task.abort();
        }
        None
    }

    /// A new connection, its driving task spawned.
    pub fn lease<F>(&self, host: &str, sender: Sender, connection: F) -> Lease
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = tokio::spawn(connection).abort_handle();
        Lease { sender: Some(sender), task: Some(task), host: host.to_owned(), pool: self.clone(), reused: false }
    }

    #[cfg(test)]
    pub fn idle_count(&self, host: &str) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).get(host).map_or(0, Vec::len)
    }
}

impl Lease {
    /// The connection's sender; None only after [`Lease::release`].
    pub fn sender(&mut self) -> Option<&mut Sender> {
        self.sender.as_mut()
    }

    /// The answer was read in full: the connection may serve another.
    pub fn release(mut self) {
        let (Some(task), Some(sender)) = (self.task.take(), self.sender.take()) else { return };
        if !sender.is_ready() || sender.is_closed() {
            task.abort();
            return;
        }
        let mut idle = self.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(self.host.clone()).or_default();
        if list.len() >= MAX_IDLE_PER_HOST {
            task.abort();
            return;
        }
        list.push(Idle { sender, task });
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
