//! Helpers every operation uses: typed input, blobs, paging, saving a key.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde_json::Value;
use trent_store::{KeyRecord, StoreError};

use crate::authz::Authorized;
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

/// The typed input of an operation. The model already checked types and
/// constraints, so a failure here is a shape the model allows but the
/// handler does not read the same way.
pub fn input<T: DeserializeOwned>(value: Value) -> Result<T, KmsError> {
    serde_json::from_value(value).map_err(|e| KmsError::new(ErrorCode::Serialization, format!("Cannot read the request: {e}")))
}

/// The input of the operations that take nothing but a key.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdInput {
    pub key_id: String,
}

/// `CiphertextBlob`, which the model no longer marks required (Recipient
/// flows) but every symmetric Decrypt and ReEncrypt needs.
pub fn required_ciphertext(member: Option<String>) -> Result<Vec<u8>, KmsError> {
    let Some(text) = member else {
        return Err(KmsError::validation("1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null"));
    };
    blob(&text)
}

/// A blob member, base64 in JSON (validated by the model already).
pub fn blob(text: &str) -> Result<Vec<u8>, KmsError> {
    BASE64.decode(text).map_err(|_| KmsError::new(ErrorCode::Serialization, "A blob member is not valid base64."))
}

pub fn to_base64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Ends a DryRun request that passed every check.
pub fn dry_run_check(dry_run: Option<bool>) -> Result<(), KmsError> {
    if dry_run == Some(true) {
        return Err(KmsError::dry_run());
    }
    Ok(())
}

/// Writes a changed key. The store refuses a stale write; the request is
/// then answered with an error rather than silently losing the other write.
pub async fn save_key(ctx: &Ctx, key: &KeyRecord) -> Result<(), KmsError> {
    match ctx.state.store.update_key(key).await {
        Ok(_) => Ok(()),
        Err(StoreError::Conflict) => Err(KmsError::new(ErrorCode::KmsInvalidState, format!("{} was changed by another request; retry.", key.arn))),
        Err(StoreError::NotFound) => Err(KmsError::not_found(format!("Key '{}' does not exist", key.arn))),
        Err(e) => Err(e.into()),
    }
}

/// A copy of an authorized key to change and save.
pub fn editable(key: Authorized<KeyRecord>) -> KeyRecord {
    key.into_inner()
}

/// Default and bounds of a `Limit` member (the model checked 1..=1000).
pub fn limit(requested: Option<i64>, default: usize, max: usize) -> usize {
    requested.map(|l| (l.max(1) as usize).min(max)).unwrap_or(default)
}

/// Paging markers are the last item of the previous page, base64url so they
/// read as opaque tokens, as AWS's do.
pub fn encode_marker(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.as_bytes())
}

pub fn decode_marker(marker: Option<&str>) -> Result<Option<String>, KmsError> {
    let Some(marker) = marker else { return Ok(None) };
    let invalid = || KmsError::new(ErrorCode::InvalidMarker, "The request contains an invalid marker.");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(marker).map_err(|_| invalid())?;
    String::from_utf8(bytes).map(Some).map_err(|_| invalid())
}

/// Builds a page answer: `items` was fetched with one extra to tell whether more follow.
pub fn page<T>(mut items: Vec<T>, limit: usize, last_of: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
    if items.len() > limit {
        items.truncate(limit);
        let marker = items.last().map(|i| encode_marker(&last_of(i)));
        (items, marker)
    } else {
        (items, None)
    }
}

/// Adds `NextMarker`/`Truncated` to a list answer.
pub fn with_paging(mut body: serde_json::Map<String, Value>, marker: Option<String>) -> Value {
    body.insert("Truncated".into(), Value::Bool(marker.is_some()));
    if let Some(m) = marker {
        body.insert("NextMarker".into(), Value::String(m));
    }
    Value::Object(body)
}

/// A valid request for something Trent does not do yet: said plainly.
pub fn validation_unsupported(what: String) -> KmsError {
    KmsError::new(ErrorCode::UnsupportedOperation, format!("{what} is not supported by Trent yet."))
}
