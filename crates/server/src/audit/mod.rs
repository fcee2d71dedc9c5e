//! Audit: one CloudTrail-shaped event per request, allowed or denied,
//! written to a hash-chained, signed log before the answer is sent.
//!
//! - [`event`]: the event (CloudTrail's KMS shape) and the [`event::Notes`]
//!   authorization leaves on the request context.
//! - [`params`]: the allow-lists that build `requestParameters` and
//!   `responseElements` without ever copying a secret.
//! - [`chain`]: the record format: hash chain and signed digests (pure).
//! - [`signing`]: the Ed25519 audit signing key, sealed under the root key.
//! - [`writer`]: writes the sinks (files with rotation, stdout, syslog)
//!   from the request's own thread; its thread fsyncs and signs.
//! - [`pending`]: events of offline commands, signed, for the server to write.
//! - [`verify`] and [`query`]: what `trent audit verify` and `trent audit
//!   query` do; [`cli`] is the `trent audit` command.
//!
//! The HTTP layer wraps every request once (`http::handle`), so a request
//! that fails authentication or validation gets its event too.

pub mod chain;
pub mod cli;
pub mod event;
pub mod params;
pub mod pending;
pub mod query;
pub mod signing;
pub mod verify;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use trent_crypto::RootKey;

use crate::clock::Clock;
pub use event::{Notes, Trail};
pub use writer::Sink;

/// `DATA_DIR/audit`: the log files and the sealed signing key.
pub fn audit_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("audit")
}

/// The audit public key (PEM) beside the log, written at each start.
pub fn public_key_path(data_dir: &Path) -> PathBuf {
    audit_dir(data_dir).join("public-key.pem")
}

pub fn signing_key_path(data_dir: &Path) -> PathBuf {
    audit_dir(data_dir).join("signing.key")
}

/// `DATA_DIR/audit`, made (mode 0700) if it is not there.
pub fn create_audit_dir(data_dir: &Path) -> Result<PathBuf, String> {
    let dir = audit_dir(data_dir);
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    Ok(dir)
}

/// What to do while a sink cannot be written (the writer retries every
/// second and resumes when it can write again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnFailure {
    /// Refuse every request until the log resumes (the default): nothing is served unaudited.
    Refuse,
    /// Log the failure to stderr and keep serving; events of changes are
    /// kept in memory and written when the log resumes, others are lost.
    Log,
}

/// The `trent serve` flags of the audit log.
#[derive(clap::Args, Debug, Clone)]
pub struct AuditOptions {
    /// Where audit events go: `file` (DATA_DIR/audit, the default), `stdout`,
    /// `syslog` (/dev/log) or `syslog:PATH`. Repeat for several at once.
    #[arg(long = "audit-sink", value_name = "SINK", value_parser = parse_sink, default_value = "file")]
    pub sinks: Vec<Sink>,
    /// A log file is closed and a new one begun when it reaches this size.
    #[arg(long, default_value_t = 100 << 20)]
    pub audit_max_file_bytes: u64,
    /// A log file is also closed and a new one begun when it is this many seconds old.
    #[arg(long, default_value_t = 24 * 60 * 60)]
    pub audit_rotate_secs: u64,
    /// Events of reads and cryptographic operations are fsynced together at
    /// most this long after they are written (the loss window on power
    /// failure); those of changes are fsynced before the answer.
    #[arg(long, default_value_t = 100)]
    pub audit_sync_interval_ms: u64,
    /// How often, when there are new records, a signed digest is added.
    #[arg(long, default_value_t = 60)]
    pub audit_digest_interval_secs: u64,
    /// When a sink cannot be written: `refuse` every request (default) or `log` and go on.
    #[arg(long, value_enum, default_value = "refuse")]
    pub audit_on_failure: OnFailure,
}

fn parse_sink(s: &str) -> Result<Sink, String> {
    match s {
        "file" => Ok(Sink::File),
        "stdout" => Ok(Sink::Stdout),
        "syslog" => Ok(Sink::Syslog(PathBuf::from("/dev/log"))),
        _ => match s.strip_prefix("syslog:") {
            Some(path) if !path.is_empty() => Ok(Sink::Syslog(PathBuf::from(path))),
            _ => Err(format!("`{s}` is not an audit sink: use file, stdout, syslog or syslog:PATH")),
        },
    }
}

/// What `/metrics` reports of the audit log.
#[derive(Debug, Default, Clone, Copy)]
pub struct AuditStats {
    pub failing: bool,
    /// Times the log started failing since the start.
    pub failures: u64,
    /// Events of committed changes kept in memory until the log resumes.
    pub owed_events: u64,
    /// Records written but not yet fsynced (kept to write again on failure).
    pub unsynced_records: u64,
}

/// The audit log of a running server.
pub struct Audit {
    /// None for [`Audit::none`].
    writer: Option<Arc<Mutex<writer::Writer>>>,
    /// To the `trent-audit` thread; taken at shutdown.
    tx: Mutex<Option<std::sync::mpsc::Sender<writer::Msg>>>,
    failed: Arc<AtomicBool>,
    on_failure: OnFailure,
    /// `--audit-sync-interval-ms 0`: every event is fsynced before its answer.
    sync_every_event: bool,
}

