//! The key a ciphertext is to be opened with, for Decrypt and ReEncrypt's
//! source: a symmetric ciphertext names its key in its header (and a
//! `KeyId` given beside it must be that key); an asymmetric ciphertext
//! names nothing, so the request's `KeyId` says which key. With DryRun's
//! `IGNORE_CIPHERTEXT` the ciphertext is not examined when a key is named.

use trent_model::Request;
use trent_store::KeyRecord;

use super::resolve;
use crate::dispatch::table::Descriptor;
use crate::keys::asymmetric;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;
use crate::state::Ctx;

/// Whether `DryRunModifiers` asks to skip ciphertext validation.
pub fn ignores_ciphertext(dry_run: Option<bool>, modifiers: Option<&[String]>) -> bool {
    dry_run == Some(true) && modifiers.is_some_and(|m| m.iter().any(|x| x == "IGNORE_CIPHERTEXT"))
}

/// Decrypt's key.
pub async fn decrypt_key(ctx: &Ctx, row: &Descriptor, request: &Request) -> Result<KeyRecord, KmsError> {
    let Request::Decrypt(i) = request else { return Err(KmsError::internal("decrypt_key on another operation")) };
    let ignore = ignores_ciphertext(i.dry_run, i.dry_run_modifiers.as_deref());
    key_for(ctx, row, i.key_id.as_deref(), i.ciphertext_blob.as_ref().map(|b| b.as_bytes()), ignore).await
}

/// ReEncrypt's source key.
pub async fn re_encrypt_source(ctx: &Ctx, row: &Descriptor, request: &Request) -> Result<KeyRecord, KmsError> {
    let Request::ReEncrypt(i) = request else { return Err(KmsError::internal("re_encrypt_source on another operation")) };
    let ignore = ignores_ciphertext(i.dry_run, i.dry_run_modifiers.as_deref());
    key_for(ctx, row, i.source_key_id.as_deref(), i.ciphertext_blob.as_ref().map(|b| b.as_bytes()), ignore).await
}

async fn key_for(ctx: &Ctx, row: &Descriptor, named: Option<&str>, blob: Option<&[u8]>, ignore: bool) -> Result<KeyRecord, KmsError> {
    if let Some(reference) = named {
        let key = resolve::key(ctx, row, reference, true).await?;
        if ignore || !asymmetric::is_symmetric(&key) {
            return Ok(key);
        }
        let header = crate::keys::xks_blob::any_header(blob.ok_or_else(missing_ciphertext)?).map_err(|_| invalid())?;
        if Some(header.key_id) != crate::keys::reference::key_id_bytes(&key.key_id) {
            return Err(Error::IncorrectKey.into());
        }
        return Ok(key);
    }
    let Some(blob) = blob else {
        return Err(if ignore { KmsError::from(Error::IgnoreCiphertextNeedsKeyId) } else { missing_ciphertext() });
    };
    let header = crate::keys::xks_blob::any_header(blob).map_err(|_| invalid())?;
    resolve::ciphertext_key(ctx, header.key_id).await
}

/// `CiphertextBlob`, which the model no longer marks required (Recipient
/// flows) but every symmetric Decrypt and ReEncrypt needs.
pub fn missing_ciphertext() -> KmsError {
    Error::CiphertextRequired.into()
}

pub fn invalid() -> KmsError {
    Error::InvalidCiphertext.into()
}
