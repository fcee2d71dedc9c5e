//! ReEncrypt: decrypts under the source key and encrypts under the
//! destination key inside Trent; the plaintext never leaves.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{dry_run_ignoring_ciphertext, ignores_ciphertext, required_ciphertext, dry_run_check, input, to_base64};
use crate::authz::{self, Aliases};
use crate::keys::symmetric::{self, EncryptionContext, SYMMETRIC_DEFAULT};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    ciphertext_blob: Option<String>,
    source_encryption_context: Option<EncryptionContext>,
    source_key_id: Option<String>,
    destination_key_id: String,
    destination_encryption_context: Option<EncryptionContext>,
    source_encryption_algorithm: Option<String>,
    destination_encryption_algorithm: Option<String>,
    dry_run: Option<bool>,
    dry_run_modifiers: Option<Vec<String>>,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    if ignores_ciphertext(req.dry_run, &req.dry_run_modifiers) {
        authz::key(ctx, &req.destination_key_id, "kms:ReEncryptTo", Aliases::Accepted).await?;
        return dry_run_ignoring_ciphertext(ctx, req.source_key_id.as_deref(), req.ciphertext_blob.as_deref(), "kms:ReEncryptFrom").await;
    }
    let ciphertext = required_ciphertext(req.ciphertext_blob)?;
    let source_context = req.source_encryption_context.unwrap_or_default();
    let opened = symmetric::decrypt(ctx, &ciphertext, &source_context, req.source_key_id.as_deref(), "kms:ReEncryptFrom").await?;
    symmetric::check_algorithm(&opened.key, req.source_encryption_algorithm.as_deref())?;
    let destination = authz::key(ctx, &req.destination_key_id, "kms:ReEncryptTo", Aliases::Accepted).await?;
    symmetric::check_algorithm(&destination, req.destination_encryption_algorithm.as_deref())?;
    let context = req.destination_encryption_context.unwrap_or_default();
    let new_ciphertext = symmetric::encrypt(ctx, &destination, &context, opened.plaintext.as_bytes()).await?;
    dry_run_check(req.dry_run)?;
    Ok(json!({
        "CiphertextBlob": to_base64(&new_ciphertext),
        "SourceKeyId": opened.key.arn,
        "KeyId": destination.arn,
        "SourceEncryptionAlgorithm": SYMMETRIC_DEFAULT,
        "DestinationEncryptionAlgorithm": SYMMETRIC_DEFAULT,
        "SourceKeyMaterialId": opened.material_id,
        "DestinationKeyMaterialId": destination.current_material_id,
    }))
}
