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
    /// Encrypt with external key `key_id`, AES_GCM, binding `aad`. Asks
    /// for the spec's SHA_256 ciphertext data integrity value and checks
    /// it, as AWS KMS does, so a blob corrupted on its way back is refused
    /// now rather than found undecryptable later.
    pub async fn encrypt(&self, target: &Target<'_>, key_id: &str, meta: &RequestMetadata<'_>, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, XksError> {
        let body = json!({
            "requestMetadata": meta.json(),
            "plaintext": STANDARD.encode(plaintext),
            "encryptionAlgorithm": "AES_GCM",
            "additionalAuthenticatedData": STANDARD.encode(aad),
            "ciphertextDataIntegrityValueAlgorithm": CDIV_ALGORITHM,
        });
        let answer = self.call(target, &format!("keys/{}/encrypt", path_segment(key_id)?), &body).await?;
        encrypt_answer(&answer, aad)
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

/// The CDIV algorithm requested (the spec's only one).
const CDIV_ALGORITHM: &str = "SHA_256";

/// Encrypt's answer, its CDIV checked (Appendix C: SHA-256 over our AAD
/// and the answer's metadata, iv, ciphertext and tag). A missing or
/// different CDIV is an invalid response.
fn encrypt_answer(answer: &Value, aad: &[u8]) -> Result<Sealed, XksError> {
    let field = |name: &str, required: bool| -> Result<Vec<u8>, XksError> {
        match answer.get(name).and_then(Value::as_str) {
            Some(text) => STANDARD.decode(text).map_err(|_| XksError::InvalidResponse(format!("Encrypt: {name} is not Base64"))),
            None if required => Err(XksError::InvalidResponse(format!("Encrypt: no {name}"))),
            None => Ok(Vec::new()),
        }
    };
    let sealed = Sealed { ciphertext: field("ciphertext", true)?, iv: field("initializationVector", true)?, tag: field("authenticationTag", true)?, metadata: field("ciphertextMetadata", false)? };
    // The spec: KMS rejects metadata over 20 bytes.
    if sealed.metadata.len() > crate::xks::aad::MAX_CIPHERTEXT_METADATA_LEN {
        return Err(XksError::InvalidResponse("Encrypt: ciphertextMetadata over 20 bytes".into()));
    }
    let received = field("ciphertextDataIntegrityValue", true)?;
    let expected = crate::xks::aad::cdiv(aad, &sealed.metadata, &sealed.iv, &sealed.ciphertext, &sealed.tag);
    // Not a secret, but compared as MACs are, by habit.
    aws_lc_rs::constant_time::verify_slices_are_equal(&expected, &received)
        .map_err(|_| XksError::InvalidResponse("Encrypt: the ciphertextDataIntegrityValue does not match the answer".into()))?;
    Ok(sealed)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's Encrypt example answer (Appendix C): its CDIV is over the
    /// request's AAD, `project=nile,department=marketing`.
    fn example() -> Value {
        json!({
            "authenticationTag": "vBxN2ncH1oEkR8WVXpmyYQ==",
            "ciphertext": "ghxkK1txeDNn3q8Y",
            "ciphertextDataIntegrityValue": "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=",
            "ciphertextMetadata": "a2V5X3ZlcnNpb249MQ==",
            "initializationVector": "HMrlRw85cAJUd5Ax",
        })
    }
    const AAD: &[u8] = b"project=nile,department=marketing";

    #[test]
    fn the_specs_example_answer_passes_its_cdiv_check() {
        let sealed = encrypt_answer(&example(), AAD).unwrap();
        assert_eq!(sealed.metadata, b"key_version=1");
        assert_eq!(sealed.ciphertext.len(), 12);
    }

    #[test]
    fn an_answer_whose_cdiv_is_missing_or_does_not_match_is_invalid() {
        let invalid = |answer: &Value, aad: &[u8]| matches!(encrypt_answer(answer, aad), Err(XksError::InvalidResponse(_)));
        assert!(invalid(&example(), b"project=nile,department=sales"), "another AAD");
        let mut no_cdiv = example();
        no_cdiv.as_object_mut().unwrap().remove("ciphertextDataIntegrityValue");
        assert!(invalid(&no_cdiv, AAD));
        // Metadata over the spec's 20 bytes, even with a matching CDIV.
        let with_metadata = |n: usize| {
            let mut answer = example();
            let d = |m: &str| STANDARD.decode(answer[m].as_str().unwrap()).unwrap();
            let value = crate::xks::aad::cdiv(AAD, &vec![1u8; n], &d("initializationVector"), &d("ciphertext"), &d("authenticationTag"));
            answer["ciphertextMetadata"] = STANDARD.encode(vec![1u8; n]).into();
            answer["ciphertextDataIntegrityValue"] = STANDARD.encode(value).into();
            answer
        };
        assert!(encrypt_answer(&with_metadata(20), AAD).is_ok());
        assert!(invalid(&with_metadata(21), AAD));
        // One bit of any covered field changed, the CDIV left as it was.
        for (name, changed) in [
            ("ciphertext", "ghxkK1txeDNn3q8Z"),
            ("initializationVector", "HMrlRw85cAJUd5Ay"),
            ("authenticationTag", "vBxN2ncH1oEkR8WVXpmyYA=="),
            ("ciphertextMetadata", "a2V5X3ZlcnNpb249Mg=="),
            ("ciphertextDataIntegrityValue", "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsY="),
        ] {
            let mut answer = example();
            answer[name] = changed.into();
            assert!(invalid(&answer, AAD), "{name}");
        }
    }
}
