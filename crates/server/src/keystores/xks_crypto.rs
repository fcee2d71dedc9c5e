//! The XKS proxy API's Encrypt and Decrypt, as the KMS side calls them for
//! the outer layer of double encryption (docs/ciphertext-format.md).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use trent_crypto::SecretBytes;

use super::xks_client::{Target, XksClient, XksError};

/// The spec's `requestMetadata` for a cryptographic call.
pub struct RequestMetadata<'a> {
    pub principal: &'a str,
    pub operation: &'a str,
    pub request_id: &'a str,
    pub key_arn: &'a str,
}

impl RequestMetadata<'_> {
    fn json(&self) -> Value {
        json!({ "awsPrincipalArn": self.principal, "kmsOperation": self.operation, "kmsRequestId": self.request_id, "kmsKeyArn": self.key_arn })
    }
}

/// What the proxy's Encrypt returns (all of it needed to decrypt).
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub iv: Vec<u8>,
    pub tag: Vec<u8>,
    pub metadata: Vec<u8>,
}

impl XksClient {
    /// Encrypt with external key `key_id`, AES_GCM, binding `aad`.
    pub async fn encrypt(&self, target: &Target<'_>, key_id: &str, meta: &RequestMetadata<'_>, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, XksError> {
        let body = json!({
            "requestMetadata": meta.json(),
            "plaintext": STANDARD.encode(plaintext),
            "encryptionAlgorithm": "AES_GCM",
            "additionalAuthenticatedData": STANDARD.encode(aad),
        });
        let answer = self.call(target, &format!("keys/{}/encrypt", path_segment(key_id)?), &body).await?;
        let field = |name: &str, required: bool| -> Result<Vec<u8>, XksError> {
            match answer.get(name).and_then(Value::as_str) {
                Some(text) => STANDARD.decode(text).map_err(|_| XksError::InvalidResponse(format!("Encrypt: {name} is not Base64"))),
                None if required => Err(XksError::InvalidResponse(format!("Encrypt: no {name}"))),
                None => Ok(Vec::new()),
            }
        };
        Ok(Sealed { ciphertext: field("ciphertext", true)?, iv: field("initializationVector", true)?, tag: field("authenticationTag", true)?, metadata: field("ciphertextMetadata", false)? })
    }

    /// Decrypt with external key `key_id` what [`XksClient::encrypt`] sealed.
    pub async fn decrypt(&self, target: &Target<'_>, key_id: &str, meta: &RequestMetadata<'_>, sealed: &Sealed, aad: &[u8]) -> Result<SecretBytes, XksError> {
        let mut body = json!({
            "requestMetadata": meta.json(),
            "ciphertext": STANDARD.encode(&sealed.ciphertext),
            "encryptionAlgorithm": "AES_GCM",
            "initializationVector": STANDARD.encode(&sealed.iv),
            "authenticationTag": STANDARD.encode(&sealed.tag),
            "additionalAuthenticatedData": STANDARD.encode(aad),
        });
        if !sealed.metadata.is_empty() {
            body["ciphertextMetadata"] = STANDARD.encode(&sealed.metadata).into();
        }
        let answer = self.call(target, &format!("keys/{}/decrypt", path_segment(key_id)?), &body).await?;
        let text = answer.get("plaintext").and_then(Value::as_str).ok_or_else(|| XksError::InvalidResponse("Decrypt: no plaintext".into()))?;
        let plaintext = STANDARD.decode(text).map_err(|_| XksError::InvalidResponse("Decrypt: plaintext is not Base64".into()))?;
        Ok(SecretBytes::new(plaintext))
    }
}

/// An external key id as one URI path segment: the model allows
/// `[a-zA-Z0-9-_.]` only; anything else is refused, never escaped.
pub(super) fn path_segment(key_id: &str) -> Result<&str, XksError> {
    if !matches!(key_id, "" | "." | "..") && key_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        Ok(key_id)
    } else {
        Err(XksError::Internal(format!("external key id {key_id:?} is not a URI path segment")))
    }
}
