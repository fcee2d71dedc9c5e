//! External key stores (`EXTERNAL_KEY_STORE`) as an authorized account
//! reaches them: the record's XKS proxy, its credential sealed under the
//! root key, and the GetHealthStatus test AWS runs when a key store is
//! created, its proxy settings updated, or it is connected. Keys in them
//! are `xks_keys.rs` (docs/custom-key-stores.md).

use trent_model::SecretString;
use trent_store::{ConnectionState, CustomKeyStoreRecord, KeyStoreConflict, XksProxy};

use super::key_stores::{self, KeyStoreUpdate, MAX_PER_ACCOUNT};
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keystores::runtime::ConnectFailure;
use crate::keystores::xks_client::{Target, XksError};
use crate::protocol::catalogue::Error;
use crate::protocol::error::KmsError;
use crate::state::AppState;

pub const EXTERNAL: &str = "EXTERNAL_KEY_STORE";
pub const PUBLIC_ENDPOINT: &str = "PUBLIC_ENDPOINT";
const VPC_ENDPOINT_SERVICE: &str = "VPC_ENDPOINT_SERVICE";
pub(crate) const SECRET_AAD: &[u8] = b"trent/xks-proxy-secret/v1:";

/// The proxy authentication credential (both members are `sensitive`).
pub struct Credential {
    pub access_key_id: SecretString,
    pub secret: SecretString,
}

/// What CreateCustomKeyStore asks for an external key store.
pub struct NewXksStore {
    pub name: String,
    pub uri_endpoint: String,
    pub uri_path: String,
    pub connectivity: String,
    pub vpc_service_name: Option<String>,
    pub credential: Credential,
}

/// UpdateCustomKeyStore's external key store properties.
#[derive(Default)]
pub struct XksUpdate {
    pub uri_endpoint: Option<String>,
    pub uri_path: Option<String>,
    pub connectivity: Option<String>,
    pub vpc_service_name: Option<String>,
    pub credential: Option<Credential>,
}

impl XksUpdate {
    pub fn is_empty(&self) -> bool {
        self.uri_endpoint.is_none() && self.uri_path.is_none() && self.connectivity.is_none() && self.vpc_service_name.is_none() && self.credential.is_none()
    }
}

/// CreateCustomKeyStore of type EXTERNAL_KEY_STORE: checks the name, the
/// proxy URI's uniqueness and the quota, then tests the proxy (as AWS does
/// for a public endpoint) and records the key store, DISCONNECTED.
pub async fn create(ctx: &OpCtx<'_>, account: &Authorized<String>, new: NewXksStore) -> Result<String, KmsError> {
    check_connectivity(&new.connectivity, new.vpc_service_name.as_deref())?;
    let existing = ctx.store().list_custom_key_stores(account, ctx.region(), None, MAX_PER_ACCOUNT + 1).await?;
    if existing.iter().any(|s| s.name == new.name) {
        return Err(Error::KeyStoreNameInUse { name: new.name }.into());
    }
    if existing.iter().any(|s| s.xks.as_ref().is_some_and(|x| x.uri_endpoint == new.uri_endpoint && x.uri_path == new.uri_path)) {
        return Err(uri_in_use(&new.uri_endpoint, &new.uri_path));
    }
    if existing.len() >= MAX_PER_ACCOUNT {
        return Err(Error::KeyStoreLimit { max: MAX_PER_ACCOUNT.to_string() }.into());
    }
    let proxy = XksProxy {
        uri_endpoint: new.uri_endpoint,
        uri_path: new.uri_path,
        connectivity: new.connectivity,
        access_key_id: new.credential.access_key_id.expose().to_owned(),
    };
    test_proxy(ctx.state(), &proxy, ctx.region(), new.credential.secret.expose().as_bytes(), "CreateCustomKeyStore").await?;
    let id = key_stores::new_id()?;
    let record = CustomKeyStoreRecord {
        sealed_password: seal_secret(ctx.state(), &id, &new.credential.secret)?,
        // No cluster: its own id keeps the deployment-wide cluster rule away.
        cluster_id: id.clone(),
        id: id.clone(),
        account_id: account.as_str().to_owned(),
        region: ctx.region().to_owned(),
        name: new.name.clone(),
        store_type: EXTERNAL.into(),
        trust_anchor: String::new(),
        xks: Some(proxy.clone()),
        state: ConnectionState::Disconnected,
        error_code: None,
        connection_id: String::new(),
        created_at: ctx.now(),
        row_version: 0,
    };
    match ctx.store().insert_custom_key_store(&record).await? {
        None => Ok(id),
        Some(conflict) => Err(conflict_error(conflict, &record.name, &proxy)),
    }
}

