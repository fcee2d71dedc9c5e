//! VerifyMac: recomputes the HMAC and compares in constant time; a MAC
//! that does not match is `KMSInvalidMacException`, as in AWS.

use serde_json::{json, Value};
use trent_model::input::VerifyMacRequest;

use super::generate_mac::mac_key;
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub async fn handle(ctx: &OpCtx<'_>, req: VerifyMacRequest, key: Authorized<trent_store::KeyRecord>) -> Result<Value, KmsError> {
    // Mac is required by the model, which checked it is there.
    let (key, private) = mac_key(ctx, key, &req.mac_algorithm, req.dry_run, "VerifyMac").await?;
    if !private.verify_mac(req.message.expose(), req.mac.as_bytes())? {
        return Err(Error::InvalidMac.into());
    }
    Ok(json!({ "KeyId": key.arn, "MacValid": true, "MacAlgorithm": req.mac_algorithm }))
}
