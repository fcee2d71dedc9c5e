//! `trent serve`: locks the data directory ([`data_dir_lock`]: one server
//! per directory), opens it (root key, SQLite store, first admin's
//! credentials), sweeps due deletions, and serves HTTP ([`connections`]:
//! the connection bound and timeouts).

pub mod connections;
pub mod data_dir_lock;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use trent_crypto::{RootKey, SoftwareProvider};
use trent_store::postgres::PostgresStore;
use trent_store::sqlite::SqliteStore;
use trent_store::Store;

use crate::keystores::runtime::KeyStoreRuntime;
use crate::clock::{Clock, SystemClock};
use crate::state::{AppState, AuthMode};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4600";
pub const DEFAULT_DATA_DIR: &str = "trent-data";
pub const DEFAULT_DEV_ACCOUNT: &str = "123456789012";

#[derive(clap::Args, Debug)]
pub struct ServeOptions {
    /// Where Trent keeps its state: the root key, the database, the admin's credentials.
    #[arg(long, env = "TRENT_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, env = "TRENT_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Where keys live: `sqlite` (the embedded default, DIR/trent.db) or a
    /// PostgreSQL URL (`postgres://USER@HOST:PORT/DB`) shared by several nodes.
    #[arg(long, env = "TRENT_STORE", default_value = "sqlite")]
    pub store: String,
    /// INSECURE emulator mode: accept any credentials without checking signatures.
    #[arg(long)]
    pub dev: bool,
    /// The account every dev-mode caller acts as (the root of it).
    #[arg(long, default_value = DEFAULT_DEV_ACCOUNT)]
    pub dev_account_id: String,
    /// Seconds between rounds of background work: destroying keys whose
    /// deletion waiting period ended, rotating keys whose rotation is due,
    /// deleting imported key material whose ValidTo passed.
    #[arg(long, default_value_t = 60)]
    pub sweep_interval_secs: u64,
    /// The Region names requests may be signed for, comma-separated
    /// (default: every Region name AWS publishes). Others are refused.
    #[arg(long, env = "TRENT_REGIONS", value_delimiter = ',')]
    pub regions: Vec<String>,
    /// For tests only: shifts Trent's clock by this many seconds.
    #[arg(long, hide = true, default_value_t = 0, allow_negative_numbers = true)]
    pub clock_offset_secs: i64,
    #[command(flatten)]
    pub audit: crate::audit::AuditOptions,
    /// A service that may call on behalf of others, `NAME=PRINCIPAL_ARN`
    /// (repeatable): its requests with `X-Trent-On-Behalf-Of` act as that
    /// caller with `kms:ViaService` = NAME. See docs/authorization.md.
    #[arg(long = "trusted-service")]
    pub trusted_services: Vec<crate::authz::via::TrustedService>,
    /// Other accounts whose users the trusted service NAME may act for,
    /// `NAME=ACCOUNT[,ACCOUNT...]` (repeatable). Without it a trusted
    /// service acts only for principals of its own account.
    #[arg(long = "trusted-service-accounts")]
    pub trusted_service_accounts: Vec<crate::authz::via::ServiceAccounts>,
    /// Seconds a client may take to send a request's head (request line
    /// and headers), from its first byte; the connection is closed after.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,
    /// Seconds a client may take to send a request's body, from the end of
    /// its head; the request is then answered with an error and the
    /// connection closed.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_secs: u64,
    /// Seconds a keep-alive connection may stay open without a request.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
    /// Connections served at once; further ones wait in the listen backlog
    /// until one closes.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    #[command(flatten)]
    pub xks: XksOptions,
    #[command(flatten)]
    pub throttle: crate::dispatch::throttle::ThrottleOptions,
    /// A seed file (JSON): keys with fixed ids and aliases to make at
    /// start-up, or to find as they are (docs/seeding.md).
    #[arg(long, env = "TRENT_SEED")]
    pub seed: Option<PathBuf>,
}

/// How external key stores reach their XKS proxies.
#[derive(clap::Args, Debug)]
pub struct XksOptions {
    /// PEM certificates trusted for XKS proxies besides the system's roots
    /// (e.g. a private CA, or a test proxy's self-signed certificate).
    #[arg(long)]
    pub xks_ca_bundle: Option<PathBuf>,
    /// Milliseconds a proxy has to answer a request (AWS KMS: 250).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub xks_timeout_ms: u64,
    /// `HOST=ADDR:PORT` (repeatable): reach the proxy endpoint
    /// `https://HOST` at ADDR:PORT instead of HOST's port 443 (a port
    /// mapping, or tests); TLS still checks the certificate for HOST.
    #[arg(long = "xks-connect-to", value_parser = parse_connect_to)]
    pub xks_connect_to: Vec<(String, SocketAddr)>,
}

