//! `trent serve`: locks the data directory ([`data_dir_lock`]: one server
//! per directory), opens it (root key, SQLite store, first admin's
//! credentials), sweeps due deletions, and serves HTTP ([`connections`]:
//! the connection bound and timeouts).

pub mod admin;
pub mod connections;
pub mod data_dir_lock;
pub mod unsealed;
pub mod listen;
pub mod store_location;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use trent_store::postgres::PostgresStore;
use trent_store::sqlite::SqliteStore;
use trent_store::Store;

use crate::clock::{Clock, SystemClock};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4600";
pub const DEFAULT_DATA_DIR: &str = "trent-data";
pub const DEFAULT_DEV_ACCOUNT: &str = "123456789012";

#[derive(clap::Args, Debug)]
pub struct ServeOptions {
    /// A TOML file of flags, keys named as the long flags (`listen =
    /// "127.0.0.1:4600"`); a flag or TRENT_* variable wins over it. See
    /// docs/operations.md.
    #[arg(long, env = "TRENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration (flags, TRENT_* variables,
    /// --config file, defaults; never a secret) as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Where Trent keeps its state: the root key, the database, the admin's credentials.
    #[arg(long, env = "TRENT_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Address or host name and port to listen on (port 0 picks a free one).
    #[arg(long, env = "TRENT_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
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
    /// Serve `GET /health` and `GET /metrics` (unauthenticated) on this
    /// address instead of the main listener (docs/operations.md).
    #[arg(long, env = "TRENT_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub seal: crate::seal::SealOptions,
    #[command(flatten)]
    pub tls: tls::TlsOptions,
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
    pub(crate) fn client(&self) -> Result<crate::keystores::xks_client::XksClient, ServeError> {
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
    // A start that fails on the port, the TLS files or a PostgreSQL store
    // leaves the data directory as it was: they come before anything in it.
    let listener = listen::bind(&options.listen).await.map_err(ServeError::Setup)?;
    let tls = options.tls.load().map_err(ServeError::Setup)?;
    let dir = options.data_dir.clone();
    let remote_store = if options.store == "sqlite" { None } else { Some(open_store(&options.store, &dir).await?) };
    create_private_dir(&dir).map_err(|e| ServeError::Setup(format!("cannot create the data directory {}: {e}", dir.display())))?;
    if crate::xks::store::is_proxy_dir(&dir) {
        // Both keep a `root.key` and a `lock` in their directory.
        return Err(ServeError::Setup(format!("{} is an XKS proxy's data directory: give `trent serve` a directory of its own", dir.display())));
    }
    // Before anything in the directory is read or written; held until `run` returns.
    let mut lock = data_dir_lock::DataDirLock::acquire(&dir).map_err(ServeError::Setup)?;
    // aws-lc seeds its random generator from CPU jitter on first use (~70 ms
    // here): pay that while starting, not in the first request's answer.
    trent_crypto::random_bytes(16).map_err(|e| ServeError::Setup(format!("random generator: {e}")))?;
    let store = match remote_store {
        Some(store) => store,
        None => open_store(&options.store, &dir).await?,
    };
    let key_file = dir.join("root.key");
    let fresh = !key_file.exists();
    // An empty data directory gets the key-file mode, as before seal modes
    // existed. The error names the file (once).
    let opened = crate::seal::open::open_root(store.as_ref(), &dir, &options.seal.passphrase, &options.seal.pin, true).await.map_err(ServeError::Setup)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock { offset_millis: options.clock_offset_secs * 1000 });
    let usage = Arc::new(crate::keys::usage::UsageTracker::default());
    crate::keys::usage::start_tracking(store.as_ref(), clock.now_millis()).await.map_err(setup("usage tracking"))?;
    // Names this process in the leases table, so an operator can tell which
    // node runs the background work.
    let node_id = uuid::Uuid::new_v4().to_string();
    let (limits, tamper) = (connections::Limits::from(&options), options.seal.tamper.clone());
    let credentials = dir.join("credentials");
    let (config, root) = match opened {
        crate::seal::open::Opened::Ready(root, config) => (config, Some(root)),
        crate::seal::open::Opened::Sealed(config) => (config, None),
    };
    let admin_listen = options.admin_listen;
    let dev_account = options.dev.then(|| options.dev_account_id.clone());
    let starter = unsealed::Starter { options, store: store.clone(), clock: clock.clone(), usage: usage.clone(), node_id: node_id.clone() };
    let gate = crate::seal::Gate::new(config, starter, &tamper);
    let health = crate::http::admin::Admin::new(gate.clone(), store.clone(), clock, node_id.clone());
    let (on_main, admin_server) = admin::listen(admin_listen, health).await?;

