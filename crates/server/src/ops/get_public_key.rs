//! GetPublicKey: the public key of an asymmetric key as DER
//! SubjectPublicKeyInfo, with the metadata a user needs to use it outside
//! Trent (spec, usage, algorithms). Symmetric and HMAC keys have none:
//! `UnsupportedOperationException`, as in AWS.

use serde_json::{json, Map, Value};
use trent_model::input::GetPublicKeyRequest;

use super::to_base64;
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::OpCtx;
use crate::keys::{asymmetric, metadata};
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub async fn handle(ctx: &OpCtx<'_>, _req: GetPublicKeyRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    if !asymmetric::spec_of(&key)?.is_asymmetric() {
        return Err(Error::NoPublicKey { arn: key.arn.clone(), spec: key.key_spec.clone() }.into());
    }
    let private = asymmetric::private_key(ctx, &key).await?;
    let public = private.public_key_der().ok_or_else(|| KmsError::internal(format!("{} has no public key", key.arn)))?;
    let mut out = Map::new();
    out.insert("KeyId".into(), json!(key.arn));
    out.insert("PublicKey".into(), json!(to_base64(public)));
    if let Some(spec) = metadata::customer_master_key_spec(&key.key_spec) {
        out.insert("CustomerMasterKeySpec".into(), json!(spec));
    }
    out.insert("KeySpec".into(), json!(key.key_spec));
    out.insert("KeyUsage".into(), json!(key.key_usage));
    for (field, algorithms) in metadata::algorithm_fields(&key) {
        out.insert(field.into(), json!(algorithms));
    }
    Ok(Value::Object(out))
}
