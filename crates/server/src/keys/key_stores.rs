//! CloudHSM key stores as an authorized account reaches them: the store's
//! records (shared by every node) and this node's logins to their tokens
//! (`crate::keystores::runtime`). The six custom key store operations and
//! the keys inside a key store go through here; what differs for external
//! key stores is in [`super::xks_stores`].

use std::sync::Arc;

use serde_json::{json, Map, Value};
use trent_crypto::{Header, StoredMaterial, SymmetricKey};
use trent_hsm::{AuthPin, HsmError};
use trent_model::SecretString;
use trent_store::{ConnectionState, CustomKeyStoreRecord, KeyRecord, KeyStoreConflict, StoreError};

use crate::authz::Authorized;
use crate::keys::xks_stores::{self, XksUpdate};
use crate::keys::OpCtx;
use crate::keystores::runtime::{ConnectFailure, KeyStoreRuntime};
use crate::protocol::catalogue::Error;
use crate::protocol::error::KmsError;
use crate::state::AppState;

/// AWS's quota of custom key stores per account and Region.
pub const MAX_PER_ACCOUNT: usize = 10;
pub const CLOUDHSM: &str = "AWS_CLOUDHSM";
/// How a key's material row names its token object (the label is the ARN).
const MATERIAL_PREFIX: &[u8] = b"pkcs11-label:";
const PASSWORD_AAD: &[u8] = b"trent/key-store-password/v1:";

/// What CreateCustomKeyStore asks for.
pub struct NewKeyStore {
    pub name: String,
    pub cluster_id: String,
    pub trust_anchor: String,
    pub password: SecretString,
}

/// CreateCustomKeyStore: checks the cluster (registered on this node, the
/// trust anchor its own, not used or related to one in use) and records the
/// key store, DISCONNECTED. Returns its id.
pub async fn create(ctx: &OpCtx<'_>, account: &Authorized<String>, new: NewKeyStore) -> Result<String, KmsError> {
    let state = ctx.state();
    let cluster = registered_cluster(state, &new.cluster_id)?;
    if normalize_pem(&new.trust_anchor) != normalize_pem(&cluster.trust_anchor_pem) {
        return Err(Error::IncorrectTrustAnchor { cluster: new.cluster_id.clone() }.into());
    }
    let existing = ctx.store().list_custom_key_stores(account, ctx.region(), None, MAX_PER_ACCOUNT + 1).await?;
    if existing.iter().any(|s| s.name == new.name) {
        return Err(Error::KeyStoreNameInUse { name: new.name }.into());
    }
    if existing.iter().any(|s| s.xks.is_none() && related(state, &s.cluster_id, &cluster.token_serial)) {
        return Err(Error::ClusterInUse { cluster: new.cluster_id }.into());
    }
    if existing.len() >= MAX_PER_ACCOUNT {
        return Err(Error::KeyStoreLimit { max: MAX_PER_ACCOUNT.to_string() }.into());
    }
    let id = new_id()?;
    let record = CustomKeyStoreRecord {
        sealed_password: seal_password(state, &id, &new.password)?,
        id: id.clone(),
        account_id: account.as_str().to_owned(),
        region: ctx.region().to_owned(),
        name: new.name.clone(),
        store_type: CLOUDHSM.into(),
        cluster_id: new.cluster_id.clone(),
        trust_anchor: new.trust_anchor,
        state: ConnectionState::Disconnected,
        error_code: None,
        connection_id: String::new(),
        created_at: ctx.now(),
        row_version: 0,
        xks: None,
    };
    match ctx.store().insert_custom_key_store(&record).await? {
        None => Ok(id),
        Some(KeyStoreConflict::NameInUse) => Err(Error::KeyStoreNameInUse { name: new.name }.into()),
        // A CloudHSM key store has no proxy URI to conflict on.
        Some(KeyStoreConflict::ClusterInUse | KeyStoreConflict::XksUriInUse) => Err(Error::ClusterInUse { cluster: new.cluster_id }.into()),
    }
}