/// UpdateCustomKeyStore of an external key store: the name, credential and
/// URI path while CONNECTED or DISCONNECTED; the endpoint and connectivity
/// only while DISCONNECTED (AWS's rules). New proxy settings are tested
/// before they are recorded.
pub async fn update(ctx: &OpCtx<'_>, store: CustomKeyStoreRecord, update: KeyStoreUpdate) -> Result<(), KmsError> {
    let not_for = |what: &str| KmsError::from(Error::NotForKeyStoreType { what: what.to_owned(), store_type: EXTERNAL.to_owned() });
    if update.password.is_some() {
        return Err(not_for("KeyStorePassword"));
    }
    if update.cluster_id.is_some() {
        return Err(not_for("CloudHsmClusterId"));
    }
    let x = update.xks;
    let Some(old) = store.xks.clone() else { return Err(KmsError::internal(format!("external key store {} has no proxy", store.id))) };
    if x.uri_endpoint.is_some() || x.connectivity.is_some() || x.vpc_service_name.is_some() {
        if store.state != ConnectionState::Disconnected {
            return Err(key_stores::invalid_state(&store, "its XksProxyUriEndpoint and XksProxyConnectivity can be changed only while it is DISCONNECTED"));
        }
    } else if !matches!(store.state, ConnectionState::Connected | ConnectionState::Disconnected) {
        return Err(key_stores::invalid_state(&store, "it can be changed only while it is CONNECTED or DISCONNECTED"));
    }
    let mut proxy = old.clone();
    if let Some(connectivity) = x.connectivity {
        proxy.connectivity = connectivity;
    }
    check_connectivity(&proxy.connectivity, x.vpc_service_name.as_deref())?;
    if let Some(endpoint) = x.uri_endpoint {
        proxy.uri_endpoint = endpoint;
    }
    if let Some(path) = x.uri_path {
        proxy.uri_path = path;
    }
    let mut next = store.clone();
    if let Some(credential) = &x.credential {
        proxy.access_key_id = credential.access_key_id.expose().to_owned();
        next.sealed_password = seal_secret(ctx.state(), &store.id, &credential.secret)?;
    }
    if proxy != old || x.credential.is_some() {
        let secret = match &x.credential {
            Some(c) => trent_crypto::SecretBytes::new(c.secret.expose().as_bytes().to_vec()),
            None => unseal_secret(ctx.state(), &store)?,
        };
        test_proxy(ctx.state(), &proxy, &store.region, secret.as_bytes(), "UpdateCustomKeyStore").await?;
    }
    if let Some(name) = update.new_name {
        next.name = name;
    }
    next.xks = Some(proxy.clone());
    match ctx.store().update_custom_key_store(&next).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(conflict)) => Err(conflict_error(conflict, &next.name, &proxy)),
        Err(e) => Err(key_stores::changed_meanwhile(e)),
    }
}

/// ConnectCustomKeyStore's test: GetHealthStatus with the stored
/// credential; a failure carries AWS's `ConnectionErrorCode`.
pub async fn connect(state: &AppState, store: &CustomKeyStoreRecord) -> Result<(), ConnectFailure> {
    let failure = |e: XksError| ConnectFailure { code: e.connection_error_code(), detail: e.to_string() };
    let internal = |detail: String| ConnectFailure { code: "INTERNAL_ERROR", detail };
    let proxy = store.xks.as_ref().ok_or_else(|| internal(format!("external key store {} has no proxy", store.id)))?;
    let secret = unseal_secret(state, store).map_err(|e| internal(format!("{e:?}")))?;
    let client = state.key_stores.xks().map_err(internal)?;
    client.health(&target(proxy, &store.region, secret.as_bytes()), "ConnectCustomKeyStore").await.map(|_| ()).map_err(failure)
}

