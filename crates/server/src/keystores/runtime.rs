//! This node's side of the CloudHSM key stores: the PKCS#11 modules it has
//! loaded and the tokens it is logged in to, one per connected key store.
//!
//! The connection state itself is the store's (shared by every node). A
//! node logs in when a key store is connected through it, or on first use
//! of a key store another node connected; it logs in again when the store
//! record's `connection_id` changed since (a new ConnectCustomKeyStore,
//! perhaps with a new password). Everything here blocks on the module:
//! callers run it on the blocking pool, except AES-GCM on an open session,
//! which is as quick as software crypto's work.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use trent_crypto::{Header, KeyStoreFault, SymmetricKey};
use trent_hsm::{AuthPin, HsmError, Pkcs11Module, Pkcs11SymmetricKey, Token, TokenKey};
use trent_store::CustomKeyStoreRecord;

use super::clusters::{self, RegisteredCluster};
use super::xks_client::XksClient;

/// Sessions per token: enough for every core to run GCM at once.
const SESSIONS_PER_TOKEN: usize = 16;

/// Why a key store could not be used or connected: AWS's
/// `ConnectionErrorCode` and the detail for the server log.
#[derive(Debug, Clone)]
pub struct ConnectFailure {
    pub code: &'static str,
    pub detail: String,
}

impl ConnectFailure {
    fn from_hsm(e: &HsmError) -> Self {
        let code = e.fault().map(KeyStoreFault::connection_error_code).unwrap_or("INTERNAL_ERROR");
        ConnectFailure { code, detail: e.to_string() }
    }

    fn cluster_not_found(detail: String) -> Self {
        ConnectFailure { code: "CLUSTER_NOT_FOUND", detail }
    }
}

/// A token this node is logged in to for one key store.
struct Connection {
    connection_id: String,
    /// The module's path: a reload of it ends this login.
    module: PathBuf,
    token: Arc<Token>,
    /// Key objects found by label (the KMS key ARN), so a request does not
    /// search the token.
    keys: RwLock<HashMap<String, TokenKey>>,
}

/// The key stores' tokens of this node.
pub struct KeyStoreRuntime {
    data_dir: PathBuf,
    modules: Mutex<HashMap<PathBuf, Arc<Pkcs11Module>>>,
    connections: RwLock<HashMap<String, Arc<Connection>>>,
    /// Key stores this node saw fail because their token went away: the
    /// probe tries them again (`super::probe`).
    failed: Mutex<std::collections::BTreeSet<String>>,
    /// Held while a request logs this node in (`ensure_logged_in`).
    login: tokio::sync::Mutex<()>,
    /// How external key stores' proxies are called.
    xks: std::sync::OnceLock<XksClient>,
}

impl KeyStoreRuntime {
    /// Clusters are looked up in `data_dir/hsm` (`trent hsm register`).
    pub fn new(data_dir: &Path) -> Self {
        KeyStoreRuntime {
            data_dir: data_dir.to_path_buf(),
            modules: Mutex::new(HashMap::new()),
            connections: RwLock::new(HashMap::new()),
            failed: Mutex::new(Default::default()),
            login: tokio::sync::Mutex::new(()),
            xks: std::sync::OnceLock::new(),
        }
    }

    /// Calls XKS proxies with `client` (`trent serve`'s --xks-* options).
    pub fn with_xks(self, client: XksClient) -> Self {
        // A fresh runtime's cell is empty, so this always takes.
        let _ = self.xks.set(client);
        self
    }

    /// The client of XKS proxies: as configured, else the defaults (the
    /// system's roots, AWS's time limit).
    pub fn xks(&self) -> Result<&XksClient, String> {
        if let Some(client) = self.xks.get() {
            return Ok(client);
        }
        let client = XksClient::new(None, super::xks_client::DEFAULT_TIMEOUT, HashMap::new())?;
        Ok(self.xks.get_or_init(|| client))
    }

    /// The registered cluster `cluster_id`, if this node has it.
    pub fn cluster(&self, cluster_id: &str) -> Result<Option<RegisteredCluster>, String> {
        clusters::load(&self.data_dir, cluster_id).map_err(|e| e.to_string())
    }

    /// Logs in to `store`'s token with `pin` (blocking) and keeps the
    /// session pool for `store.connection_id`.
    pub fn connect(&self, store: &CustomKeyStoreRecord, pin: AuthPin) -> Result<(), ConnectFailure> {
        let cluster = match self.cluster(&store.cluster_id) {
            Ok(Some(c)) => c,
            Ok(None) => return Err(ConnectFailure::cluster_not_found(format!("cluster {} is not registered on this node", store.cluster_id))),
            Err(e) => return Err(ConnectFailure::cluster_not_found(e)),
        };
        // SoftHSM2 (and modules like it) sees a token that vanished and came
        // back only after the module is initialized again: on a failure other
        // than the PIN's, reload the module once and try again.
        let token = match self.open_token(&cluster, pin.clone()) {
            Err(e) if !matches!(e.code, "INVALID_CREDENTIALS" | "USER_LOCKED_OUT") => {
                self.reload_module(&cluster.module).map_err(|r| ConnectFailure { code: "NETWORK_ERRORS", detail: format!("{}; reloading the module: {r}", e.detail) })?;
                self.open_token(&cluster, pin)?
            }
            other => other?,
        };
        let connection = Connection { connection_id: store.connection_id.clone(), module: cluster.module.clone(), token, keys: RwLock::new(HashMap::new()) };
        self.write_connections().insert(store.id.clone(), Arc::new(connection));
        tracing::info!(key_store = %store.id, cluster = %store.cluster_id, connection = %store.connection_id, "logged in to the key store's token");
        Ok(())
    }