/// The key store `id` of the account in this Region.
pub async fn find(ctx: &OpCtx<'_>, account: &Authorized<String>, id: &str) -> Result<CustomKeyStoreRecord, KmsError> {
    match ctx.store().get_custom_key_store(id).await? {
        Some(s) if s.account_id == account.as_str() && s.region == ctx.region() => Ok(s),
        _ => Err(Error::CustomKeyStoreIdNotFound { id: id.to_owned() }.into()),
    }
}

/// The key store named `name` of the account in this Region.
pub async fn find_by_name(ctx: &OpCtx<'_>, account: &Authorized<String>, name: &str) -> Result<CustomKeyStoreRecord, KmsError> {
    ctx.store()
        .get_custom_key_store_by_name(account, ctx.region(), name)
        .await?
        .ok_or_else(|| Error::KeyStoreNameNotFound { name: name.to_owned() }.into())
}

/// A page of the account's key stores in this Region, by id.
pub async fn list(ctx: &OpCtx<'_>, account: &Authorized<String>, after: Option<&str>, limit: usize) -> Result<Vec<CustomKeyStoreRecord>, KmsError> {
    Ok(ctx.store().list_custom_key_stores(account, ctx.region(), after, limit).await?)
}

/// ConnectCustomKeyStore: logs in to the token from this node (other nodes
/// log in on first use) and records CONNECTED, or FAILED with AWS's
/// `ConnectionErrorCode`. The login is quick on a PKCS#11 token, so the
/// request waits for it (AWS answers before; only the state tells).
pub async fn connect(ctx: &OpCtx<'_>, account: &Authorized<String>, id: &str) -> Result<(), KmsError> {
    let store = find(ctx, account, id).await?;
    match store.state {
        ConnectionState::Connected | ConnectionState::Connecting => return Ok(()),
        ConnectionState::Failed | ConnectionState::Disconnecting => {
            return Err(invalid_state(&store, "ConnectCustomKeyStore needs a key store that is not FAILED or DISCONNECTING; disconnect it first"))
        }
        ConnectionState::Disconnected => {}
    }
    let mut next = store.clone();
    next.connection_id = uuid::Uuid::new_v4().to_string();
    let connected = match &store.xks {
        Some(_) => xks_stores::connect(ctx.state(), &next).await,
        None => login(ctx.state(), &next).await,
    };
    match connected {
        Ok(()) => {
            next.state = ConnectionState::Connected;
            next.error_code = None;
        }
        Err(failure) => {
            tracing::warn!(key_store = %id, code = failure.code, detail = %failure.detail, "custom key store failed to connect");
            next.state = ConnectionState::Failed;
            next.error_code = Some(failure.code.to_owned());
        }
    }
    // Unrecorded, this login must not serve requests.
    save(ctx.store(), &next).await.inspect_err(|_| ctx.state().key_stores.disconnect(id))
}

/// DisconnectCustomKeyStore: records DISCONNECTED; every node stops using
/// the token at its next request (it sees the state).
pub async fn disconnect(ctx: &OpCtx<'_>, account: &Authorized<String>, id: &str) -> Result<(), KmsError> {
    let store = find(ctx, account, id).await?;
    if matches!(store.state, ConnectionState::Disconnected | ConnectionState::Disconnecting) {
        return Err(invalid_state(&store, "it is already disconnected"));
    }
    let mut next = store;
    next.state = ConnectionState::Disconnected;
    next.error_code = None;
    save(ctx.store(), &next).await?;
    ctx.state().key_stores.disconnect(id);
    Ok(())
}

/// What UpdateCustomKeyStore changes.
pub struct KeyStoreUpdate {
    pub new_name: Option<String>,
    pub password: Option<SecretString>,
    pub cluster_id: Option<String>,
    pub xks: XksUpdate,
}

