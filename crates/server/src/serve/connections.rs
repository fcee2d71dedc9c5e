//! Accepting and serving connections, with a bound on how many are open
//! and how long a peer may take: the HTTP step's transport, under
//! [`crate::http`].
//!
//! - **Header timeout**: a request's head (request line and headers) must
//!   arrive within it, counted from its first byte (from the accept for a
//!   connection's first request). Otherwise the connection is closed.
//! - **Body timeout**: a request's body must arrive within it, counted from
//!   the end of its head. Otherwise the body read fails, the request is
//!   answered with an AWS-shaped error (KMS: 400 `ValidationException`, IAM
//!   and STS: 400 `InvalidInput`, "... could not be read") and the
//!   connection is closed after the answer.
//! - **Idle timeout**: a keep-alive connection with no request open is
//!   closed when no new request begins within it.
//! - **Connection bound**: at most `max_connections` are served at once.
//!   Beyond it Trent stops accepting, so new connections wait in the
//!   kernel's listen backlog and are served, in order, as others close.
//!
//! None of this costs a timer per request on the hot path: an HTTP/1.1
//! connection has one timer for all three timeouts, armed for the nearest
//! deadline and re-armed only when it fires or a deadline comes closer than
//! it is set for (about once per timeout period, not per request). The
//! clock is read a few times per request.
//!
//! With `--tls-cert`, every connection is TLS (rustls) over the watched
//! socket: the handshake counts as part of the first request's head, so the
//! header timeout from the accept bounds it too.
//!
//! HTTP/2 (h2c, or h2 by ALPN over TLS) is served too; there the idle timeout applies while no
//! stream is open, any bytes received then (pings, settings) start the
//! header timeout, and each request body that has to wait for bytes has a
//! timer of its own (streams are concurrent).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How long peers may take, and how many may be connected.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl From<&super::ServeOptions> for Limits {
    fn from(options: &super::ServeOptions) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(options.header_timeout_secs),
            body_timeout: Duration::from_secs(options.body_timeout_secs),
            idle_timeout: Duration::from_secs(options.idle_timeout_secs),
            max_connections: usize::try_from(options.max_connections).unwrap_or(usize::MAX),
        }
    }
}

/// Whether a request came over TLS (`aws:SecureTransport`), in each
/// request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    pub tls: bool,
}

/// Serves `router` on `listener` (over TLS when `tls` is given) until
/// `shutdown` resolves, then lets every open connection finish the request
/// it is serving and waits for all of them to close.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, tls: Option<Arc<super::tls::Tls>>, shutdown: impl Future<Output = ()>) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Dropped to tell connections to stop; each holds a `closed` receiver,
    // so the sender learns when the last one is gone.
    let (stop_tx, stop_rx) = watch::channel(());
    let (closed_tx, closed_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        // The semaphore is never closed, so acquiring only fails if it were.
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let mut stop = stop_rx.clone();
        let closed = closed_rx.clone();
        // The configuration in force at the accept (a SIGHUP reload changes it).
        let acceptor = tls.as_ref().map(|tls| tls.acceptor());
        tokio::spawn(async move {
            serve_connection(stream, peer, router, limits, acceptor, &mut stop).await;
            drop(closed);
            drop(slot);
        });
    }
    drop(listener);
    drop(stop_rx);
    drop(closed_rx);
    // Every connection now finishes what it serves and closes.
    drop(stop_tx);
    closed_tx.closed().await;
}

/// Like hyper and axum: errors of one connection are that peer's business;
/// others (too many open files) are worth a pause rather than a busy loop.
async fn accept_error(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accept error");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, router: Router, limits: Limits, tls: Option<TlsAcceptor>, stop: &mut watch::Receiver<()>) {
    let conn = Arc::new(ConnState::new());
    let watched = Watched::new(stream, conn.clone(), limits, peer);
    let Some(acceptor) = tls else {
        return serve_http(TokioIo::new(watched), conn, peer, router, limits, false, stop).await;
    };
    let stream = tokio::select! {
        accepted = acceptor.accept(watched) => match accepted {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
        },
        _ = stop.changed() => return,
    };
    serve_http(TokioIo::new(stream), conn, peer, router, limits, true, stop).await;
}

