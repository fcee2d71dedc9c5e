//! Verify: checks a signature with the public key of a SIGN_VERIFY key.
//! A signature that does not verify is `KMSInvalidSignatureException`, as
//! in AWS; `SignatureValid` is only ever true.

use serde_json::{json, Value};
use trent_model::input::VerifyRequest;

use super::dry_run_check;
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::OpCtx;
use crate::keys::{asymmetric, signing};
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub async fn handle(ctx: &OpCtx<'_>, req: VerifyRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    let (algorithm, message_type) = signing::check(&key, &req.signing_algorithm, req.message_type.as_deref(), req.message.expose(), "Verify")?;
    let private = asymmetric::private_key(ctx, &key).await?;
    dry_run_check(req.dry_run)?;
    if !private.verify(algorithm, message_type, req.message.expose(), req.signature.as_bytes())? {
        return Err(Error::InvalidSignature.into());
    }
    Ok(json!({ "KeyId": key.arn, "SignatureValid": true, "SigningAlgorithm": algorithm.as_str() }))
}
