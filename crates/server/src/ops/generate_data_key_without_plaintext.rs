//! GenerateDataKeyWithoutPlaintext: as GenerateDataKey, but only the
//! encrypted copy is returned (for a component that will decrypt it later).

use serde_json::{json, Value};
use trent_model::input::{GenerateDataKeyRequest, GenerateDataKeyWithoutPlaintextRequest};

use super::generate_data_key::generate;
use super::to_base64;
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: GenerateDataKeyWithoutPlaintextRequest, key: Authorized<trent_store::KeyRecord>) -> Result<Value, KmsError> {
    let (key, _data_key, ciphertext) = generate(ctx, "GenerateDataKeyWithoutPlaintext", &as_generate_data_key(req), key).await?;
    Ok(json!({ "CiphertextBlob": to_base64(&ciphertext), "KeyId": key.arn, "KeyMaterialId": key.current_material_id }))
}

/// The same request as GenerateDataKey's, which also has Recipient (not in this one).
fn as_generate_data_key(req: GenerateDataKeyWithoutPlaintextRequest) -> GenerateDataKeyRequest {
    GenerateDataKeyRequest {
        key_id: req.key_id,
        encryption_context: req.encryption_context,
        number_of_bytes: req.number_of_bytes,
        key_spec: req.key_spec,
        grant_tokens: req.grant_tokens,
        recipient: None,
        dry_run: req.dry_run,
    }
}