async fn serve_http<IO>(io: TokioIo<IO>, conn: Arc<ConnState>, peer: SocketAddr, router: Router, limits: Limits, tls: bool, stop: &mut watch::Receiver<()>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // HTTP/1 serves one request at a time: its body is timed by the
        // connection's timer. HTTP/2 streams are concurrent: each its own.
        let http1 = request.version() < hyper::Version::HTTP_2;
        let guard = conn.begin_request(http1 && !request.body().is_end_stream());
        // For aws:SourceIp and the audit log, as axum's connect info would.
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(Transport { tls });
        let timing = if http1 { Timing::Connection(conn.clone()) } else { Timing::Own { deadline: Instant::now() + limits.body_timeout, timer: None } };
        let request = request.map(|body| Body::new(TimedBody { inner: body, timing, limit: limits.body_timeout }));
        let answer = router.clone().oneshot(request);
        async move {
            let response = answer.await;
            drop(guard);
            response
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Trent keeps the time itself (Watched); hyper's own header timer would
    // start a timer per request.
    builder.http1().header_read_timeout(None);
    let mut connection = pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended");
                }
                return;
            }
            _ = stop.changed(), if !stopping => {
                // Finish the request being served, then close.
                connection.as_mut().graceful_shutdown();
                stopping = true;
            }
        }
    }
}

/// What a connection is doing, shared by its reader ([`Watched`]) and the
/// requests it carries. Times are milliseconds since the connection began.
struct ConnState {
    epoch: Instant,
    /// Requests whose answer is not yet produced.
    in_flight: AtomicU32,
    /// Bytes of a request head have come while no request is in flight
    /// (true from the accept: the first request's head is due at once).
    head_started: AtomicBool,
    head_start: AtomicU64,
    /// When the last answer was produced.
    idle_start: AtomicU64,
    /// An HTTP/1 request's body is still being read, since `body_start`.
    body_open: AtomicBool,
    body_start: AtomicU64,
    /// Its time ran out: it fails at its next read.
    body_expired: AtomicBool,
    /// Who waits for the body's next bytes.
    body_waker: Mutex<Option<Waker>>,
    /// The reader, waiting with no deadline while an answer is made: woken
    /// when the last answer is done, to time the idle connection from then.
    /// (The answer is made in a task of its own, so the connection's task
    /// may not poll its reader again by itself.)
    reader_waker: Mutex<Option<Waker>>,
}

/// Marks a request in flight until dropped.
struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let conn = &self.0;
        if conn.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            conn.idle_start.store(conn.now(), Ordering::Release);
            let reader = conn.reader_waker.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(waker) = reader {
                waker.wake();
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    Body,
    Idle,
}

impl ConnState {
    fn new() -> Self {
        ConnState {
            epoch: Instant::now(),
            in_flight: AtomicU32::new(0),
            head_started: AtomicBool::new(true),
            head_start: AtomicU64::new(0),
            idle_start: AtomicU64::new(0),
            body_open: AtomicBool::new(false),
            body_start: AtomicU64::new(0),
            body_expired: AtomicBool::new(false),
            body_waker: Mutex::new(None),
            reader_waker: Mutex::new(None),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A request's head is in; `timed_body`: an HTTP/1 body is to come.
    fn begin_request(self: &Arc<Self>, timed_body: bool) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(false, Ordering::Release);
        if timed_body {
            self.body_start.store(self.now(), Ordering::Release);
            self.body_expired.store(false, Ordering::Release);
            self.body_open.store(true, Ordering::Release);
        }
        InFlight(self.clone())
    }

    fn body_done(&self) {
        self.body_open.store(false, Ordering::Release);
    }

    /// The body's time is up: it fails when it is next read, which this wakes.
    fn expire_body(&self) {
        self.body_expired.store(true, Ordering::Release);
        let waker = self.body_waker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Bytes came in: if no request is in flight, a head has begun.
    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 && !self.head_started.load(Ordering::Acquire) {
            self.head_start.store(self.now(), Ordering::Release);
            self.head_started.store(true, Ordering::Release);
        }
    }

    /// What the reader is waiting for and by when (ms), if anything (not
    /// while an answer is being made).
    fn deadline(&self, limits: &Limits) -> Option<(Phase, u64)> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if self.in_flight.load(Ordering::Acquire) > 0 {
            let waiting = self.body_open.load(Ordering::Acquire) && !self.body_expired.load(Ordering::Acquire);
            return waiting.then(|| (Phase::Body, self.body_start.load(Ordering::Acquire).saturating_add(ms(limits.body_timeout))));
        }
        if self.head_started.load(Ordering::Acquire) {
            Some((Phase::Header, self.head_start.load(Ordering::Acquire).saturating_add(ms(limits.header_timeout))))
        } else {
            Some((Phase::Idle, self.idle_start.load(Ordering::Acquire).saturating_add(ms(limits.idle_timeout))))
        }
    }
}

