//! The listener: TLS (rustls on aws-lc-rs) and HTTP/1.1 (hyper), each
//! request handed whole to [`Proxy::handle`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::error::{ErrorName, XksError};
use super::handler::{Answer, Proxy, API_PATH};

/// The largest body read (the spec's largest request, 8192 bytes of AAD and
/// 4300 of plaintext in Base64 plus metadata, is far below).
const MAX_BODY: usize = 256 * 1024;
/// Open connections at most; more wait for one to close.
const MAX_CONNECTIONS: usize = 1024;
/// A client must finish the TLS handshake and send its headers this fast.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS server configuration from PEM files (certificate chain, key).
pub fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, String> {
    crate::tls::server_config(cert, key, None, &[b"http/1.1"])
}

/// Serves until SIGINT or SIGTERM.
pub async fn serve(proxy: Proxy, listen: SocketAddr, tls: Option<rustls::ServerConfig>) -> Result<(), String> {
    let listener = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // Scripts and tests read this line for the port.
    let paths: Vec<String> = proxy.prefixes.iter().map(|p| format!("{p}{API_PATH}")).collect();
    println!("Trent xks-proxy listening on {scheme}://{addr}{}", paths.join(" and "));
    let acceptor = tls.map(|c| TlsAcceptor::from(Arc::new(c)));
    let proxy = Arc::new(proxy);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    loop {
        // Waiting for a free slot must not keep a signal from stopping us.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.map_err(|e| e.to_string())?,
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("xks-proxy: accept failed: {e}");
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        };
        let proxy = proxy.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => serve_connection(TokioIo::new(tls), proxy).await,
                    Ok(Err(e)) => tracing::info!(%peer, "xks-proxy: TLS handshake failed: {e}"),
                    Err(_) => tracing::info!(%peer, "xks-proxy: TLS handshake timed out"),
                },
                None => serve_connection(TokioIo::new(tcp), proxy).await,
            }
        });
    }
    tracing::info!("xks-proxy: stopping");
    Ok(())
}

async fn serve_connection<IO>(io: TokioIo<IO>, proxy: Arc<Proxy>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let proxy = proxy.clone();
        async move { Ok::<_, std::convert::Infallible>(respond(&proxy, req).await) }
    });
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT)
        .serve_connection(io, service)
        .await;
    if let Err(e) = result {
        tracing::debug!("xks-proxy: connection ended: {e}");
    }
}

async fn respond(proxy: &Proxy, req: hyper::Request<Incoming>) -> hyper::Response<axum::body::Body> {
    let (parts, body) = req.into_parts();
    let answer = match axum::body::to_bytes(axum::body::Body::new(body), MAX_BODY).await {
        Err(_) => Answer::from(XksError::new(
            ErrorName::UnsupportedOperationException,
            format!("Request bodies over {MAX_BODY} bytes are not supported."),
        )),
        Ok(body) => {
            // trent-sigv4 takes the headers as received, repeated ones
            // repeated; a value that is not text cannot be signed, so it
            // is dropped (the signature check then fails if it mattered).
            let headers: Vec<(&str, &str)> = parts.headers.iter().filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v))).collect();
            let request = trent_sigv4::Request {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or(""),
                headers: &headers,
                body: &body,
            };
            // A PKCS#11 backend blocks in the token (and may wait for a
            // session): keep the runtime's other connections going.
            tokio::task::block_in_place(|| proxy.handle(&request))
        }
    };
    let mut builder = hyper::Response::builder().status(answer.status);
    if answer.status == 405 {
        builder = builder.header("allow", "POST");
    } else {
        builder = builder.header("content-type", "application/json");
    }
    // The copy into the response body is not zeroized: hyper owns it.
    let body = axum::body::Body::from(answer.body.to_vec());
    builder.body(body).unwrap_or_else(|_| hyper::Response::new(axum::body::Body::empty()))
}
