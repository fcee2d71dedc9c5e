//! CreateCustomKeyStore: a CloudHSM key store on a registered PKCS#11
//! token (its "cluster"), or an external key store on an XKS proxy (tested
//! with GetHealthStatus first); DISCONNECTED until ConnectCustomKeyStore.

use serde_json::{json, Value};
use trent_model::input::CreateCustomKeyStoreRequest;

use crate::authz::Authorized;
use crate::keys::key_stores::{self, NewKeyStore};
use crate::keys::xks_stores::{self, Credential, NewXksStore};
use crate::keys::OpCtx;
use crate::protocol::catalogue::Error;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: CreateCustomKeyStoreRequest, account: Authorized<String>) -> Result<Value, KmsError> {
    let store_type = req.custom_key_store_type.as_deref().unwrap_or(key_stores::CLOUDHSM);
    let id = if store_type == xks_stores::EXTERNAL { create_external(ctx, req, &account).await? } else { create_cloudhsm(ctx, req, &account).await? };
    Ok(json!({ "CustomKeyStoreId": id }))
}

async fn create_cloudhsm(ctx: &OpCtx<'_>, req: CreateCustomKeyStoreRequest, account: &Authorized<String>) -> Result<String, KmsError> {
    let xks = req.xks_proxy_uri_endpoint.is_some()
        || req.xks_proxy_uri_path.is_some()
        || req.xks_proxy_vpc_endpoint_service_name.is_some()
        || req.xks_proxy_vpc_endpoint_service_owner.is_some()
        || req.xks_proxy_authentication_credential.is_some()
        || req.xks_proxy_connectivity.is_some();
    if xks {
        return Err(Error::NotForKeyStoreType { what: "An XksProxy property".into(), store_type: key_stores::CLOUDHSM.into() }.into());
    }
    let required = |what: &str| KmsError::from(Error::CloudHsmParameterRequired { what: what.to_owned() });
    let new = NewKeyStore {
        name: req.custom_key_store_name,
        cluster_id: req.cloud_hsm_cluster_id.ok_or_else(|| required("CloudHsmClusterId"))?,
        trust_anchor: req.trust_anchor_certificate.ok_or_else(|| required("TrustAnchorCertificate"))?,
        password: req.key_store_password.ok_or_else(|| required("KeyStorePassword"))?,
    };
    key_stores::create(ctx, account, new).await
}

async fn create_external(ctx: &OpCtx<'_>, req: CreateCustomKeyStoreRequest, account: &Authorized<String>) -> Result<String, KmsError> {
    let not_for = |what: &str| KmsError::from(Error::NotForKeyStoreType { what: what.to_owned(), store_type: xks_stores::EXTERNAL.to_owned() });
    if req.cloud_hsm_cluster_id.is_some() {
        return Err(not_for("CloudHsmClusterId"));
    }
    if req.trust_anchor_certificate.is_some() {
        return Err(not_for("TrustAnchorCertificate"));
    }
    if req.key_store_password.is_some() {
        return Err(not_for("KeyStorePassword"));
    }
    let required = |what: &str| KmsError::from(Error::XksParameterRequired { what: what.to_owned() });
    let credential = req.xks_proxy_authentication_credential.ok_or_else(|| required("XksProxyAuthenticationCredential"))?;
    let new = NewXksStore {
        name: req.custom_key_store_name,
        uri_endpoint: req.xks_proxy_uri_endpoint.ok_or_else(|| required("XksProxyUriEndpoint"))?,
        uri_path: req.xks_proxy_uri_path.ok_or_else(|| required("XksProxyUriPath"))?,
        connectivity: req.xks_proxy_connectivity.ok_or_else(|| required("XksProxyConnectivity"))?,
        vpc_service_name: req.xks_proxy_vpc_endpoint_service_name,
        credential: Credential { access_key_id: credential.access_key_id, secret: credential.raw_secret_access_key },
    };
    xks_stores::create(ctx, account, new).await
}