/// UpdateCustomKeyStore: the name in any state but FAILED's transitions;
/// the password and cluster only while DISCONNECTED, and only a related
/// cluster (the same token: same serial, e.g. restored from a backup).
pub async fn update(ctx: &OpCtx<'_>, account: &Authorized<String>, id: &str, update: KeyStoreUpdate) -> Result<(), KmsError> {
    let store = find(ctx, account, id).await?;
    if store.xks.is_some() {
        return xks_stores::update(ctx, store, update).await;
    }
    if !update.xks.is_empty() {
        return Err(Error::NotForKeyStoreType { what: "An XksProxy property".into(), store_type: CLOUDHSM.into() }.into());
    }
    let mut next = store.clone();
    if update.password.is_some() || update.cluster_id.is_some() {
        if store.state != ConnectionState::Disconnected {
            return Err(invalid_state(&store, "its password and cluster can be changed only while it is DISCONNECTED"));
        }
    } else if !matches!(store.state, ConnectionState::Connected | ConnectionState::Disconnected) {
        return Err(invalid_state(&store, "its name can be changed only while it is CONNECTED or DISCONNECTED"));
    }
    if let Some(cluster_id) = update.cluster_id.filter(|c| *c != store.cluster_id) {
        let cluster = registered_cluster(ctx.state(), &cluster_id)?;
        if !related(ctx.state(), &store.cluster_id, &cluster.token_serial) {
            return Err(Error::ClusterNotRelated { cluster: cluster_id, current: store.cluster_id }.into());
        }
        next.cluster_id = cluster_id;
    }
    if let Some(password) = &update.password {
        next.sealed_password = seal_password(ctx.state(), id, password)?;
    }
    if let Some(name) = update.new_name {
        next.name = name;
    }
    match ctx.store().update_custom_key_store(&next).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(KeyStoreConflict::NameInUse)) => Err(Error::KeyStoreNameInUse { name: next.name }.into()),
        Ok(Err(KeyStoreConflict::ClusterInUse | KeyStoreConflict::XksUriInUse)) => Err(Error::ClusterInUse { cluster: next.cluster_id }.into()),
        Err(e) => Err(changed_meanwhile(e)),
    }
}

/// DeleteCustomKeyStore: only DISCONNECTED and only with no key left (in
/// any state). The token and its objects are not touched.
pub async fn delete(ctx: &OpCtx<'_>, account: &Authorized<String>, id: &str) -> Result<(), KmsError> {
    let store = find(ctx, account, id).await?;
    if store.state != ConnectionState::Disconnected {
        return Err(invalid_state(&store, "only a DISCONNECTED key store can be deleted"));
    }
    match ctx.store().delete_custom_key_store(id, store.row_version).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::KeyStoreHasKeys { id: id.to_owned() }.into()),
        Err(e) => Err(changed_meanwhile(e)),
    }
}

/// One `CustomKeyStoresListEntry`.
pub fn list_entry(store: &CustomKeyStoreRecord) -> Value {
    let mut m = Map::new();
    m.insert("CustomKeyStoreId".into(), json!(store.id));
    m.insert("CustomKeyStoreName".into(), json!(store.name));
    m.insert("CustomKeyStoreType".into(), json!(store.store_type));
    match &store.xks {
        // Never the secret: it stays sealed in the store.
        Some(x) => {
            let config = json!({ "Connectivity": x.connectivity, "AccessKeyId": x.access_key_id, "UriEndpoint": x.uri_endpoint, "UriPath": x.uri_path });
            m.insert("XksProxyConfiguration".into(), config);
        }
        None => {
            m.insert("CloudHsmClusterId".into(), json!(store.cluster_id));
            m.insert("TrustAnchorCertificate".into(), json!(store.trust_anchor));
        }
    }
    m.insert("ConnectionState".into(), json!(store.state.as_str()));
    if let (ConnectionState::Failed, Some(code)) = (store.state, &store.error_code) {
        m.insert("ConnectionErrorCode".into(), json!(code));
    }
    m.insert("CreationDate".into(), json!(store.created_at as f64 / 1000.0));
    Value::Object(m)
}

// --- keys in a key store --------------------------------------------------

