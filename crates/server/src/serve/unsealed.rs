//! Everything `trent serve` builds from the root key, built each time the
//! server is unsealed (at start, or later through `crate::seal::Gate`):
//! the root key check, the key provider, the first admin, the audit log
//! (whose signing key is sealed under the root key), the state requests
//! use, the catch-up sweeps and the background work.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;
use trent_crypto::{RootKey, SoftwareProvider};
use trent_store::Store;

use super::ServeOptions;
use crate::clock::Clock;
use crate::keystores::runtime::KeyStoreRuntime;
use crate::state::{AppState, AuthMode};

/// What outlives a seal: the store, the clock, the options.
pub struct Starter {
    pub options: ServeOptions,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub usage: Arc<crate::keys::usage::UsageTracker>,
    pub node_id: String,
}

/// One unsealed run.
pub struct Started {
    pub state: Arc<AppState>,
    pub tasks: Vec<JoinHandle<()>>,
    /// The admin's ARN when this run made the first admin.
    pub admin: Option<String>,
}

impl Starter {
    pub fn credentials_path(&self) -> PathBuf {
        self.options.data_dir.join("credentials")
    }

    pub async fn start(&self, root: RootKey, sealer: Weak<crate::seal::Gate>) -> Result<Started, String> {
        let options = &self.options;
        let dir = &options.data_dir;
        let store = &self.store;
        let clock = &self.clock;
        let root = crate::seal::generation::adopt(store.as_ref(), root).await?;
        if let Some(from) = root.previous_generation() {
            // Serving is safe (new key to seal, both to read); finishing is the operator's call.
            if options.store == "sqlite" {
                tracing::warn!(from, to = root.generation(), "a root key rotation was left unfinished: run `trent operator rotate-root` again to finish it");
            } else {
                tracing::warn!(from, to = root.generation(), "a root key rotation is in progress on another node, or was left unfinished: if no node runs it, run `trent operator rotate-root --endpoint` again on any node to finish it");
            }
        }
        let root_key = Arc::new(trent_crypto::LiveRootKey::new(root));
        let provider = Arc::new(SoftwareProvider::new(root_key.clone()));
        let dev_account = options.dev.then_some(options.dev_account_id.as_str());
        let admin = crate::auth::credentials::bootstrap_admin(store.as_ref(), &root_key.load(), &self.credentials_path(), dev_account, clock.now_millis())
            .await
            .map_err(|e| format!("creating the admin: {}", e.internal.or(e.message).unwrap_or_default()))?;
        // `trent serve` warns of dev mode after its listening line.
        let auth = if options.dev {
            AuthMode::Dev { account_id: options.dev_account_id.clone() }
        } else {
            AuthMode::Secure
        };
        let audit = Arc::new(crate::audit::Audit::start(dir, &options.audit, &root_key.load(), clock.clone()).map_err(|e| format!("audit log: {e}"))?);
        let mut trusted_services = options.trusted_services.clone();
        crate::authz::via::allow_accounts(&mut trusted_services, &options.trusted_service_accounts)?;
        let regions = crate::auth::regions::Regions::new(&options.regions)?;
        let key_stores = Arc::new(KeyStoreRuntime::new(dir).with_xks(options.xks.client().map_err(|e| e.to_string())?));
        let state = Arc::new(AppState {
            store: store.clone(),
            provider,
            root_key,
            clock: clock.clone(),
            auth,
            usage: self.usage.clone(),
            audit,
            trusted_services,
            key_stores,
            regions,
            sealer,
            throttle: options.throttle.throttle(options.dev).map_err(|e| e.to_string())?,
        });
        // Idempotent: at every unseal, a seed already applied changes nothing.
        if let Some(path) = &options.seed {
            let seeded = crate::seed::apply(&state, crate::seed::file::load(path)?, dev_account).await.map_err(|e| format!("--seed: {e}"))?;
            tracing::info!(users = seeded.users_created, keys = seeded.keys_created, aliases = seeded.aliases_created, "seeded from {}", path.display());
        }
        catch_up(&state).await?;
        let every = Duration::from_secs(options.sweep_interval_secs.max(1));
        let node_id = self.node_id.clone();
        let mut tasks = vec![
            crate::lifecycle::deletion::spawn_sweeper(state.clone(), node_id.clone(), every),
            crate::keystores::probe::spawn(state.clone()),
            crate::lifecycle::expiry::spawn_expirer(state.clone(), node_id.clone(), every),
            crate::lifecycle::rotation::spawn_rotator(state.clone(), node_id, every),
        ];
        // Other nodes may rotate the root key (one process alone on SQLite).
        if options.store != "sqlite" {
            tasks.push(crate::seal::online::follow::spawn(state.clone(), dir.clone()));
        }
        Ok(Started { state, tasks, admin })
    }
}

/// The work that fell due while Trent was down (or sealed).
async fn catch_up(state: &Arc<AppState>) -> Result<(), String> {
    let (store, clock) = (state.store.as_ref(), state.clock.as_ref());
    let destroyed = crate::lifecycle::deletion::sweep(store, clock, state.as_ref()).await.map_err(|e| format!("deletion sweep: {e}"))?;
    if destroyed > 0 {
        tracing::info!(destroyed, "destroyed keys whose deletion waiting period ended while Trent was down");
    }
    let expired = crate::lifecycle::expiry::sweep(store, clock, state.as_ref()).await.map_err(|e| format!("imported material expiry: {e}"))?;
    if expired > 0 {
        tracing::info!(expired, "deleted imported key material that expired while Trent was down");
    }
    let rotated = crate::lifecycle::rotation::sweep(store, &state.provider, clock, state.as_ref()).await.map_err(|e| format!("rotation catch-up: {e}"))?;
    if rotated > 0 {
        tracing::info!(rotated, "rotated keys whose automatic rotation fell due while Trent was down");
    }
    Ok(())
}