fn parse_connect_to(text: &str) -> Result<(String, SocketAddr), String> {
    let (host, addr) = text.split_once('=').ok_or("expected HOST=ADDR:PORT")?;
    let addr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    Ok((host.to_owned(), addr))
}

impl XksOptions {
    fn client(&self) -> Result<crate::keystores::xks_client::XksClient, ServeError> {
        let connect_to = self.xks_connect_to.iter().cloned().collect();
        crate::keystores::xks_client::XksClient::new(self.xks_ca_bundle.as_deref(), Duration::from_millis(self.xks_timeout_ms), connect_to).map_err(ServeError::Setup)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Setup(String),
}

fn setup<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> ServeError + '_ {
    move |e| ServeError::Setup(format!("{what}: {e}"))
}

pub async fn run(options: ServeOptions) -> Result<(), ServeError> {
    survive_file_size_limit();
    let dir = &options.data_dir;
    create_private_dir(dir).map_err(setup("creating the data directory"))?;
    // Before anything in the directory is read or written; held until `run` returns.
    let mut lock = data_dir_lock::DataDirLock::acquire(dir).map_err(ServeError::Setup)?;
    // aws-lc seeds its random generator from CPU jitter on first use (~70 ms
    // here): pay that while starting, not in the first request's answer.
    trent_crypto::random_bytes(16).map_err(|e| ServeError::Setup(format!("random generator: {e}")))?;
    let (root_key, created) = RootKey::load_or_create(&dir.join("root.key")).map_err(setup("root key"))?;
    if created {
        tracing::info!(path = %dir.join("root.key").display(), "created a new root key");
    }
    let root_key = Arc::new(root_key);
    let store = open_store(&options.store, dir).await?;
    crate::auth::root_check::verify_or_record(store.as_ref(), &root_key).await.map_err(setup("root key"))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock { offset_millis: options.clock_offset_secs * 1000 });
    let provider = Arc::new(SoftwareProvider::new(root_key.clone()));

    let credentials = dir.join("credentials");
    let dev_account = options.dev.then_some(options.dev_account_id.as_str());
    let admin = crate::auth::credentials::bootstrap_admin(store.as_ref(), &root_key, &credentials, dev_account, clock.now_millis())
        .await
        .map_err(|e| ServeError::Setup(format!("creating the admin: {}", e.internal.or(e.message).unwrap_or_default())))?;

    let auth = if options.dev {
        tracing::warn!("DEV MODE IS INSECURE: any credentials are accepted without checking signatures; every caller is the root of account {}", options.dev_account_id);
        AuthMode::Dev { account_id: options.dev_account_id.clone() }
    } else {
        AuthMode::Secure
    };
    let usage = Arc::new(crate::keys::usage::UsageTracker::default());
    let audit = Arc::new(crate::audit::Audit::start(dir, &options.audit, &root_key, clock.clone()).map_err(|e| ServeError::Setup(format!("audit log: {e}")))?);
    let mut trusted_services = options.trusted_services.clone();
    crate::authz::via::allow_accounts(&mut trusted_services, &options.trusted_service_accounts).map_err(ServeError::Setup)?;
    let regions = crate::auth::regions::Regions::new(&options.regions).map_err(ServeError::Setup)?;
    let state = Arc::new(AppState { store: store.clone(), provider, root_key, clock: clock.clone(), auth, usage: usage.clone(), audit: audit.clone(), trusted_services, key_stores: Arc::new(KeyStoreRuntime::new(dir).with_xks(options.xks.client()?)), regions, throttle: options.throttle.throttle()? });
    crate::keys::usage::start_tracking(store.as_ref(), clock.now_millis()).await.map_err(setup("usage tracking"))?;
    if let Some(path) = &options.seed {
        let seeded = crate::seed::apply(&state, crate::seed::file::load(path).map_err(ServeError::Setup)?, dev_account).await.map_err(setup("--seed"))?;
        tracing::info!(users = seeded.users_created, keys = seeded.keys_created, aliases = seeded.aliases_created, "seeded from {}", path.display());
    }

    let destroyed = crate::lifecycle::deletion::sweep(store.as_ref(), clock.as_ref(), state.as_ref()).await.map_err(setup("deletion sweep"))?;
    if destroyed > 0 {
        tracing::info!(destroyed, "destroyed keys whose deletion waiting period ended while Trent was down");
    }
    let expired = crate::lifecycle::expiry::sweep(store.as_ref(), clock.as_ref(), state.as_ref()).await.map_err(setup("imported material expiry"))?;
    if expired > 0 {
        tracing::info!(expired, "deleted imported key material that expired while Trent was down");
    }
    let rotated = crate::lifecycle::rotation::sweep(store.as_ref(), &state.provider, clock.as_ref(), state.as_ref()).await.map_err(setup("rotation catch-up"))?;
    if rotated > 0 {
        tracing::info!(rotated, "rotated keys whose automatic rotation fell due while Trent was down");
    }
    // Names this process in the leases table, so an operator can tell which
    // node runs the background work.
    let node_id = uuid::Uuid::new_v4().to_string();
    tracing::info!(%node_id, "node started");
    let every = Duration::from_secs(options.sweep_interval_secs.max(1));
    crate::lifecycle::deletion::spawn_sweeper(state.clone(), node_id.clone(), every);
    crate::keystores::probe::spawn(state.clone());
    crate::lifecycle::expiry::spawn_expirer(state.clone(), node_id.clone(), every);
    crate::lifecycle::rotation::spawn_rotator(state.clone(), node_id, every);
    crate::keys::usage::spawn_flusher(store.clone(), usage.clone());

    let listener = tokio::net::TcpListener::bind(options.listen).await.map_err(setup("binding the listen address"))?;
    let addr = listener.local_addr().map_err(setup("listen address"))?;
    if let Err(e) = lock.note_listening(addr) {
        tracing::warn!(error = %e, "could not write the listen address into the data directory's lock file");
    }
    let shutdown = shutdown_signal();
    print_welcome(addr, &credentials, admin.as_deref(), options.dev);
    let limits = connections::Limits {
        header_timeout: Duration::from_secs(options.header_timeout_secs),
        body_timeout: Duration::from_secs(options.body_timeout_secs),
        idle_timeout: Duration::from_secs(options.idle_timeout_secs),
        max_connections: usize::try_from(options.max_connections).unwrap_or(usize::MAX),
    };
    // Each request carries the peer's address, for aws:SourceIp and the audit log.
    let (requests, running) = crate::http::RequestTasks::new();
    connections::serve(listener, crate::http::router(state, running), limits, shutdown).await;
    // Requests whose clients left before their answer still run to their
    // end (and write their audit events): wait for them too.
    requests.all_done().await;
    // A graceful stop keeps every noted key use (a few tries: the database
    // may be briefly busy). They are a summary, not acknowledged writes, so
    // failing to keep them is logged rather than failing the stop.
    let mut flushed = usage.flush(store.as_ref()).await;
    for _ in 0..3 {
        if flushed.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        flushed = usage.flush(store.as_ref()).await;
    }
    if let Err(e) = flushed {
        tracing::error!(error = %e, "key last-use records noted since the last flush are lost");
    }
    // Every answered request's event is written; sign and fsync the tail.
    audit.shutdown().await;
    // Only now may another server take the directory: the log is closed.
    drop(lock);
    Ok(())
}