/// CreateKey in key store `id`: it must be CONNECTED. The key's material
/// is generated in the token, labelled `arn`; the returned material row
/// names it (there is nothing secret in it).
pub async fn generate_key(ctx: &OpCtx<'_>, account: &Authorized<String>, id: &str, arn: &str) -> Result<StoredMaterial, KmsError> {
    let store = find(ctx, account, id).await?;
    if store.xks.is_some() {
        return Err(Error::KeyStoreTypeMismatch { origin: CLOUDHSM.to_owned(), id: id.to_owned(), store_type: store.store_type.clone() }.into());
    }
    if store.state != ConnectionState::Connected {
        return Err(invalid_state(&store, "keys can be created only in a CONNECTED key store"));
    }
    let state = ctx.state();
    ensure_logged_in(state, &store).await?;
    let label = arn.to_owned();
    let generated = on_token(state, &store, move |runtime, s| runtime.generate_key(s, &label)).await.map_err(|e| KmsError::internal(format!("key generation task: {e}")))?;
    if let Err(e) = generated {
        note_fault(state, &store, &e).await;
        return Err(invalid_state(&store, "its token could not generate the key"));
    }
    let mut stored = MATERIAL_PREFIX.to_vec();
    stored.extend_from_slice(arn.as_bytes());
    Ok(StoredMaterial(stored))
}

/// Destroys the token object made for a key that was not saved after all
/// (best effort: a failure leaves an orphan object, logged).
pub async fn discard_key(ctx: &OpCtx<'_>, account: &Authorized<String>, id: &str, arn: &str) {
    let Ok(store) = find(ctx, account, id).await else { return };
    destroy_token_key(ctx.state(), &store, arn).await;
}

/// A key in a key store was destroyed after its waiting period: its token
/// object too, if the key store is connected (AWS: best effort; otherwise
/// the material stays in the cluster, an orphan to delete by hand).
pub async fn key_destroyed(state: &AppState, key: &KeyRecord) {
    let Some(id) = &key.custom_key_store_id else { return };
    if key.xks_key_id.is_some() {
        // AWS never touches the external key: it outlives the KMS key.
        return;
    }
    match state.store.get_custom_key_store(id).await {
        Ok(Some(store)) if store.state == ConnectionState::Connected && ensure_logged_in(state, &store).await.is_ok() => destroy_token_key(state, &store, &key.arn).await,
        _ => tracing::warn!(key = %key.arn, key_store = %id, "the key store is not connected: the key's material stays in its token (orphaned; delete it there)"),
    }
}

async fn destroy_token_key(state: &AppState, store: &CustomKeyStoreRecord, label: &str) {
    let l = label.to_owned();
    match on_token(state, store, move |runtime, s| runtime.destroy_key(s, &l)).await {
        Ok(Ok(())) => tracing::info!(key = %label, key_store = %store.id, "key material destroyed in the token"),
        Ok(Err(e)) => tracing::warn!(key = %label, key_store = %store.id, error = %e, "could not destroy the key's material in the token (orphaned; delete it there)"),
        Err(e) => tracing::warn!(key = %label, error = %e, "token key destruction task failed"),
    }
}

/// GenerateRandom in key store `id`: random bytes from its token.
pub async fn random(ctx: &OpCtx<'_>, account: &Authorized<String>, id: &str, len: usize) -> Result<trent_crypto::SecretBytes, KmsError> {
    let store = find(ctx, account, id).await?;
    if store.xks.is_some() {
        return Err(Error::XksNotForRandom { id: id.to_owned() }.into());
    }
    if store.state != ConnectionState::Connected {
        return Err(invalid_state(&store, "GenerateRandom needs a CONNECTED key store"));
    }
    let state = ctx.state();
    ensure_logged_in(state, &store).await?;
    match on_token(state, &store, move |runtime, s| runtime.random(s, len)).await.map_err(|e| KmsError::internal(format!("random task: {e}")))? {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            note_fault(state, &store, &e).await;
            Err(invalid_state(&store, "its token could not generate random bytes"))
        }
    }
}

/// The cluster id of a key's key store, for DescribeKey.
pub async fn cluster_of(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>) -> Result<Option<(String, ConnectionState)>, KmsError> {
    let Some(id) = &key.custom_key_store_id else { return Ok(None) };
    Ok(ctx.store().get_custom_key_store(id).await?.map(|s| (s.cluster_id, s.state)))
}

