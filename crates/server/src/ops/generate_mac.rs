//! GenerateMac: an HMAC of a message (1 to 4096 bytes) with an HMAC key
//! (GENERATE_VERIFY_MAC); the MacAlgorithm must be the key spec's.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{blob, dry_run_check, input, to_base64};
use crate::authz::{self, Aliases};
use crate::keys::asymmetric;
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Input {
    pub message: String,
    pub key_id: String,
    pub mac_algorithm: String,
    pub mac: Option<String>,
    pub dry_run: Option<bool>,
}

/// The HMAC key a GenerateMac/VerifyMac request names, checked: its usage
/// and that `algorithm` is its spec's.
pub(super) async fn mac_key(ctx: &Ctx, req: &Input, action: &'static str, operation: &str) -> Result<(authz::Authorized<trent_store::KeyRecord>, std::sync::Arc<trent_crypto::keytypes::PrivateKey>), KmsError> {
    let key = authz::key(ctx, &req.key_id, action, Aliases::Accepted).await?;
    let (spec, _) = asymmetric::require_usage(&key, trent_crypto::keytypes::KeyUsage::GenerateVerifyMac, operation)?;
    if spec.mac_algorithm() != Some(req.mac_algorithm.as_str()) {
        return Err(KmsError::new(
            ErrorCode::InvalidKeyUsage,
            format!("The MAC algorithm {} is not supported by {} (key spec {spec}); use {}.", req.mac_algorithm, key.arn, spec.mac_algorithm().unwrap_or("none")),
        ));
    }
    let private = asymmetric::private_key(ctx, &key).await?;
    dry_run_check(req.dry_run)?;
    Ok((key, private))
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let message = trent_crypto::SecretBytes::new(blob(&req.message)?);
    let (key, private) = mac_key(ctx, &req, "kms:GenerateMac", "GenerateMac").await?;
    let mac = private.mac(message.as_bytes())?;
    Ok(json!({ "Mac": to_base64(&mac), "MacAlgorithm": req.mac_algorithm, "KeyId": key.arn }))
}
