//! Encapsulate: ML-KEM encapsulation with the public key of an
//! ENCAPSULATE_DECAPSULATE key: a fresh shared secret and its ciphertext.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{dry_run_check, input, to_base64};
use crate::authz::{self, Aliases, Authorized};
use crate::keys::asymmetric;
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Input {
    pub key_id: String,
    pub encapsulation_algorithm: String,
    pub shared_secret_ciphertext_blob: Option<String>,
    pub dry_run: Option<bool>,
}

/// The ML-KEM key a request names, checked for usage and algorithm.
pub(super) async fn kem_key(ctx: &Ctx, req: &Input, action: &'static str, operation: &str) -> Result<Authorized<trent_store::KeyRecord>, KmsError> {
    let key = authz::key(ctx, &req.key_id, action, Aliases::Accepted).await?;
    let (spec, usage) = asymmetric::require_usage(&key, trent_crypto::keytypes::KeyUsage::EncapsulateDecapsulate, operation)?;
    if !spec.encapsulation_algorithms(usage).contains(&req.encapsulation_algorithm.as_str()) {
        return Err(KmsError::new(ErrorCode::InvalidKeyUsage, format!("The encapsulation algorithm {} is not supported by {}; use ML_KEM.", req.encapsulation_algorithm, key.arn)));
    }
    Ok(key)
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let key = kem_key(ctx, &req, "kms:Encapsulate", "Encapsulate").await?;
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