impl Audit {
    /// Opens the log (continuing its chain) and starts the writer thread.
    pub fn start(data_dir: &Path, options: &AuditOptions, root: &RootKey, clock: Arc<dyn Clock>) -> Result<Audit, String> {
        let dir = create_audit_dir(data_dir)?;
        let key = signing::SigningKey::load_or_create(&signing_key_path(data_dir), root)?;
        // Public: lets `trent audit verify --data-dir` check the log without
        // the root key, which the sealed modes keep off the disk.
        let pem = signing::public_key_pem(key.public_key());
        let pem_path = public_key_path(data_dir);
        if std::fs::read_to_string(&pem_path).ok().as_deref() != Some(pem.as_str()) {
            std::fs::write(&pem_path, &pem).map_err(|e| format!("writing {}: {e}", pem_path.display()))?;
        }
        let mut sinks = options.sinks.clone();
        sinks.dedup();
        let settings = writer::Settings {
            dir,
            sinks,
            max_file_bytes: options.audit_max_file_bytes.max(1),
            rotate_after: Duration::from_secs(options.audit_rotate_secs.max(1)),
            sync_interval: Duration::from_millis(options.audit_sync_interval_ms),
            digest_interval: Duration::from_secs(options.audit_digest_interval_secs.max(1)),
        };
        let failed = Arc::new(AtomicBool::new(false));
        let writer = Arc::new(Mutex::new(writer::Writer::open(settings, key, clock, failed.clone())?));
        let (tx, rx) = std::sync::mpsc::channel();
        let thread_writer = writer.clone();
        std::thread::Builder::new().name("trent-audit".into()).spawn(move || writer::run(thread_writer, rx)).map_err(|e| format!("starting the audit writer: {e}"))?;
        Ok(Audit {
            writer: Some(writer),
            tx: Mutex::new(Some(tx)),
            failed,
            on_failure: options.audit_on_failure,
            sync_every_event: options.audit_sync_interval_ms == 0,
        })
    }

    /// No log, for operator commands that build an `AppState` but answer no
    /// requests (e.g. `trent explain`): recording fails, so nothing could
    /// be served through it unaudited.
    pub fn none() -> Audit {
        Audit { writer: None, tx: Mutex::new(None), failed: Arc::new(AtomicBool::new(true)), on_failure: OnFailure::Refuse, sync_every_event: false }
    }

    /// For unit tests that build an `AppState`: a real log in a temporary
    /// directory that is left for the OS to clean.
    #[cfg(test)]
    pub fn in_temp_dir(root: &RootKey, clock: Arc<dyn Clock>) -> Audit {
        let dir = tempfile::tempdir().expect("temporary directory").keep();
        let options = AuditOptions {
            sinks: vec![Sink::File],
            audit_max_file_bytes: 100 << 20,
            audit_rotate_secs: 86_400,
            audit_sync_interval_ms: 100,
            audit_digest_interval_secs: 60,
            audit_on_failure: OnFailure::Refuse,
        };
        Audit::start(&dir, &options, root, clock).expect("an audit log in a temporary directory")
    }

    /// Whether requests must be refused before they do anything: a sink
    /// failed and the server was started to refuse then.
    pub fn refusing(&self) -> bool {
        self.on_failure == OnFailure::Refuse && self.failed.load(Ordering::SeqCst)
    }

    /// Whether a sink cannot be written now (whatever `--audit-on-failure` says).
    pub fn failing(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// The log's state for `/metrics`; takes the writer's lock briefly.
    pub fn stats(&self) -> AuditStats {
        let failing = self.failing();
        let Some(writer) = &self.writer else { return AuditStats { failing, ..AuditStats::default() } };
        let (failures, owed, unsynced) = writer::lock(writer).backlog();
        AuditStats { failing, failures, owed_events: owed as u64, unsynced_records: unsynced as u64 }
    }

    /// The public half of the key that signs the log (none for [`Audit::none`]).
    pub fn public_key(&self) -> Option<Vec<u8>> {
        self.writer.as_ref().map(|w| writer::lock(w).public_key().to_vec())
    }

    /// Records one event; returns once it is written (and fsynced if
    /// `sync`). An error means the request must not be answered as served.
    pub async fn record(&self, event: &impl serde::Serialize, sync: bool) -> Result<(), String> {
        let json = serde_json::to_string(event).map_err(|e| format!("an audit event could not be serialized: {e}"))?;
        let written = match &self.writer {
            // A write to the kernel's page cache: short enough for the request's own thread.
            Some(writer) => {
                let mut writer = writer::lock(writer);
                let written = writer.write_event(&json);
                if written.is_err() && sync {
                    // A change that committed: its event is written when the log resumes.
                    // (One written but not fsynced is kept by the writer itself.)
                    writer.owe(json);
                }
                written
            }
            None => Err("the audit writer stopped".to_owned()),
        };
        let result = match written {
            Ok(()) if sync || self.sync_every_event => self.sync().await,
            other => other,
        };
        if result.is_err() {
            // Also when the writer itself is gone: later requests are refused before they act.
            self.failed.store(true, Ordering::SeqCst);
            // The writer thread retries from now on.
            if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                let _ = tx.send(writer::Msg::Failed);
            }
        }
        match result {
            Err(e) if self.on_failure == OnFailure::Log => {
                tracing::error!(error = %e, "serving without an audit record (--audit-on-failure log)");
                Ok(())
            }
            other => other,
        }
    }

    /// Waits until everything written so far is fsynced (group commit by
    /// the `trent-audit` thread).
    async fn sync(&self) -> Result<(), String> {
        let (ack, done) = oneshot::channel();
        let sent = {
            let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
            tx.as_ref().is_some_and(|tx| tx.send(writer::Msg::Sync(ack)).is_ok())
        };
        if !sent {
            return Err("the audit writer stopped".into());
        }
        done.await.unwrap_or_else(|_| Err("the audit writer stopped".into()))
    }

    /// Signs and fsyncs what is pending and stops the writer.
    pub async fn shutdown(&self) {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(tx) = tx {
            let (ack, done) = oneshot::channel();
            if tx.send(writer::Msg::Shutdown(ack)).is_ok() {
                let _ = done.await;
            }
        }
    }
}