    let admin = match root {
        Some(root) => gate.open(root).await.map_err(ServeError::Setup)?,
        None => None,
    };
    crate::keys::usage::spawn_flusher(store.clone(), usage.clone());
    let shutdown = shutdown_signal();
    if let Some(tls) = &tls {
        tls::reload_on_sighup(tls.clone()).map_err(ServeError::Setup)?;
    }

    let addr = listener.local_addr().map_err(setup("listen address"))?;
    if let Err(e) = lock.note_listening(addr) {
        tracing::warn!(error = %e, "could not write the listen address into the data directory's lock file");
    }
    // Tests and scripts wait for this first line: what they need (the
    // first admin's credentials) is ready, and the logs come after it.
    let endpoint = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
    println!("Trent listening on {endpoint}");
    match &admin_server {
        Some(a) => tracing::info!(address = %addr, admin_address = %a.addr, "listening"),
        None => tracing::info!(address = %addr, "listening"),
    }
    if fresh && key_file.exists() {
        tracing::info!(path = %key_file.display(), "created a new root key (seal mode: file)");
    }
    if let Some(account) = &dev_account {
        tracing::warn!("DEV MODE IS INSECURE: any credentials are accepted without checking signatures; every caller is the root of account {account}");
    }
    tracing::info!(%node_id, "node started");
    print_welcome(&endpoint, tls.is_some(), &credentials, admin.as_deref(), dev_account.is_some());
    if let Some(a) = &admin_server {
        println!("Health and metrics on http://{}/health and /metrics", a.addr);
    }
    if gate.is_sealed() {
        let p = gate.status().await;
        println!("Trent is SEALED ({} mode): give {} of its {} shares with `trent operator unseal --endpoint {endpoint}`", p.mode, p.threshold, p.shares);
    }
    // Each request carries the peer's address, for aws:SourceIp and the audit log.
    let (requests, running) = crate::http::RequestTasks::new();
    let stop_admin = admin_server.map(|a| a.spawn(limits));
    connections::serve(listener, crate::http::router(gate.clone(), running, on_main), limits, tls, shutdown).await;
    if let Some(stop) = stop_admin {
        stop.await;
    }
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
    gate.shutdown().await;
    // Only now may another server take the directory: the log is closed.
    drop(lock);
    Ok(())
}

/// The SQLite database's file in a data directory.
pub const DATABASE_FILE: &str = "trent.db";

pub async fn open_store(spec: &str, dir: &Path) -> Result<Arc<dyn Store>, ServeError> {
    if spec == "sqlite" {
        let store = SqliteStore::open(&dir.join(DATABASE_FILE)).map_err(setup("opening the database"))?;
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

/// After the listening line (`run`): the admin made, dev mode, and a
/// command to try on `endpoint`.
fn print_welcome(endpoint: &str, tls: bool, credentials: &Path, admin: Option<&str>, dev: bool) {
    if let Some(arn) = admin {
        println!("Created the admin {arn}; its access key is in {}", credentials.display());
    }
    if dev {
        println!("WARNING: DEV MODE IS INSECURE. Any access key and secret is accepted without checking the signature. Never expose this server.");
    }
    // Dev mode checks no signature, but the aws CLI still wants some key to sign with.
    let creds = if dev { "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test ".to_owned() } else { format!("AWS_SHARED_CREDENTIALS_FILE={} ", credentials.display()) };
    // A certificate for a name needs that name in the URL (and its CA in --ca-bundle).
    let tls_hint = if tls { " --ca-bundle CA.pem" } else { "" };
    println!("Try: {creds}aws --endpoint-url {endpoint}{tls_hint} --region us-east-1 kms list-keys");
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
