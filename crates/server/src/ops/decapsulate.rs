//! Decapsulate: recovers an ML-KEM shared secret with the private key. A
//! ciphertext of the wrong length is `InvalidCiphertextException`; one of
//! the right length that was changed yields an unrelated secret (ML-KEM's
//! implicit rejection), as everywhere.

use serde_json::{json, Value};
use trent_model::input::DecapsulateRequest;

use super::encapsulate::kem_key;
use super::{dry_run_check, to_base64};
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keys::asymmetric;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub async fn handle(ctx: &OpCtx<'_>, req: DecapsulateRequest, key: Authorized<trent_store::KeyRecord>) -> Result<Value, KmsError> {
    // SharedSecretCiphertextBlob is required by the model, which checked it is there.
    let key = kem_key(key, &req.encapsulation_algorithm, "Decapsulate")?;
    let private = asymmetric::private_key(ctx, &key).await?;
    dry_run_check(req.dry_run)?;
    let secret = private.decapsulate(req.shared_secret_ciphertext_blob.as_bytes()).map_err(|e| match e {
        trent_crypto::CryptoError::Decrypt => Error::InvalidCiphertext.into(),
        other => KmsError::from(other),
    })?;
    Ok(json!({ "KeyId": key.arn, "SharedSecret": to_base64(secret.as_bytes()), "EncapsulationAlgorithm": req.encapsulation_algorithm }))
}
