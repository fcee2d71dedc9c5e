//! Encrypt: up to 4096 bytes under a symmetric key, the encryption context
//! bound as authenticated data; or, with an asymmetric ENCRYPT_DECRYPT key,
//! RSA-OAEP with its public key within AWS's plaintext limits.

use serde_json::{json, Value};
use trent_model::input::EncryptRequest;

use super::{dry_run_check, to_base64};
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::OpCtx;
use crate::keys::asymmetric;
use crate::keys::symmetric::{self, SYMMETRIC_DEFAULT};
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: EncryptRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    if !asymmetric::is_symmetric(&key) {
        let (ciphertext, algorithm) =
            asymmetric::encrypt(ctx, &key, req.encryption_algorithm.as_deref(), req.encryption_context.as_ref(), req.plaintext.expose(), "Encrypt").await?;
        dry_run_check(req.dry_run)?;
        return Ok(json!({ "CiphertextBlob": to_base64(&ciphertext), "KeyId": key.arn, "EncryptionAlgorithm": algorithm.as_str() }));
    }
    symmetric::check_algorithm(&key, req.encryption_algorithm.as_deref())?;
    let ciphertext = symmetric::encrypt(ctx, &key, "Encrypt", &req.encryption_context.unwrap_or_default(), req.plaintext.expose()).await?;
    dry_run_check(req.dry_run)?;
    Ok(json!({ "CiphertextBlob": to_base64(&ciphertext), "KeyId": key.arn, "EncryptionAlgorithm": SYMMETRIC_DEFAULT }))
}
