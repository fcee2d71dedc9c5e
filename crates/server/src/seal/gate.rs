//! The gate between the listener and everything the root key opens.
//!
//! Unsealed, the gate holds the [`AppState`] (the root key, the key
//! provider and its cache of parsed keys, the audit log's signing key, the
//! key stores' logins): each request takes it with one atomic load.
//! Sealed, it holds nothing and every request is refused. Sealing drops
//! the gate's state; once the requests still running on it end, the last
//! reference goes and with it the root key and everything derived from it
//! (each zeroized on drop), and the SigV4 signing keys kept process-wide
//! are forgotten.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::task::JoinHandle;
use trent_crypto::seal;
use trent_crypto::{RootKey, SecretBytes};

use super::config::{self, SealConfig};
use super::tamper::{Tamper, TamperOptions};
use crate::serve::unsealed::Starter;
use crate::state::AppState;

/// The answer to one unseal call.
#[derive(Debug, serde::Serialize)]
pub struct Progress {
    pub sealed: bool,
    /// Shares needed (1 in passphrase mode: the passphrase).
    pub threshold: u8,
    /// Shares made (0 outside Shamir mode).
    pub shares: u8,
    /// Distinct shares given so far.
    pub progress: usize,
    pub mode: &'static str,
}

/// Why an unseal call was refused.
#[derive(Debug)]
pub enum Refusal {
    /// Too many failed attempts: wait this long.
    Delayed(Duration),
    /// A wrong share or passphrase; counted.
    Wrong(String),
    /// The mode cannot be unsealed this way, or starting failed.
    Cannot(String),
    /// What unsealing needs from the store (the failed attempts, the seal
    /// configuration) cannot be read now: try again later.
    Unavailable(String),
}

/// What [`Gate::unseal`] was given.
struct Pending {
    shares: Vec<SecretBytes>,
    tasks: Vec<JoinHandle<()>>,
    /// The last seal's teardown, which closes that state's audit log.
    closing: Option<JoinHandle<()>>,
}

pub struct Gate {
    state: ArcSwapOption<AppState>,
    /// Read again from the store at each unseal and seal: `trent operator
    /// rekey` may have changed it while this server ran.
    config: ArcSwap<SealConfig>,
    starter: Starter,
    pending: tokio::sync::Mutex<Pending>,
    tamper: Tamper,
    /// This server's online root key rotation (`super::online`).
    rotation: super::online::SharedStatus,
    me: Weak<Gate>,
}

impl Gate {
    pub fn new(config: SealConfig, starter: Starter, tamper: &TamperOptions) -> Arc<Gate> {
        Arc::new_cyclic(|me| Gate {
            state: ArcSwapOption::empty(),
            config: ArcSwap::from_pointee(config),
            tamper: Tamper::new(tamper, starter.store.clone(), starter.clock.clone()),
            starter,
            pending: tokio::sync::Mutex::new(Pending { shares: Vec::new(), tasks: Vec::new(), closing: None }),
            rotation: Arc::new(std::sync::Mutex::new(super::online::Status::IDLE)),
            me: me.clone(),
        })
    }

    /// The unsealed state, or `None` while sealed. One atomic load and a
    /// reference count: the request path's only cost.
    pub fn state(&self) -> Option<Arc<AppState>> {
        self.state.load_full()
    }

    /// Whether the server is sealed (for `/health`: cheap, no lock).
    pub fn is_sealed(&self) -> bool {
        self.state.load().is_none()
    }

    pub fn starter(&self) -> &Starter {
        &self.starter
    }

    pub fn rotation(&self) -> super::online::SharedStatus {
        self.rotation.clone()
    }

