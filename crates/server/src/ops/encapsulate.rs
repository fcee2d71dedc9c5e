//! Encapsulate: ML-KEM encapsulation with the public key of an
//! ENCAPSULATE_DECAPSULATE key: a fresh shared secret and its ciphertext.

use serde_json::{json, Value};
use trent_model::input::EncapsulateRequest;

use super::{dry_run_check, to_base64};
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keys::asymmetric;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

/// The ML-KEM key a request names, checked for usage and algorithm.
pub(super) fn kem_key(key: Authorized<trent_store::KeyRecord>, algorithm: &str, operation: &str) -> Result<Authorized<trent_store::KeyRecord>, KmsError> {
    let (spec, usage) = asymmetric::require_usage(&key, trent_crypto::keytypes::KeyUsage::EncapsulateDecapsulate, operation)?;
    if !spec.encapsulation_algorithms(usage).contains(&algorithm) {
        return Err(Error::AlgorithmIncompatible { algorithm: algorithm.to_owned(), spec: spec.to_string() }.into());
    }
    Ok(key)
}

pub async fn handle(ctx: &OpCtx<'_>, req: EncapsulateRequest, key: Authorized<trent_store::KeyRecord>) -> Result<Value, KmsError> {
    let key = kem_key(key, &req.encapsulation_algorithm, "Encapsulate")?;
    let private = asymmetric::private_key(ctx, &key).await?;
    dry_run_check(req.dry_run)?;
    let (ciphertext, secret) = private.encapsulate()?;
    Ok(json!({
        "KeyId": key.arn,
        "SharedSecret": to_base64(secret.as_bytes()),
        "SharedSecretCiphertextBlob": to_base64(&ciphertext),
        "EncapsulationAlgorithm": req.encapsulation_algorithm,
    }))
}
