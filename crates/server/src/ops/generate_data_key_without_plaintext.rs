//! GenerateDataKeyWithoutPlaintext: as GenerateDataKey, but only the
//! encrypted copy is returned (for a component that will decrypt it later).

use serde_json::{json, Value};

use super::generate_data_key::{generate, Input};
use super::{input, to_base64};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let (key, _data_key, ciphertext) = generate(ctx, &req, "kms:GenerateDataKeyWithoutPlaintext").await?;
    Ok(json!({ "CiphertextBlob": to_base64(&ciphertext), "KeyId": key.arn, "KeyMaterialId": key.current_material_id }))
}
