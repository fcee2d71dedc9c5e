//! GenerateDataKey: a fresh data key, returned in plaintext and encrypted
//! under the KMS key (envelope encryption).

use serde_json::{json, Value};
use trent_model::input::GenerateDataKeyRequest;

use super::{dry_run_check, to_base64, validation_unsupported};
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keys::symmetric;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

/// How long the data key is: from KeySpec or NumberOfBytes, exactly one of them.
pub(super) fn data_key_length(key_spec: Option<&str>, number_of_bytes: Option<i64>) -> Result<usize, KmsError> {
    match (key_spec, number_of_bytes) {
        (Some(_), Some(_)) | (None, None) => Err(Error::NumberOfBytesOrKeySpec.into()),
        (Some("AES_256"), None) => Ok(32),
        (Some("AES_128"), None) => Ok(16),
        (Some(other), None) => Err(Error::UnknownDataKeySpec { spec: other.to_owned() }.into()),
        // The model bounds NumberOfBytes to 1..=1024.
        (None, Some(n)) => Ok(n as usize),
    }
}

/// Makes a data key and its ciphertext under the named KMS key.
pub(super) async fn generate(ctx: &OpCtx<'_>, operation: &str, req: &GenerateDataKeyRequest, key: Authorized<trent_store::KeyRecord>) -> Result<(Authorized<trent_store::KeyRecord>, trent_crypto::SecretBytes, Vec<u8>), KmsError> {
    if req.recipient.is_some() {
        return Err(validation_unsupported("Recipient (Nitro Enclaves attestation)".into()));
    }
    let length = data_key_length(req.key_spec.as_deref(), req.number_of_bytes)?;
    symmetric::check_algorithm(&key, None)?;
    let data_key = trent_crypto::random_secret(length)?;
    let context = req.encryption_context.clone().unwrap_or_default();
    let ciphertext = symmetric::encrypt(ctx, &key, operation, &context, data_key.as_bytes()).await?;
    dry_run_check(req.dry_run)?;
    Ok((key, data_key, ciphertext))
}

pub async fn handle(ctx: &OpCtx<'_>, req: GenerateDataKeyRequest, key: Authorized<trent_store::KeyRecord>) -> Result<Value, KmsError> {
    let (key, data_key, ciphertext) = generate(ctx, "GenerateDataKey", &req, key).await?;
    Ok(json!({
        "CiphertextBlob": to_base64(&ciphertext),
        "Plaintext": to_base64(data_key.as_bytes()),
        "KeyId": key.arn,
        "KeyMaterialId": key.current_material_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_length_comes_from_exactly_one_of_spec_and_bytes() {
        assert_eq!(data_key_length(Some("AES_256"), None).unwrap(), 32);
        assert_eq!(data_key_length(Some("AES_128"), None).unwrap(), 16);
        assert_eq!(data_key_length(None, Some(7)).unwrap(), 7);
        assert!(data_key_length(None, None).is_err());
        assert!(data_key_length(Some("AES_256"), Some(32)).is_err());
    }
}
