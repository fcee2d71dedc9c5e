//! GenerateDataKeyPairWithoutPlaintext: as GenerateDataKeyPair, but the
//! private key comes back only encrypted under the KMS key.

use serde_json::{json, Value};
use trent_model::input::{GenerateDataKeyPairRequest, GenerateDataKeyPairWithoutPlaintextRequest};

use super::generate_data_key_pair::generate;
use super::to_base64;
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: GenerateDataKeyPairWithoutPlaintextRequest, key: Authorized<trent_store::KeyRecord>) -> Result<Value, KmsError> {
    let req = as_generate_data_key_pair(req);
    let pair = generate(ctx, &req, key).await?;
    Ok(json!({
        "PrivateKeyCiphertextBlob": to_base64(&pair.private_ciphertext),
        "PublicKey": to_base64(&pair.public),
        "KeyId": pair.key.arn,
        "KeyPairSpec": req.key_pair_spec,
        "KeyMaterialId": pair.key.current_material_id,
    }))
}

/// The same request as GenerateDataKeyPair's, which also has Recipient (not in this one).
fn as_generate_data_key_pair(req: GenerateDataKeyPairWithoutPlaintextRequest) -> GenerateDataKeyPairRequest {
    GenerateDataKeyPairRequest {
        encryption_context: req.encryption_context,
        key_id: req.key_id,
        key_pair_spec: req.key_pair_spec,
        grant_tokens: req.grant_tokens,
        recipient: None,
        dry_run: req.dry_run,
    }
}
