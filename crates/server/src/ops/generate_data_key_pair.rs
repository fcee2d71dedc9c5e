//! GenerateDataKeyPair: a fresh asymmetric key pair for use outside Trent.
//! The private key (PKCS#8 DER) comes back in plaintext and encrypted under
//! a symmetric encryption KMS key with the encryption context; the public
//! key as DER SubjectPublicKeyInfo.

use serde_json::{json, Value};
use trent_model::input::GenerateDataKeyPairRequest;
use trent_crypto::keytypes::{self, KeySpec};

use super::{dry_run_check, to_base64, validation_unsupported};
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keys::asymmetric;
use crate::keys::symmetric;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub(super) struct DataKeyPair {
    pub key: Authorized<trent_store::KeyRecord>,
    pub private: trent_crypto::SecretBytes,
    pub private_ciphertext: Vec<u8>,
    pub public: Vec<u8>,
}

/// Makes the pair and encrypts its private key under the named KMS key.
pub(super) async fn generate(ctx: &OpCtx<'_>, req: &GenerateDataKeyPairRequest, key: Authorized<trent_store::KeyRecord>) -> Result<DataKeyPair, KmsError> {
    if req.recipient.is_some() {
        return Err(validation_unsupported("Recipient (Nitro Enclaves attestation)".into()));
    }
    let spec = KeySpec::parse(&req.key_pair_spec).ok_or_else(|| KmsError::from(Error::TrentUnsupported { what: format!("KeyPairSpec {}", req.key_pair_spec) }))?;
    symmetric::check_algorithm(&key, None)?;
    // AWS: "You cannot use ... a KMS key in a custom key store."
    if key.custom_key_store_id.is_some() {
        return Err(Error::NotForKeyStoreKeys { operation: "GenerateDataKeyPair".into(), arn: key.arn.clone() }.into());
    }
    dry_run_check(req.dry_run)?;
    // RSA-4096 generation takes seconds: on the blocking pool.
    let (private, public) = asymmetric::blocking(move || keytypes::generate_data_key_pair(spec)).await?;
    let context = req.encryption_context.clone().unwrap_or_default();
    let private_ciphertext = symmetric::encrypt(ctx, &key, "GenerateDataKeyPair", &context, private.as_bytes()).await?;
    Ok(DataKeyPair { key, private, private_ciphertext, public })
}

pub async fn handle(ctx: &OpCtx<'_>, req: GenerateDataKeyPairRequest, key: Authorized<trent_store::KeyRecord>) -> Result<Value, KmsError> {
    let pair = generate(ctx, &req, key).await?;
    Ok(json!({
        "PrivateKeyCiphertextBlob": to_base64(&pair.private_ciphertext),
        "PrivateKeyPlaintext": to_base64(pair.private.as_bytes()),
        "PublicKey": to_base64(&pair.public),
        "KeyId": pair.key.arn,
        "KeyPairSpec": req.key_pair_spec,
        "KeyMaterialId": pair.key.current_material_id,
    }))
}
