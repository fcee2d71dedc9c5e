//! Verify: checks a signature with the public key of a SIGN_VERIFY key.
//! A signature that does not verify is `KMSInvalidSignatureException`, as
//! in AWS; `SignatureValid` is only ever true.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{blob, dry_run_check, input};
use crate::authz::{self, Aliases};
use crate::keys::{asymmetric, signing};
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    key_id: String,
    message: String,
    message_type: Option<String>,
    signature: String,
    signing_algorithm: String,
    dry_run: Option<bool>,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let message = blob(&req.message)?;
    let signature = blob(&req.signature)?;
    let key = authz::key(ctx, &req.key_id, "kms:Verify", Aliases::Accepted).await?;
    let (algorithm, message_type) = signing::check(&key, &req.signing_algorithm, req.message_type.as_deref(), &message, "Verify")?;
    let private = asymmetric::private_key(ctx, &key).await?;
    dry_run_check(req.dry_run)?;
    if !private.verify(algorithm, message_type, &message, &signature)? {
        return Err(KmsError::new(ErrorCode::KmsInvalidSignature, "The signature is not valid for this message, key and signing algorithm."));
    }
    Ok(json!({ "KeyId": key.arn, "SignatureValid": true, "SigningAlgorithm": algorithm.as_str() }))
}