/// The handle of a key in a key store: its token object, used inside the
/// token. A key store that is not connected (or whose token failed) makes
/// the key unusable: KMSInvalidStateException.
pub(in crate::keys) async fn symmetric_key(state: &AppState, key: &KeyRecord, store_id: &str, stored: &StoredMaterial, header: Header) -> Result<Arc<dyn SymmetricKey>, KmsError> {
    let unusable = |why: &str| KmsError::from(Error::KeyStoreKeyUnusable { arn: key.arn.clone(), id: store_id.to_owned(), why: why.to_owned() });
    let store = state.store.get_custom_key_store(store_id).await?.ok_or_else(|| unusable("the key store is gone"))?;
    if store.state != ConnectionState::Connected {
        return Err(unusable(&format!("the key store is {}", store.state.as_str())));
    }
    ensure_logged_in(state, &store).await.map_err(|_| unusable("its token cannot be reached"))?;
    let label = stored.0.strip_prefix(MATERIAL_PREFIX).and_then(|l| std::str::from_utf8(l).ok()).ok_or_else(|| KmsError::internal(format!("{} has no token label", key.arn)))?;
    match state.key_stores.symmetric_key(&store, label, header) {
        Ok(handle) => Ok(handle),
        Err(e) => {
            note_fault(state, &store, &e).await;
            Err(unusable("its token cannot use the key"))
        }
    }
}

/// A fault of the token seen while using a key: the key store FAILED, for
/// every node, with the fault's `ConnectionErrorCode` (a missing key object
/// is that key's problem, not the store's).
pub async fn note_fault(state: &AppState, store: &CustomKeyStoreRecord, e: &HsmError) {
    if let Some(fault) = e.fault() {
        fail_on(state, store, fault, e).await;
    }
}

/// A fault reported through a key handle (a `CryptoError::KeyStore`).
pub(in crate::keys) async fn note_crypto_fault(state: &AppState, store_id: &str, fault: trent_crypto::KeyStoreFault) {
    if let Ok(Some(store)) = state.store.get_custom_key_store(store_id).await {
        fail_on(state, &store, fault, &fault).await;
    }
}

/// A missing key object is that key's problem, not the store's.
async fn fail_on(state: &AppState, store: &CustomKeyStoreRecord, fault: trent_crypto::KeyStoreFault, detail: &(dyn std::fmt::Display + Sync)) {
    if fault == trent_crypto::KeyStoreFault::KeyNotFound {
        return;
    }
    tracing::error!(key_store = %store.id, error = %detail, "custom key store token fault: the key store is FAILED");
    mark_failed(state, store, fault.connection_error_code()).await;
}

/// Records FAILED with `code` unless the key store changed meanwhile.
pub async fn mark_failed(state: &AppState, store: &CustomKeyStoreRecord, code: &str) {
    state.key_stores.disconnect(&store.id);
    if code == crate::keystores::probe::RETRIED_CODE {
        state.key_stores.note_failure(&store.id);
    }
    let mut next = store.clone();
    next.state = ConnectionState::Failed;
    next.error_code = Some(code.to_owned());
    if let Err(e) = state.store.update_custom_key_store(&next).await {
        tracing::warn!(key_store = %store.id, error = %e, "could not record the key store's failure (it changed meanwhile)");
    }
}

/// The probe's retry of a key store whose token went away: logs in again
/// and, if the key store is still FAILED as it was read, records it
/// CONNECTED under a new connection id.
pub async fn reconnect(state: &AppState, store: CustomKeyStoreRecord) {
    let mut next = store;
    next.connection_id = uuid::Uuid::new_v4().to_string();
    if login(state, &next).await.is_err() {
        return;
    }
    next.state = ConnectionState::Connected;
    next.error_code = None;
    match state.store.update_custom_key_store(&next).await {
        Ok(Ok(_)) => {
            state.key_stores.forget_failure(&next.id);
            tracing::info!(key_store = %next.id, "custom key store reconnected: its token is back");
        }
        _ => state.key_stores.disconnect(&next.id),
    }
}

/// Logs this node in to a CONNECTED key store's token if it is not yet
/// (under the store's current connection id); a failure marks it FAILED.
async fn ensure_logged_in(state: &AppState, store: &CustomKeyStoreRecord) -> Result<(), KmsError> {
    if state.key_stores.is_connected(store) {
        return Ok(());
    }
    // The first requests after a connect elsewhere (or a restart) arrive
    // together: one logs in, the others wait for it and use its login.
    let _one_at_a_time = state.key_stores.login_lock().await;
    if state.key_stores.is_connected(store) {
        return Ok(());
    }
    if let Err(failure) = login(state, store).await {
        tracing::error!(key_store = %store.id, code = failure.code, detail = %failure.detail, "cannot log in to a connected key store's token");
        mark_failed(state, store, failure.code).await;
        return Err(invalid_state(store, "its token cannot be reached from this node"));
    }
    Ok(())
}

