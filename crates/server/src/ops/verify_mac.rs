//! VerifyMac: recomputes the HMAC and compares in constant time; a MAC
//! that does not match is `KMSInvalidMacException`, as in AWS.

use serde_json::{json, Value};

use super::generate_mac::{mac_key, Input};
use super::{blob, input};
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let message = trent_crypto::SecretBytes::new(blob(&req.message)?);
    let Some(mac) = req.mac.as_deref() else {
        return Err(KmsError::validation("1 validation error detected: Value null at 'mac' failed to satisfy constraint: Member must not be null"));
    };
    let mac = blob(mac)?;
    let (key, private) = mac_key(ctx, &req, "kms:VerifyMac", "VerifyMac").await?;
    if !private.verify_mac(message.as_bytes(), &mac)? {
        return Err(KmsError::new(ErrorCode::KmsInvalidMac, "The MAC is not valid for this message, key and MAC algorithm."));
    }
    Ok(json!({ "KeyId": key.arn, "MacValid": true, "MacAlgorithm": req.mac_algorithm }))
}
