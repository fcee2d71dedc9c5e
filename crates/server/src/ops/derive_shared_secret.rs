//! DeriveSharedSecret: ECDH between a KEY_AGREEMENT key's private key and a
//! peer's public key (DER SubjectPublicKeyInfo on the same curve). Returns
//! the raw shared secret, as AWS does. The Recipient (Nitro Enclaves) form
//! needs attestation Trent does not have: refused plainly.

use serde_json::{json, Value};
use trent_model::input::DeriveSharedSecretRequest;

use super::{dry_run_check, to_base64, validation_unsupported};
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::OpCtx;
use crate::keys::asymmetric;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub async fn handle(ctx: &OpCtx<'_>, req: DeriveSharedSecretRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    if req.recipient.is_some() {
        return Err(validation_unsupported("Recipient (Nitro Enclaves attestation)".into()));
    }
    let (spec, usage) = asymmetric::require_usage(&key, trent_crypto::keytypes::KeyUsage::KeyAgreement, "DeriveSharedSecret")?;
    if !spec.key_agreement_algorithms(usage).contains(&req.key_agreement_algorithm.as_str()) {
        return Err(Error::AlgorithmIncompatible { algorithm: req.key_agreement_algorithm.clone(), spec: spec.to_string() }.into());
    }
    let private = asymmetric::private_key(ctx, &key).await?;
    dry_run_check(req.dry_run)?;
    let secret = private.derive_shared_secret(req.public_key.as_bytes())?;
    Ok(json!({
        "KeyId": key.arn,
        "SharedSecret": to_base64(secret.as_bytes()),
        "KeyAgreementAlgorithm": req.key_agreement_algorithm,
        "KeyOrigin": key.origin,
    }))
}
