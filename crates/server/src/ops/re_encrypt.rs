//! ReEncrypt: decrypts under the source key and encrypts under the
//! destination key inside Trent; the plaintext never leaves. Either side may
//! be an asymmetric ENCRYPT_DECRYPT key (RSA-OAEP, named by SourceKeyId /
//! DestinationKeyId with its algorithm).

use serde_json::{json, Value};
use trent_model::input::ReEncryptRequest;

use trent_store::KeyRecord;

use super::{dry_run_check, required_ciphertext, to_base64};
use crate::authz::{self, Authorized};
use crate::keys::OpCtx;
use crate::keys::asymmetric;
use crate::keys::symmetric::{self, EncryptionContext, SYMMETRIC_DEFAULT};
use crate::protocol::error::KmsError;

/// `source`: the key authorization found for the ciphertext (ReEncryptFrom,
/// with the source context); `destination`: DestinationKeyId's (ReEncryptTo).
pub async fn handle(ctx: &OpCtx<'_>, req: ReEncryptRequest, source: Authorized<KeyRecord>, destination: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    // With IGNORE_CIPHERTEXT a DryRun checks only the permissions, which hold.
    if authz::ignores_ciphertext(req.dry_run, req.dry_run_modifiers.as_deref()) {
        return Err(KmsError::dry_run());
    }
    let ciphertext = required_ciphertext(req.ciphertext_blob)?;
    let source = open_source(ctx, source, &req.source_encryption_algorithm, req.source_encryption_context.as_ref(), &ciphertext).await?;
    let (new_ciphertext, destination_algorithm) = if asymmetric::is_symmetric(&destination) {
        symmetric::check_algorithm(&destination, req.destination_encryption_algorithm.as_deref())?;
        let context = req.destination_encryption_context.unwrap_or_default();
        (symmetric::encrypt(ctx, &destination, "ReEncrypt", &context, source.plaintext.as_bytes()).await?, SYMMETRIC_DEFAULT)
    } else {
        let algorithm = req.destination_encryption_algorithm.as_deref();
        let context = req.destination_encryption_context.as_ref();
        let (blob, algorithm) = asymmetric::encrypt(ctx, &destination, algorithm, context, source.plaintext.as_bytes(), "ReEncrypt").await?;
        (blob, algorithm.as_str())
    };
    dry_run_check(req.dry_run)?;
    let mut out = json!({
        "CiphertextBlob": to_base64(&new_ciphertext),
        "SourceKeyId": source.arn,
        "KeyId": destination.arn,
        "SourceEncryptionAlgorithm": source.algorithm,
        "DestinationEncryptionAlgorithm": destination_algorithm,
    });
    // The material ids are present only for symmetric encryption keys (model).
    if let Some(material_id) = source.material_id {
        out["SourceKeyMaterialId"] = json!(material_id);
    }
    if asymmetric::is_symmetric(&destination) {
        out["DestinationKeyMaterialId"] = json!(destination.current_material_id);
    }
    Ok(out)
}

/// The plaintext of the source ciphertext and where it came from.
struct Source {
    plaintext: trent_crypto::SecretBytes,
    arn: String,
    algorithm: &'static str,
    /// Symmetric sources only.
    material_id: Option<String>,
}

/// Decrypts the source: with the asymmetric key SourceKeyId names, or as a
/// symmetric ciphertext that names its own key.
async fn open_source(ctx: &OpCtx<'_>, key: Authorized<KeyRecord>, algorithm: &Option<String>, context: Option<&EncryptionContext>, ciphertext: &[u8]) -> Result<Source, KmsError> {
    if !asymmetric::is_symmetric(&key) {
        let (plaintext, algorithm) = asymmetric::decrypt(ctx, &key, algorithm.as_deref(), context, ciphertext, "ReEncrypt").await?;
        return Ok(Source { plaintext, arn: key.arn.clone(), algorithm: algorithm.as_str(), material_id: None });
    }
    let empty = EncryptionContext::new();
    let opened = symmetric::decrypt(ctx, key, "ReEncrypt", ciphertext, context.unwrap_or(&empty)).await?;
    symmetric::check_algorithm(&opened.key, algorithm.as_deref())?;
    Ok(Source { plaintext: opened.plaintext, arn: opened.key.arn.clone(), algorithm: SYMMETRIC_DEFAULT, material_id: Some(opened.material_id) })
}
