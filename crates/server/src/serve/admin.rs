//! `--admin-listen`: /health and /metrics on a listener of their own,
//! which stops with the main one.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{connections, setup, ServeError};
use crate::http::admin::Admin;

/// The bound admin listener, not yet serving.
pub struct AdminServer {
    pub addr: SocketAddr,
    listener: TcpListener,
    admin: Arc<Admin>,
}

/// Binds `--admin-listen` if given. Returns what the main listener serves
/// of the admin endpoints (all of them when there is no admin listener).
pub async fn listen(address: Option<SocketAddr>, admin: Arc<Admin>) -> Result<(Option<Arc<Admin>>, Option<AdminServer>), ServeError> {
    let Some(address) = address else { return Ok((Some(admin), None)) };
    let listener = TcpListener::bind(address).await.map_err(setup("binding the admin listen address"))?;
    let addr = listener.local_addr().map_err(setup("admin listen address"))?;
    Ok((None, Some(AdminServer { addr, listener, admin })))
}

impl AdminServer {
    /// Serves until the returned future is awaited, which stops it and
    /// waits for its connections to close.
    pub fn spawn(self, limits: connections::Limits) -> impl Future<Output = ()> {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let router = crate::http::admin::router(self.admin);
        let served = tokio::spawn(connections::serve(self.listener, router, limits, None, async move {
            let _ = stop_rx.await;
        }));
        async move {
            let _ = stop_tx.send(());
            let _ = served.await;
        }
    }
}