pub async fn open_store(spec: &str, dir: &Path) -> Result<Arc<dyn Store>, ServeError> {
    if spec == "sqlite" {
        let store = SqliteStore::open(&dir.join("trent.db")).map_err(setup("opening the database"))?;
        return Ok(Arc::new(store));
    }
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        let store = PostgresStore::connect(spec).await.map_err(setup("connecting to PostgreSQL"))?;
        return Ok(Arc::new(store));
    }
    Err(ServeError::Setup(format!("--store must be `sqlite` or a postgres:// URL, not `{spec}`")))
}

pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    Ok(())
}

fn print_welcome(addr: SocketAddr, credentials: &Path, admin: Option<&str>, dev: bool) {
    // Tests and scripts wait for this first line.
    println!("Trent listening on http://{addr}");
    if let Some(arn) = admin {
        println!("Created the admin {arn}; its access key is in {}", credentials.display());
    }
    if dev {
        println!("WARNING: DEV MODE IS INSECURE. Any access key and secret is accepted without checking the signature. Never expose this server.");
    }
    let creds = if dev { String::new() } else { format!("AWS_SHARED_CREDENTIALS_FILE={} ", credentials.display()) };
    println!("Try: {creds}aws --endpoint-url http://{addr} --region us-east-1 kms list-keys");
}

/// A write past the file size limit (RLIMIT_FSIZE) raises SIGXFSZ, which
/// ends a process by default. Handled, the write fails (EFBIG) instead, as
/// on a full disk, and the store and audit log treat it as one: the audit
/// writer resumes when writes work again.
fn survive_file_size_limit() {
    #[cfg(unix)]
    {
        const SIGXFSZ: i32 = 25; // Linux and the BSDs
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(SIGXFSZ)) {
            Ok(mut signals) => {
                tokio::spawn(async move {
                    while signals.recv().await.is_some() {
                        tracing::warn!("a write went past the file size limit (SIGXFSZ)");
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "SIGXFSZ is not handled: a write past the file size limit ends Trent"),
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is
/// called, not when the future is first polled: a SIGTERM that comes right
/// after the listening line must already stop Trent gracefully.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = ctrl_c.await;
    }
}
