//! Sign: a signature with the private key of a SIGN_VERIFY key over a
//! message (RAW, up to 4096 bytes) or a digest (DIGEST), as `keys::signing`
//! allows. ECDSA signatures are DER, as AWS returns them.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{blob, dry_run_check, input, to_base64};
use crate::authz::{self, Aliases};
use crate::keys::{asymmetric, signing};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    key_id: String,
    message: String,
    message_type: Option<String>,
    signing_algorithm: String,
    dry_run: Option<bool>,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let message = trent_crypto::SecretBytes::new(blob(&req.message)?);
    let key = authz::key(ctx, &req.key_id, "kms:Sign", Aliases::Accepted).await?;
    let (algorithm, message_type) = signing::check(&key, &req.signing_algorithm, req.message_type.as_deref(), message.as_bytes(), "Sign")?;
    let private = asymmetric::private_key(ctx, &key).await?;
    dry_run_check(req.dry_run)?;
    let signature = private.sign(algorithm, message_type, message.as_bytes())?;
    Ok(json!({ "KeyId": key.arn, "Signature": to_base64(&signature), "SigningAlgorithm": algorithm.as_str() }))
}
