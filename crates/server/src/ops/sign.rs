//! Sign: a signature with the private key of a SIGN_VERIFY key over a
//! message (RAW, up to 4096 bytes) or a digest (DIGEST), as `keys::signing`
//! allows. ECDSA signatures are DER, as AWS returns them.

use serde_json::{json, Value};
use trent_model::input::SignRequest;

use super::{dry_run_check, to_base64};
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::OpCtx;
use crate::keys::{asymmetric, signing};
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: SignRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    let (algorithm, message_type) = signing::check(&key, &req.signing_algorithm, req.message_type.as_deref(), req.message.expose(), "Sign")?;
    let private = asymmetric::private_key(ctx, &key).await?;
    dry_run_check(req.dry_run)?;
    let signature = private.sign(algorithm, message_type, req.message.expose())?;
    Ok(json!({ "KeyId": key.arn, "Signature": to_base64(&signature), "SigningAlgorithm": algorithm.as_str() }))
}
