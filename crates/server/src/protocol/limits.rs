//! Limits AWS KMS enforces beyond the model's constraints, checked on the
//! typed request before authorization, so a request over them is a
//! ValidationException that changes nothing, never an internal error from
//! deeper down (the ciphertext format bounds each field to 65,535 bytes).

use std::collections::BTreeMap;

use trent_model::Request;

use crate::protocol::error::KmsError;

/// The most bytes an encryption context may hold: its keys and values
/// together, in UTF-8. 8 KiB is the bound cited for encryption contexts
/// elsewhere; AWS KMS's exact limit was not found in its model or docs, so
/// this is Trent's own, far below the ciphertext format's 65,535 bytes per
/// field (docs/ciphertext-format.md).
pub const MAX_ENCRYPTION_CONTEXT_BYTES: usize = 8192;

/// Refuses a request whose encryption contexts (or grant constraints) are too large.
pub fn check(request: &Request) -> Result<(), KmsError> {
    use Request as R;
    let contexts: [Option<&BTreeMap<String, String>>; 2] = match request {
        R::Encrypt(i) => [i.encryption_context.as_ref(), None],
        R::Decrypt(i) => [i.encryption_context.as_ref(), None],
        R::GenerateDataKey(i) => [i.encryption_context.as_ref(), None],
        R::GenerateDataKeyWithoutPlaintext(i) => [i.encryption_context.as_ref(), None],
        R::GenerateDataKeyPair(i) => [i.encryption_context.as_ref(), None],
        R::GenerateDataKeyPairWithoutPlaintext(i) => [i.encryption_context.as_ref(), None],
        R::ReEncrypt(i) => [i.source_encryption_context.as_ref(), i.destination_encryption_context.as_ref()],
        R::CreateGrant(i) => match &i.constraints {
            Some(c) => [c.encryption_context_equals.as_ref(), c.encryption_context_subset.as_ref()],
            None => [None, None],
        },
        _ => [None, None],
    };
    for context in contexts.into_iter().flatten() {
        let bytes: usize = context.iter().map(|(k, v)| k.len() + v.len()).sum();
        if bytes > MAX_ENCRYPTION_CONTEXT_BYTES {
            return Err(KmsError::validation(format!(
                "The encryption context is {bytes} bytes; its keys and values together may be at most {MAX_ENCRYPTION_CONTEXT_BYTES} bytes."
            )));
        }
    }
    Ok(())
}
