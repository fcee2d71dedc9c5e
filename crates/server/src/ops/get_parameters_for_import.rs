//! GetParametersForImport: a fresh wrapping key's public half (RSA, or SM2
//! for SM2PKE) and an import token (valid 24 hours) for one EXTERNAL key.

use serde_json::{json, Value};
use trent_model::input::GetParametersForImportRequest;
use trent_crypto::import::{WrappingAlgorithm, WrappingKey, WrappingKeySpec};

use super::to_base64;
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::clock::epoch_seconds;
use crate::keys::OpCtx;
use crate::keys::import::{check_external, seal_token};
use crate::keys::state;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub async fn handle(ctx: &OpCtx<'_>, req: GetParametersForImportRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    check_external(&key)?;
    state::not_pending_deletion(&key)?;
    let algorithm = WrappingAlgorithm::from_name(&req.wrapping_algorithm).ok_or_else(|| {
        let why = if req.wrapping_algorithm == "RSAES_PKCS1_V1_5" { "is no longer supported (as in AWS KMS since October 2023)" } else { "is not supported by Trent" };
        KmsError::from(Error::WrappingAlgorithmUnsupported { algorithm: req.wrapping_algorithm.clone(), why: why.to_owned() })
    })?;
    let spec = WrappingKeySpec::from_name(&req.wrapping_key_spec)
        .ok_or_else(|| KmsError::from(Error::WrappingKeySpecUnsupported { spec: req.wrapping_key_spec.clone() }))?;
    if !algorithm.fits(spec) {
        return Err(Error::WrappingAlgorithmAndSpec { algorithm: req.wrapping_algorithm.clone(), spec: req.wrapping_key_spec.clone() }.into());
    }
    // RSA key generation takes up to seconds: off the async threads.
    let wrapping_key = tokio::task::spawn_blocking(move || WrappingKey::generate(spec))
        .await
        .map_err(|e| KmsError::internal(format!("wrapping key generation task: {e}")))??;
    let (token, public_key, expires_at) = seal_token(ctx, &key, algorithm, wrapping_key)?;
    Ok(json!({
        "KeyId": key.arn,
        "ImportToken": to_base64(&token),
        "PublicKey": to_base64(&public_key),
        "ParametersValidTo": epoch_seconds(expires_at),
    }))
}
