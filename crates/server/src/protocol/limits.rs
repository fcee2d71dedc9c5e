//! Limits AWS KMS enforces beyond the model's constraints, checked on the
//! typed request before authorization, so a request over them is a
//! ValidationException that changes nothing, never an internal error from
//! deeper down (the ciphertext format bounds each field to 65,535 bytes).

use trent_model::Request;

use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

/// The most bytes an encryption context may hold: its keys and values
/// together, in UTF-8. 8 KiB is the bound cited for encryption contexts
/// elsewhere; AWS KMS's exact limit was not found in its model or docs, so
/// this is Trent's own, far below the ciphertext format's 65,535 bytes per
/// field (docs/ciphertext-format.md).
pub const MAX_ENCRYPTION_CONTEXT_BYTES: usize = 8192;

/// Refuses a request whose encryption contexts (or grant constraints) are too large.
pub fn check(request: &Request) -> Result<(), KmsError> {
    let constraints = match request {
        Request::CreateGrant(i) => i.constraints.as_ref().map_or([None, None], |c| [c.encryption_context_equals.as_ref(), c.encryption_context_subset.as_ref()]),
        _ => [None, None],
    };
    let contexts = crate::authz::supplied::encryption_contexts(request).into_iter().chain(constraints);
    for context in contexts.flatten() {
        let bytes: usize = context.iter().map(|(k, v)| k.len() + v.len()).sum();
        if bytes > MAX_ENCRYPTION_CONTEXT_BYTES {
            return Err(Error::EncryptionContextTooLarge { bytes: bytes.to_string(), max: MAX_ENCRYPTION_CONTEXT_BYTES.to_string() }.into());
        }
    }
    Ok(())
}