/// The proxy must answer GetHealthStatus before KMS records it: each
/// failure is AWS's exception for it.
async fn test_proxy(state: &AppState, proxy: &XksProxy, region: &str, secret: &[u8], operation: &str) -> Result<(), KmsError> {
    let client = state.key_stores.xks().map_err(KmsError::internal)?;
    match client.health(&target(proxy, region, secret), operation).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(endpoint = %proxy.uri_endpoint, path = %proxy.uri_path, error = %e, "the XKS proxy failed its test");
            Err(test_error(e, proxy))
        }
    }
}

fn test_error(e: XksError, proxy: &XksProxy) -> KmsError {
    let why = e.to_string();
    match e {
        // The spec's table: a proxy's DependencyTimeoutException and
        // ThrottlingException are XksProxyUriUnreachableException here.
        XksError::Tls(_) | XksError::NotReachable(_) | XksError::TimedOut(_) | XksError::Unavailable | XksError::DependencyTimeout | XksError::Throttled => Error::XksUnreachable { why }.into(),
        XksError::BadCredential => Error::XksIncorrectCredential.into(),
        XksError::AccessDenied => Error::XksInvalidConfiguration { why }.into(),
        XksError::InvalidUriPath => Error::XksInvalidConfiguration { why: format!("the proxy does not serve the XksProxyUriPath {} (HTTP 404)", proxy.uri_path) }.into(),
        XksError::InvalidResponse(_) | XksError::Refused { .. } => Error::XksInvalidResponse { why }.into(),
        XksError::Internal(detail) => KmsError::internal(detail),
    }
}

pub(super) fn target<'a>(proxy: &'a XksProxy, region: &'a str, secret: &'a [u8]) -> Target<'a> {
    Target { uri_endpoint: &proxy.uri_endpoint, uri_path: &proxy.uri_path, access_key_id: &proxy.access_key_id, secret, region }
}

/// PUBLIC_ENDPOINT only: Trent runs in no Amazon VPC.
fn check_connectivity(connectivity: &str, vpc_service_name: Option<&str>) -> Result<(), KmsError> {
    let name = vpc_service_name.filter(|n| !n.is_empty());
    match (connectivity, name) {
        (PUBLIC_ENDPOINT, None) => Ok(()),
        (VPC_ENDPOINT_SERVICE, Some(name)) => Err(Error::XksVpcServiceNotFound { name: name.to_owned() }.into()),
        _ => Err(Error::XksVpcServiceNameRequired.into()),
    }
}

fn conflict_error(conflict: KeyStoreConflict, name: &str, proxy: &XksProxy) -> KmsError {
    match conflict {
        KeyStoreConflict::NameInUse => Error::KeyStoreNameInUse { name: name.to_owned() }.into(),
        KeyStoreConflict::XksUriInUse => uri_in_use(&proxy.uri_endpoint, &proxy.uri_path),
        KeyStoreConflict::ClusterInUse => KmsError::internal("an external key store's own id conflicted as a cluster"),
    }
}

fn uri_in_use(endpoint: &str, path: &str) -> KmsError {
    Error::XksUriInUse { endpoint: endpoint.to_owned(), path: path.to_owned() }.into()
}

fn seal_secret(state: &AppState, id: &str, secret: &SecretString) -> Result<Vec<u8>, KmsError> {
    Ok(state.root_key.load().seal(secret.expose().as_bytes(), &[SECRET_AAD, id.as_bytes()].concat())?)
}

pub(super) fn unseal_secret(state: &AppState, store: &CustomKeyStoreRecord) -> Result<trent_crypto::SecretBytes, KmsError> {
    Ok(state.root_key.load().unseal(&store.sealed_password, &[SECRET_AAD, store.id.as_bytes()].concat())?)
}
