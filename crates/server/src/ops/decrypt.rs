//! Decrypt: a symmetric ciphertext names its key and material version, so
//! KeyId is optional; when given it must be that key (`IncorrectKeyException`).
//! An RSA-OAEP ciphertext names nothing: KeyId and EncryptionAlgorithm say
//! which asymmetric key and algorithm decrypt it.

use serde_json::{json, Value};
use trent_model::input::DecryptRequest;

use super::{dry_run_ignoring_ciphertext, ignores_ciphertext, required_ciphertext, dry_run_check, to_base64, validation_unsupported};
use crate::authz::{self, Aliases};
use crate::keys::asymmetric;
use crate::keys::symmetric::{self, SYMMETRIC_DEFAULT};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: DecryptRequest) -> Result<Value, KmsError> {
    if req.recipient.is_some() {
        return Err(validation_unsupported("Recipient (Nitro Enclaves attestation)".into()));
    }
    if ignores_ciphertext(req.dry_run, &req.dry_run_modifiers) {
        return dry_run_ignoring_ciphertext(ctx, req.key_id.as_deref(), req.ciphertext_blob.as_ref(), "kms:Decrypt").await;
    }
    let ciphertext = required_ciphertext(req.ciphertext_blob)?;
    // An asymmetric ciphertext names no key: the request's KeyId does.
    if let Some(reference) = req.key_id.as_deref() {
        let key = authz::key(ctx, reference, "kms:Decrypt", Aliases::Accepted).await?;
        if !asymmetric::is_symmetric(&key) {
            let (plaintext, algorithm) =
                asymmetric::decrypt(ctx, &key, req.encryption_algorithm.as_deref(), req.encryption_context.as_ref(), &ciphertext, "Decrypt").await?;
            dry_run_check(req.dry_run)?;
            return Ok(json!({
                "KeyId": key.arn,
                "Plaintext": to_base64(plaintext.as_bytes()),
                "EncryptionAlgorithm": algorithm.as_str(),
                // KeyMaterialId is for symmetric encryption keys only (model).
            }));
        }
    }
    let context = req.encryption_context.unwrap_or_default();
    let opened = symmetric::decrypt(ctx, &ciphertext, &context, req.key_id.as_deref(), "kms:Decrypt").await?;
    symmetric::check_algorithm(&opened.key, req.encryption_algorithm.as_deref())?;
    dry_run_check(req.dry_run)?;
    Ok(json!({
        "KeyId": opened.key.arn,
        "Plaintext": to_base64(opened.plaintext.as_bytes()),
        "EncryptionAlgorithm": SYMMETRIC_DEFAULT,
        "KeyMaterialId": opened.material_id,
    }))
}
