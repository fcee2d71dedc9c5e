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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use hyper_util::rt::TokioIo;

    /// A connection to an in-memory HTTP/1.1 server answering "ok".
    async fn connect(pool: &Pool) -> Lease {
        let (client_io, server_io) = tokio::io::duplex(4096);
        let service = hyper::service::service_fn(|_req| async { Ok::<_, std::convert::Infallible>(hyper::Response::new(Body::from("ok"))) });
        tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(server_io), service));
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(client_io)).await.unwrap();
        pool.lease("h", sender, connection)
    }

    async fn get(lease: &mut Lease) -> bool {
        let response = lease.sender().unwrap().send_request(hyper::Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
        axum::body::to_bytes(Body::new(response.into_body()), 100).await.unwrap() == "ok"
    }

    #[tokio::test]
    async fn a_released_connection_is_reused_and_a_dropped_one_is_closed() {
        let pool = Pool::default();
        assert!(pool.take("h").is_none());
        let mut lease = connect(&pool).await;
        assert!(!lease.reused);
        assert!(get(&mut lease).await);
        lease.release();
        assert_eq!(pool.idle_count("h"), 1);

        let mut again = pool.take("h").unwrap();
        assert!(again.reused);
        assert_eq!(pool.idle_count("h"), 0);
        assert!(get(&mut again).await);
        // Not released (a timeout, a failure): the connection is closed.
        drop(again);
        assert_eq!(pool.idle_count("h"), 0);
        assert!(pool.take("h").is_none());
    }

    #[tokio::test]
    async fn at_most_eight_idle_per_host() {
        let pool = Pool::default();
        let mut leases = Vec::new();
        for _ in 0..10 {
            let mut lease = connect(&pool).await;
            assert!(get(&mut lease).await);
            leases.push(lease);
        }
        for lease in leases {
            lease.release();
        }
        assert_eq!(pool.idle_count("h"), MAX_IDLE_PER_HOST);
    }
}
