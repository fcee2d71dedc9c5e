//! Decrypt: a symmetric ciphertext names its key and material version, so
//! KeyId is optional; when given it must be that key (`IncorrectKeyException`).
//! An RSA-OAEP ciphertext names nothing: KeyId and EncryptionAlgorithm say
//! which asymmetric key and algorithm decrypt it.

use serde_json::{json, Value};
use trent_model::input::DecryptRequest;

use trent_store::KeyRecord;

use super::{dry_run_check, required_ciphertext, to_base64, validation_unsupported};
use crate::authz::{self, Authorized};
use crate::keys::OpCtx;
use crate::keys::asymmetric;
use crate::keys::symmetric::{self, SYMMETRIC_DEFAULT};
use crate::protocol::error::KmsError;

/// `key`: the key authorization found: the one the ciphertext names (and
/// KeyId, if given, is), or for an asymmetric ciphertext the one KeyId names.
pub async fn handle(ctx: &OpCtx<'_>, req: DecryptRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    if req.recipient.is_some() {
        return Err(validation_unsupported("Recipient (Nitro Enclaves attestation)".into()));
    }
    // With IGNORE_CIPHERTEXT a DryRun checks only the permission, which holds.
    if authz::ignores_ciphertext(req.dry_run, req.dry_run_modifiers.as_deref()) {
        return Err(KmsError::dry_run());
    }
    let ciphertext = required_ciphertext(req.ciphertext_blob)?;
    if !asymmetric::is_symmetric(&key) {
        let (plaintext, algorithm) = asymmetric::decrypt(ctx, &key, req.encryption_algorithm.as_deref(), req.encryption_context.as_ref(), &ciphertext, "Decrypt").await?;
        dry_run_check(req.dry_run)?;
        return Ok(json!({
            "KeyId": key.arn,
            "Plaintext": to_base64(plaintext.as_bytes()),
            "EncryptionAlgorithm": algorithm.as_str(),
            // KeyMaterialId is for symmetric encryption keys only (model).
        }));
    }
    let context = req.encryption_context.unwrap_or_default();
    let opened = symmetric::decrypt(ctx, key, "Decrypt", &ciphertext, &context).await?;
    symmetric::check_algorithm(&opened.key, req.encryption_algorithm.as_deref())?;
    dry_run_check(req.dry_run)?;
    Ok(json!({
        "KeyId": opened.key.arn,
        "Plaintext": to_base64(opened.plaintext.as_bytes()),
        "EncryptionAlgorithm": SYMMETRIC_DEFAULT,
        "KeyMaterialId": opened.material_id,
    }))
}