    pub fn rotation_status(&self) -> super::online::Status {
        self.rotation.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Background work of the unsealed state, stopped when sealing (an
    /// online rotation: each of its steps is durable, a rerun resumes).
    pub async fn track(&self, task: JoinHandle<()>) {
        self.pending.lock().await.tasks.push(task);
    }

    pub fn config(&self) -> Arc<SealConfig> {
        self.config.load_full()
    }

    /// Reads the seal configuration again (a rekey changes it; the root key
    /// it wraps is the same, so an unsealed state stays valid). Shares
    /// given for the old configuration are dropped when it changed.
    async fn refresh(&self, pending: &mut Pending) -> Result<Arc<SealConfig>, String> {
        if let Some(fresh) = config::load(self.starter.store.as_ref()).await? {
            if *self.config.load_full() != fresh {
                pending.shares.clear();
                self.config.store(Arc::new(fresh));
            }
        }
        Ok(self.config.load_full())
    }

    /// Starts serving with `root` (at start, or when unsealed). Returns
    /// the admin's ARN if this made it.
    pub async fn open(&self, root: RootKey) -> Result<Option<String>, String> {
        let mut pending = self.pending.lock().await;
        self.open_locked(&mut pending, root, 0).await
    }

    async fn open_locked(&self, pending: &mut Pending, root: RootKey, failures: u32) -> Result<Option<String>, String> {
        if self.state.load().is_some() {
            return Ok(None);
        }
        // The log has one writer: the sealed state's must be closed before this one opens it.
        if let Some(closing) = pending.closing.take() {
            let _ = closing.await;
        }
        let started = self.starter.start(root, self.me.clone()).await?;
        // The key-file mode has nothing to unseal: its start is not an event.
        let config = self.config.load_full();
        if !matches!(*config, SealConfig::File) {
            let event = super::events::unsealed(&config, started.state.root_key.load().generation(), failures, started.state.clock.now_millis());
            if let Err(e) = started.state.audit.record(&event, true).await {
                tracing::error!(error = %e, "the unseal's audit event could not be written");
            }
        }
        // What offline commands (rekey) did meanwhile, now that the log is open.
        crate::audit::pending::record_all(&self.starter.options.data_dir, &started.state.audit).await;
        pending.tasks = started.tasks;
        self.state.store(Some(started.state));
        Ok(started.admin)
    }

    /// Where unsealing stands.
    pub fn progress(&self, given: usize) -> Progress {
        let config = self.config.load_full();
        let (threshold, shares) = match &*config {
            SealConfig::Shamir { shares, threshold, .. } => (*threshold, *shares),
            _ => (1, 0),
        };
        Progress { sealed: self.is_sealed(), threshold, shares, progress: given, mode: config.mode() }
    }

    /// Drops the shares given so far (Vault's `reset`).
    pub async fn reset(&self) -> Progress {
        self.pending.lock().await.shares.clear();
        self.progress(0)
    }

    pub async fn status(&self) -> Progress {
        let given = self.pending.lock().await.shares.len();
        self.progress(given)
    }

    /// One unseal call: a Shamir share (hex, optionally as printed,
    /// `share N: HEX`), or the passphrase in passphrase mode.
    pub async fn unseal(&self, key: SecretBytes) -> Result<Progress, Refusal> {
        let mut pending = self.pending.lock().await;
        if !self.is_sealed() {
            return Ok(self.progress(0));
        }
        // Kept in the store (every node's, across restarts); unreadable, the attempt is refused.
        if let Some(wait) = self.tamper.delay().await.map_err(Refusal::Unavailable)? {
            return Err(Refusal::Delayed(wait));
        }
        let config = self.refresh(&mut pending).await.map_err(Refusal::Unavailable)?;
        let root = match &*config {
            SealConfig::File | SealConfig::Pkcs11 { .. } | SealConfig::Kms { .. } => return Err(Refusal::Cannot(format!("a {}-mode server is unsealed by restarting it", config.mode()))),
            c @ SealConfig::Passphrase { .. } => {
                let c = c.clone();
                let opened = tokio::task::spawn_blocking(move || super::open::open_with_passphrase(&c, &key)).await.map_err(|e| Refusal::Cannot(e.to_string()))?;
                match opened {
                    Ok(root) => root,
                    Err(e) => return Err(self.failed(e).await),
                }
            }
            SealConfig::Shamir { wrapped_root, threshold, .. } => {
                let share = match parse_share(&key) {
                    Ok(share) => share,
                    Err(e) => return Err(self.failed(e).await),
                };
                if pending.shares.iter().any(|s| s.as_bytes().first() == share.as_bytes().first()) {
                    // Vault's rule: the same share again does not count.
                    return Ok(self.progress(pending.shares.len()));
                }
                pending.shares.push(share);
                if pending.shares.len() < usize::from(*threshold) {
                    return Ok(self.progress(pending.shares.len()));
                }
                let shares = std::mem::take(&mut pending.shares);
                let wrapped = config::decode(wrapped_root).map_err(Refusal::Cannot)?;
                let opened = seal::combine(&shares, *threshold).and_then(|kek| seal::unwrap(&wrapped, &kek, seal::SHAMIR_AAD));
                match opened {
                    Ok(root) => root,
                    Err(_) => return Err(self.failed("these shares do not open this deployment's root key; start again with the right shares".to_owned()).await),
                }
            }
        };
        let failures = self.tamper.succeeded().await.unwrap_or_else(|e| {
            // The root key opened: a count that cannot be cleared must not keep it sealed.
            tracing::error!(error = %e, "the failed unseal attempts could not be cleared");
            0
        });
        if let Some(arn) = self.open_locked(&mut pending, root, failures).await.map_err(Refusal::Cannot)? {
            println!("Created the admin {arn}; its access key is in {}", self.starter.credentials_path().display());
        }
        tracing::info!(mode = config.mode(), "unsealed: serving");
        Ok(self.progress(0))
    }

    async fn failed(&self, why: String) -> Refusal {
        match self.tamper.failed().await {
            Ok(failures) => tracing::warn!(failures, "an unseal attempt failed: {why}"),
            Err(e) => tracing::error!(error = %e, "an unseal attempt failed ({why}) and could not be counted"),
        }
        Refusal::Wrong(why)
    }

    /// Seals: new requests are refused at once; the state goes when the
    /// requests still on it end. `false` if it was sealed already.
    pub async fn seal(&self) -> Result<bool, String> {
        let mut pending = self.pending.lock().await;
        // Sealing must work with the store down: then the configuration known so far.
        let config = self.refresh(&mut pending).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "sealing with the seal configuration read earlier");
            self.config.load_full()
        });
        if matches!(*config, SealConfig::File) {
            return Err("a file-mode server cannot be sealed: its root key is on disk beside the data (see docs/root-of-trust.md)".to_owned());
        }
        let Some(state) = self.state.swap(None) else {
            return Ok(false);
        };
        for task in pending.tasks.drain(..) {
            task.abort();
        }
        // An aborted rotation is no longer running; calling it again resumes it.
        {
            let mut rotation = self.rotation.lock().unwrap_or_else(|e| e.into_inner());
            if rotation.state == "RUNNING" {
                *rotation = super::online::Status::IDLE;
            }
        }
        pending.shares.clear();
        tracing::info!("sealed: refusing requests; the root key goes when the requests in flight end");
        pending.closing = Some(tokio::spawn(teardown(state)));
        Ok(true)
    }

    /// At shutdown: closes the audit log of the unsealed state, if any.
    pub async fn shutdown(&self) {
        let (tasks, closing) = {
            let mut pending = self.pending.lock().await;
            (std::mem::take(&mut pending.tasks), pending.closing.take())
        };
        for task in tasks {
            task.abort();
        }
        // A seal's teardown still closing its log finishes first.
        if let Some(closing) = closing {
            let _ = closing.await;
        }
        if let Some(state) = self.state.swap(None) {
            state.audit.shutdown().await;
        }
    }
}

