//! GenerateRandom: 1 to 1024 random bytes from aws-lc-rs's generator, or
//! from a CloudHSM key store's token.

use serde_json::{json, Value};
use trent_model::input::GenerateRandomRequest;

use super::{to_base64, validation_unsupported};
use crate::authz::Authorized;
use crate::keys::{key_stores, OpCtx};
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub async fn handle(ctx: &OpCtx<'_>, req: GenerateRandomRequest, account: Authorized<String>) -> Result<Value, KmsError> {
    if req.recipient.is_some() {
        return Err(validation_unsupported("Recipient (Nitro Enclaves attestation)".into()));
    }
    let Some(n) = req.number_of_bytes else {
        return Err(Error::NumberOfBytesRequired.into());
    };
    if let Some(id) = req.custom_key_store_id {
        // From the key store's token (C_GenerateRandom), as AWS's from the cluster.
        let bytes = key_stores::random(ctx, &account, &id, n as usize).await?;
        return Ok(json!({ "Plaintext": to_base64(bytes.as_bytes()) }));
    }
    let bytes = trent_crypto::random_secret(n as usize)?;
    Ok(json!({ "Plaintext": to_base64(bytes.as_bytes()) }))
}