/// Logs in to `store`'s token on the blocking pool.
pub(crate) async fn login(state: &AppState, store: &CustomKeyStoreRecord) -> Result<(), ConnectFailure> {
    let pin = unseal_password(state, store).map_err(|e| ConnectFailure { code: "INTERNAL_ERROR", detail: format!("{e:?}") })?;
    on_token(state, store, move |runtime, s| runtime.connect(s, pin))
        .await
        .unwrap_or_else(|e| Err(ConnectFailure { code: "INTERNAL_ERROR", detail: format!("login task: {e}") }))
}

/// Runs `work` with this node's token runtime and `store` on the blocking
/// pool (PKCS#11 calls block); Err if the task itself failed.
async fn on_token<T: Send + 'static>(
    state: &AppState,
    store: &CustomKeyStoreRecord,
    work: impl FnOnce(&KeyStoreRuntime, &CustomKeyStoreRecord) -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    let (runtime, store) = (state.key_stores.clone(), store.clone());
    tokio::task::spawn_blocking(move || work(&runtime, &store)).await
}

fn seal_password(state: &AppState, id: &str, password: &SecretString) -> Result<Vec<u8>, KmsError> {
    Ok(state.root_key.load().seal(password.expose().as_bytes(), &password_aad(id))?)
}

fn unseal_password(state: &AppState, store: &CustomKeyStoreRecord) -> Result<AuthPin, KmsError> {
    let pin = state.root_key.load().unseal(&store.sealed_password, &password_aad(&store.id))?;
    let text = std::str::from_utf8(pin.as_bytes()).map_err(|_| KmsError::internal("a key store password is not UTF-8"))?;
    Ok(AuthPin::from(text.to_owned()))
}

pub(crate) fn password_aad(id: &str) -> Vec<u8> {
    [PASSWORD_AAD, id.as_bytes()].concat()
}

fn registered_cluster(state: &AppState, cluster_id: &str) -> Result<crate::keystores::clusters::RegisteredCluster, KmsError> {
    match state.key_stores.cluster(cluster_id) {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(Error::ClusterNotFound { cluster: cluster_id.to_owned() }.into()),
        Err(e) => Err(KmsError::internal(format!("cluster registry: {e}"))),
    }
}

/// Clusters are related when they reach the same token (the same serial):
/// a token restored from a backup of another is the same cluster lineage.
fn related(state: &AppState, cluster_id: &str, serial: &str) -> bool {
    matches!(state.key_stores.cluster(cluster_id), Ok(Some(c)) if c.token_serial == serial)
}

async fn save(store: &dyn trent_store::Store, next: &CustomKeyStoreRecord) -> Result<(), KmsError> {
    match store.update_custom_key_store(next).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(KmsError::internal("a key store's name or cluster conflicted on a state change")),
        Err(e) => Err(changed_meanwhile(e)),
    }
}

/// Another request changed or deleted the key store between our read and
/// write: the caller may retry.
pub(super) fn changed_meanwhile(e: StoreError) -> KmsError {
    match e {
        StoreError::Conflict | StoreError::NotFound => KmsError::from(Error::KeyStoreChangedMeanwhile),
        e => e.into(),
    }
}

pub(super) fn invalid_state(store: &CustomKeyStoreRecord, why: &str) -> KmsError {
    Error::KeyStoreInvalidState { id: store.id.clone(), state: store.state.as_str().to_owned(), why: why.to_owned() }.into()
}

/// `cks-` and 17 hex digits, as AWS's custom key store ids.
pub(super) fn new_id() -> Result<String, KmsError> {
    let bytes = trent_crypto::random_bytes(9)?;
    Ok(format!("cks-{}", &hex::encode(bytes)[..17]))
}

/// PEM compared without line breaks or surrounding space.
fn normalize_pem(pem: &str) -> String {
    pem.split_whitespace().collect()
}