/// Waits for the requests still holding `state` (the seal call's own
/// among them, which writes its audit event), then closes the audit log
/// and forgets what outlives the state.
async fn teardown(state: Arc<AppState>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Arc::strong_count(&state) > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    state.audit.shutdown().await;
    crate::auth::signing_keys::forget_all();
    if Arc::strong_count(&state) > 1 {
        tracing::warn!("a request outlived the seal by a minute; the root key goes when it ends");
    }
    drop(state);
}

/// A share as printed (`share N: HEX`) or just its hex.
pub(crate) fn parse_share(text: &SecretBytes) -> Result<SecretBytes, String> {
    let text = std::str::from_utf8(text.as_bytes()).map_err(|_| "a share is hex text".to_owned())?;
    let text = text.trim();
    let hex_part = match text.split_once(':') {
        Some((label, rest)) if label.trim_start().starts_with("share") => rest.trim(),
        _ => text,
    };
    let bytes = hex::decode(hex_part).map_err(|_| "a share is hex text, as `trent init` printed it".to_owned())?;
    if bytes.len() != 1 + trent_crypto::root_key::ROOT_KEY_LEN || bytes[0] == 0 {
        return Err("this is not a share of a Trent root key".to_owned());
    }
    Ok(SecretBytes::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: crate::serve::ServeOptions,
    }

    /// A gate over a real (in-memory) store and a temporary data directory.
    fn gate(dir: &std::path::Path, config: SealConfig) -> Arc<Gate> {
        let cli = Cli::parse_from(["trent", "--data-dir", dir.to_str().unwrap()]);
        let store: Arc<dyn trent_store::Store> = Arc::new(trent_store::sqlite::SqliteStore::open_in_memory().unwrap());
        let clock: Arc<dyn crate::clock::Clock> = Arc::new(crate::clock::SystemClock { offset_millis: 0 });
        let starter = Starter { options: cli.serve, store, clock, usage: Default::default(), node_id: "test".into() };
        Gate::new(config, starter, &TamperOptions { unseal_failures_allowed: 5, unseal_delay_secs: 30 })
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn sealing_drops_the_state_and_with_it_the_root_key() {
        let dir = tempfile::tempdir().unwrap();
        let gate = gate(dir.path(), SealConfig::Shamir { wrapped_root: String::new(), shares: 2, threshold: 2 });
        assert!(gate.is_sealed() && gate.state().is_none());
        gate.open(RootKey::generate().unwrap()).await.unwrap();
        let state = gate.state().expect("unsealed");
        let held = Arc::downgrade(&state);
        let root = Arc::downgrade(&state.root_key);
        drop(state);
        assert!(gate.seal().await.unwrap());
        assert!(gate.is_sealed() && gate.state().is_none());
        // The teardown waits for the requests in flight (none here), then drops it all.
        let deadline = Instant::now() + Duration::from_secs(5);
        while (held.upgrade().is_some() || root.upgrade().is_some()) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(held.upgrade().is_none(), "the unsealed state outlived the seal");
        assert!(root.upgrade().is_none(), "the root key outlived the seal");
        assert!(!gate.seal().await.unwrap(), "sealed already");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_file_mode_server_cannot_be_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let gate = gate(dir.path(), SealConfig::File);
        gate.open(RootKey::generate().unwrap()).await.unwrap();
        assert!(gate.seal().await.is_err());
        assert!(!gate.is_sealed());
        gate.shutdown().await;
    }
}
