//! GenerateRandom: 1 to 1024 random bytes from aws-lc-rs's generator.

use serde_json::{json, Value};
use trent_model::input::GenerateRandomRequest;

use super::{to_base64, validation_unsupported};
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub async fn handle(_ctx: &OpCtx<'_>, req: GenerateRandomRequest, _account: Authorized<String>) -> Result<Value, KmsError> {
    if let Some(id) = req.custom_key_store_id {
        return Err(Error::CustomKeyStoreIdNotFound { id }.into());
    }
    if req.recipient.is_some() {
        return Err(validation_unsupported("Recipient (Nitro Enclaves attestation)".into()));
    }
    let Some(n) = req.number_of_bytes else {
        return Err(Error::NumberOfBytesRequired.into());
    };
    let bytes = trent_crypto::random_secret(n as usize)?;
    Ok(json!({ "Plaintext": to_base64(bytes.as_bytes()) }))
}
