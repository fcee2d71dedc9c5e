//! GenerateMac: an HMAC of a message (1 to 4096 bytes) with an HMAC key
//! (GENERATE_VERIFY_MAC); the MacAlgorithm must be the key spec's.

use serde_json::{json, Value};
use trent_model::input::GenerateMacRequest;

use super::{dry_run_check, to_base64};
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keys::asymmetric;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

/// The HMAC key a GenerateMac/VerifyMac request names, checked: its usage
/// and that `mac_algorithm` is its spec's. Ends a DryRun that got this far.
pub(super) async fn mac_key(
    ctx: &OpCtx<'_>,
    key: Authorized<trent_store::KeyRecord>,
    mac_algorithm: &str,
    dry_run: Option<bool>,
    operation: &str,
) -> Result<(Authorized<trent_store::KeyRecord>, std::sync::Arc<trent_crypto::keytypes::PrivateKey>), KmsError> {
    let (spec, _) = asymmetric::require_usage(&key, trent_crypto::keytypes::KeyUsage::GenerateVerifyMac, operation)?;
    if spec.mac_algorithm() != Some(mac_algorithm) {
        return Err(Error::AlgorithmIncompatible { algorithm: mac_algorithm.to_owned(), spec: spec.to_string() }.into());
    }
    let private = asymmetric::private_key(ctx, &key).await?;
    dry_run_check(dry_run)?;
    Ok((key, private))
}

pub async fn handle(ctx: &OpCtx<'_>, req: GenerateMacRequest, key: Authorized<trent_store::KeyRecord>) -> Result<Value, KmsError> {
    let (key, private) = mac_key(ctx, key, &req.mac_algorithm, req.dry_run, "GenerateMac").await?;
    let mac = private.mac(req.message.expose())?;
    Ok(json!({ "Mac": to_base64(&mac), "MacAlgorithm": req.mac_algorithm, "KeyId": key.arn }))
}
