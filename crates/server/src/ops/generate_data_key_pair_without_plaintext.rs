//! GenerateDataKeyPairWithoutPlaintext: as GenerateDataKeyPair, but the
//! private key comes back only encrypted under the KMS key.

use serde_json::{json, Value};

use super::generate_data_key_pair::{generate, Input};
use super::{input, to_base64};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let pair = generate(ctx, &req, "kms:GenerateDataKeyPairWithoutPlaintext").await?;
    Ok(json!({
        "PrivateKeyCiphertextBlob": to_base64(&pair.private_ciphertext),
        "PublicKey": to_base64(&pair.public),
        "KeyId": pair.key.arn,
        "KeyPairSpec": req.key_pair_spec,
        "KeyMaterialId": pair.key.current_material_id,
    }))
}
