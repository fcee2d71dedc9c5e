//! CreateCustomKeyStore: a CloudHSM key store on a registered PKCS#11
//! token (its "cluster"), DISCONNECTED until ConnectCustomKeyStore.

use serde_json::{json, Value};
use trent_model::input::CreateCustomKeyStoreRequest;

use super::validation_unsupported;
use crate::authz::Authorized;
use crate::keys::key_stores::{self, NewKeyStore};
use crate::keys::OpCtx;
use crate::protocol::catalogue::Error;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: CreateCustomKeyStoreRequest, account: Authorized<String>) -> Result<Value, KmsError> {
    let store_type = req.custom_key_store_type.as_deref().unwrap_or(key_stores::CLOUDHSM);
    if store_type != key_stores::CLOUDHSM {
        return Err(validation_unsupported(format!("CustomKeyStoreType {store_type}")));
    }
    let required = |what: &str| KmsError::from(Error::CloudHsmParameterRequired { what: what.to_owned() });
    let new = NewKeyStore {
        name: req.custom_key_store_name,
        cluster_id: req.cloud_hsm_cluster_id.ok_or_else(|| required("CloudHsmClusterId"))?,
        trust_anchor: req.trust_anchor_certificate.ok_or_else(|| required("TrustAnchorCertificate"))?,
        password: req.key_store_password.ok_or_else(|| required("KeyStorePassword"))?,
    };
    let id = key_stores::create(ctx, &account, new).await?;
    Ok(json!({ "CustomKeyStoreId": id }))
}
