//! Decrypt: the ciphertext names its key and material version, so KeyId is
//! optional; when given it must be that key (`IncorrectKeyException`).

use serde::Deserialize;
use serde_json::{json, Value};

use super::{dry_run_ignoring_ciphertext, ignores_ciphertext, required_ciphertext, dry_run_check, input, to_base64, validation_unsupported};
use crate::keys::symmetric::{self, EncryptionContext, SYMMETRIC_DEFAULT};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    ciphertext_blob: Option<String>,
    encryption_context: Option<EncryptionContext>,
    key_id: Option<String>,
    encryption_algorithm: Option<String>,
    recipient: Option<Value>,
    dry_run: Option<bool>,
    dry_run_modifiers: Option<Vec<String>>,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    if req.recipient.is_some() {
        return Err(validation_unsupported("Recipient (Nitro Enclaves attestation)".into()));
    }
    if ignores_ciphertext(req.dry_run, &req.dry_run_modifiers) {
        return dry_run_ignoring_ciphertext(ctx, req.key_id.as_deref(), req.ciphertext_blob.as_deref(), "kms:Decrypt").await;
    }
    let ciphertext = required_ciphertext(req.ciphertext_blob)?;
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