/// The connection's socket, closing it (a read error) once the header or
/// idle timeout passes, and failing an HTTP/1 request body once the body
/// timeout passes.
struct Watched {
    inner: TcpStream,
    conn: Arc<ConnState>,
    limits: Limits,
    peer: SocketAddr,
    timer: Pin<Box<Sleep>>,
    /// The deadline (ms) the timer is set for, if set.
    armed: Option<u64>,
}

impl Watched {
    fn new(inner: TcpStream, conn: Arc<ConnState>, limits: Limits, peer: SocketAddr) -> Self {
        let timer = Box::pin(tokio::time::sleep_until(conn.epoch));
        Watched { inner, conn, limits, peer, timer, armed: None }
    }

    /// The read would wait: closes the connection if its time is up, and
    /// otherwise makes sure the timer wakes the connection by then.
    fn watch(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut fired: u64 = 0;
        loop {
            let Some((phase, deadline)) = self.conn.deadline(&self.limits) else {
                let mut reader = self.conn.reader_waker.lock().unwrap_or_else(|p| p.into_inner());
                if !reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *reader = Some(cx.waker().clone());
                }
                drop(reader);
                // The last answer may have ended since `deadline` looked.
                if self.conn.in_flight.load(Ordering::Acquire) == 0 {
                    continue;
                }
                return Poll::Pending;
            };
            let now = self.conn.now().max(fired);
            if now >= deadline {
                let why = match phase {
                    Phase::Header => "the request head did not arrive within the header timeout",
                    Phase::Idle => "the connection was idle for the idle timeout",
                    Phase::Body => {
                        // The request is answered (an error) and the connection closed after.
                        tracing::debug!(peer = %self.peer, "the request body did not arrive within the body timeout");
                        self.conn.expire_body();
                        continue;
                    }
                };
                tracing::debug!(peer = %self.peer, "closing the connection: {why}");
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why)));
            }
            // Re-armed only if it would fire too late or has fired.
            if self.armed.is_none_or(|at| at > deadline || at <= now) {
                self.timer.as_mut().reset(self.conn.epoch + Duration::from_millis(deadline));
                self.armed = Some(deadline);
            }
            match self.timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => fired = self.armed.unwrap_or(now),
            }
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.conn.bytes_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.watch(cx),
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A request body that fails once the body timeout passes.
struct TimedBody {
    inner: Incoming,
    timing: Timing,
    limit: Duration,
}

enum Timing {
    /// HTTP/1: the connection's timer (in [`Watched`]) keeps the time.
    Connection(Arc<ConnState>),
    /// HTTP/2: a timer of its own, made only if the body has to wait.
    Own { deadline: Instant, timer: Option<Pin<Box<Sleep>>> },
}

impl Drop for TimedBody {
    fn drop(&mut self) {
        if let Timing::Connection(conn) = &self.timing {
            conn.body_done();
        }
    }
}

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received within {0:?}")]
pub struct BodyTimeout(Duration);

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let timeout = || Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit)) as Self::Error)));
        if let Timing::Connection(conn) = &this.timing {
            if conn.body_expired.load(Ordering::Acquire) {
                conn.body_done();
                return timeout();
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {}
            ready => {
                if let Timing::Connection(conn) = &this.timing {
                    if !matches!(ready, Poll::Ready(Some(Ok(_)))) || this.inner.is_end_stream() {
                        conn.body_done();
                    }
                }
                return ready.map_err(Into::into);
            }
        }
        match &mut this.timing {
            Timing::Connection(conn) => {
                let mut waker = conn.body_waker.lock().unwrap_or_else(|p| p.into_inner());
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *waker = Some(cx.waker().clone());
                }
                drop(waker);
                // Expired since the check above: the wake may have been missed.
                if conn.body_expired.load(Ordering::Acquire) {
                    conn.body_done();
                    return timeout();
                }
                Poll::Pending
            }
            Timing::Own { deadline, timer } => {
                let deadline = *deadline;
                let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => timeout(),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
