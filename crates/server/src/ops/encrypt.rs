//! Encrypt: up to 4096 bytes under a symmetric key, the encryption context
//! bound as authenticated data; or, with an asymmetric ENCRYPT_DECRYPT key,
//! RSA-OAEP with its public key within AWS's plaintext limits.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{blob, dry_run_check, input, to_base64};
use crate::authz::{self, Aliases};
use crate::keys::asymmetric;
use crate::keys::symmetric::{self, EncryptionContext, SYMMETRIC_DEFAULT};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    key_id: String,
    plaintext: String,
    encryption_context: Option<EncryptionContext>,
    encryption_algorithm: Option<String>,
    dry_run: Option<bool>,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let plaintext = trent_crypto::SecretBytes::new(blob(&req.plaintext)?);
    let key = authz::key(ctx, &req.key_id, "kms:Encrypt", Aliases::Accepted).await?;
    if !asymmetric::is_symmetric(&key) {
        let (ciphertext, algorithm) =
            asymmetric::encrypt(ctx, &key, req.encryption_algorithm.as_deref(), req.encryption_context.as_ref(), plaintext.as_bytes(), "Encrypt").await?;
        dry_run_check(req.dry_run)?;
        return Ok(json!({ "CiphertextBlob": to_base64(&ciphertext), "KeyId": key.arn, "EncryptionAlgorithm": algorithm.as_str() }));
    }
    symmetric::check_algorithm(&key, req.encryption_algorithm.as_deref())?;
    let ciphertext = symmetric::encrypt(ctx, &key, &req.encryption_context.unwrap_or_default(), plaintext.as_bytes()).await?;
    dry_run_check(req.dry_run)?;
    Ok(json!({ "CiphertextBlob": to_base64(&ciphertext), "KeyId": key.arn, "EncryptionAlgorithm": SYMMETRIC_DEFAULT }))
}