    /// Logs out of `store_id`'s token (its sessions close when the last
    /// request using them ends).
    pub fn disconnect(&self, store_id: &str) {
        self.write_connections().remove(store_id);
    }

    /// True if this node is logged in to `store` under its current
    /// connection id.
    pub fn is_connected(&self, store: &CustomKeyStoreRecord) -> bool {
        self.connection(store).is_some()
    }

    /// Generates the AES-256 key of a new KMS key in `store`'s token,
    /// labelled `label` (the key's ARN). Blocking.
    pub fn generate_key(&self, store: &CustomKeyStoreRecord, label: &str) -> Result<(), HsmError> {
        let connection = self.connection(store).ok_or(HsmError::TokenNotPresent)?;
        let key = connection.token.generate_aes_key(label)?;
        write(&connection.keys).insert(label.to_owned(), key);
        Ok(())
    }

    /// Destroys the key labelled `label` in `store`'s token. Blocking.
    pub fn destroy_key(&self, store: &CustomKeyStoreRecord, label: &str) -> Result<(), HsmError> {
        let connection = self.connection(store).ok_or(HsmError::TokenNotPresent)?;
        let key = connection.token.find_aes_key(label)?;
        connection.token.destroy_key(&key)?;
        write(&connection.keys).remove(label);
        Ok(())
    }

    /// The handle of the key labelled `label` in `store`'s token, making
    /// blobs that name `header`. `TokenNotPresent` if this node is not
    /// logged in under the store's connection id.
    pub fn symmetric_key(&self, store: &CustomKeyStoreRecord, label: &str, header: Header) -> Result<Arc<dyn SymmetricKey>, HsmError> {
        let connection = self.connection(store).ok_or(HsmError::TokenNotPresent)?;
        let cached = read(&connection.keys).get(label).cloned();
        let key = match cached {
            Some(key) => key,
            None => {
                let key = connection.token.find_aes_key(label)?;
                write(&connection.keys).insert(label.to_owned(), key.clone());
                key
            }
        };
        Ok(Arc::new(Pkcs11SymmetricKey::new(connection.token.clone(), key, header)))
    }

    /// Random bytes from `store`'s token (GenerateRandom with a key store).
    pub fn random(&self, store: &CustomKeyStoreRecord, len: usize) -> Result<trent_crypto::SecretBytes, HsmError> {
        let connection = self.connection(store).ok_or(HsmError::TokenNotPresent)?;
        connection.token.generate_random(len)
    }

    /// Checks that `store`'s token is there and the login still holds.
    pub fn check(&self, store: &CustomKeyStoreRecord) -> Result<(), HsmError> {
        let connection = self.connection(store).ok_or(HsmError::TokenNotPresent)?;
        connection.token.check()
    }

    /// Serializes the logins requests make on first use.
    pub async fn login_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.login.lock().await
    }

    /// The key stores this node is logged in to.
    pub fn connected_ids(&self) -> Vec<String> {
        read(&self.connections).keys().cloned().collect()
    }

    /// Remembers that `store_id` failed here because its token went away.
    pub fn note_failure(&self, store_id: &str) {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).insert(store_id.to_owned());
    }

    pub fn forget_failure(&self, store_id: &str) {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).remove(store_id);
    }

    /// The key stores to try again.
    pub fn failed_ids(&self) -> Vec<String> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }

    fn connection(&self, store: &CustomKeyStoreRecord) -> Option<Arc<Connection>> {
        let connections = self.connections.read().unwrap_or_else(|p| p.into_inner());
        connections.get(&store.id).filter(|c| c.connection_id == store.connection_id).cloned()
    }

    fn write_connections(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Connection>>> {
        self.connections.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The cluster's token, checked to be the registered one (its serial).
    fn open_token(&self, cluster: &RegisteredCluster, pin: AuthPin) -> Result<Arc<Token>, ConnectFailure> {
        let module = self.module(&cluster.module).map_err(|e| ConnectFailure::cluster_not_found(e.to_string()))?;
        match module.token_serial(&cluster.token_label) {
            Ok(serial) if serial == cluster.token_serial => {}
            Ok(serial) => return Err(ConnectFailure::cluster_not_found(format!("token {} has serial {serial}, not the registered {}", cluster.token_label, cluster.token_serial))),
            Err(e) => return Err(ConnectFailure::from_hsm(&e)),
        }
        Token::open(&module, &cluster.token_label, pin, SESSIONS_PER_TOKEN).map_err(|e| ConnectFailure::from_hsm(&e))
    }

    /// Finalizes and initializes the module at `path` again, ending every
    /// login through it (the key stores on it log in again on next use).
    /// Refused while a request still holds one of its sessions.
    fn reload_module(&self, path: &Path) -> Result<(), HsmError> {
        self.write_connections().retain(|_, c| c.module != path);
        let mut modules = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        match modules.get_mut(path) {
            Some(module) => Pkcs11Module::reload(module),
            None => Ok(()),
        }
    }

    /// One loaded module per library path per process (PKCS#11 keeps its
    /// state per process).
    fn module(&self, path: &Path) -> Result<Arc<Pkcs11Module>, HsmError> {
        let mut modules = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = modules.get(path) {
            return Ok(m.clone());
        }
        let module = Pkcs11Module::open(path)?;
        modules.insert(path.to_path_buf(), module.clone());
        Ok(module)
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}
