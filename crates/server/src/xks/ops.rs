//! The four operations of the XKS Proxy API: parse the JSON body, do the
//! work through the key backend, answer JSON.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::aad::{cdiv, gcm_aad};
use super::error::{ErrorName, XksError};
use super::keys::{KeyBackend, KeyStatus};

/// Largest plaintext or ciphertext accepted (the spec requires 4300 bytes).
pub const MAX_DATA_LEN: usize = 65536;

/// Which operation a URI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    GetKeyMetadata,
    Encrypt,
    Decrypt,
    GetHealthStatus,
}

/// What every request carries. Only the fields the proxy logs are read;
/// others (the spec says KMS may add more) are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestMetadata {
    pub aws_principal_arn: Option<String>,
    pub kms_key_arn: Option<String>,
    pub kms_operation: Option<String>,
    pub kms_request_id: Option<String>,
    pub kms_via_service: Option<String>,
}

/// A base64 field that holds a secret (the plaintext): zeroized on drop,
/// redacted in Debug.
#[derive(Default)]
struct SecretText(Zeroizing<String>);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| SecretText(Zeroizing::new(s)))
    }
}

/// Every field optional here, so a missing one gets a message naming it
/// (rather than serde's), checked by [`required`].
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    request_metadata: Option<RequestMetadata>,
    plaintext: Option<SecretText>,
    encryption_algorithm: Option<String>,
    additional_authenticated_data: Option<String>,
    ciphertext_data_integrity_value_algorithm: Option<String>,
    ciphertext: Option<String>,
    ciphertext_metadata: Option<String>,
    initialization_vector: Option<String>,
    authentication_tag: Option<String>,
}

/// A parsed request body: its metadata for the log, and the rest.
pub struct Parsed {
    pub metadata: RequestMetadata,
    body: Body,
}

/// Parses a body. Malformed JSON or a member of the wrong type is a
/// ValidationException; the message gives the position, never the content
/// (it might be plaintext).
pub fn parse(op: Operation, bytes: &[u8]) -> Result<Parsed, XksError> {
    let parsed: Result<Body, _> = serde_json::from_slice(bytes);
    let mut body = match (parsed, op) {
        (Ok(body), _) => body,
        // GetHealthStatus has no ValidationException in the spec's table:
        // it answers whatever the body.
        (Err(_), Operation::GetHealthStatus) => Body::default(),
        (Err(e), _) => {
            return Err(XksError::validation(format!(
                "The request body is not valid JSON for this operation (line {}, column {}).",
                e.line(),
                e.column()
            )))
        }
    };
    let metadata = match (body.request_metadata.take(), op) {
        (Some(m), _) => m,
        (None, Operation::GetHealthStatus) => RequestMetadata::default(),
        (None, _) => return Err(XksError::validation("requestMetadata is required.")),
    };
    if op != Operation::GetHealthStatus {
        required(&metadata.aws_principal_arn, "requestMetadata.awsPrincipalArn")?;
        required(&metadata.kms_operation, "requestMetadata.kmsOperation")?;
        required(&metadata.kms_request_id, "requestMetadata.kmsRequestId")?;
    }
    if matches!(op, Operation::Encrypt | Operation::Decrypt) {
        required(&metadata.kms_key_arn, "requestMetadata.kmsKeyArn")?;
    }
    Ok(Parsed { metadata, body })
}

fn required<'a, T>(field: &'a Option<T>, name: &str) -> Result<&'a T, XksError> {
    field.as_ref().ok_or_else(|| XksError::validation(format!("{name} is required.")))
}

fn decode(value: &str, name: &str) -> Result<Vec<u8>, XksError> {
    STANDARD
        .decode(value)
        .map_err(|_| XksError::validation(format!("{name} is not valid Base64.")))
}

fn decode_optional(value: &Option<String>, name: &str) -> Result<Vec<u8>, XksError> {
    value.as_deref().map_or(Ok(Vec::new()), |v| decode(v, name))
}

fn check_algorithm(body: &Body) -> Result<(), XksError> {
    match required(&body.encryption_algorithm, "encryptionAlgorithm")?.as_str() {
        "AES_GCM" => Ok(()),
        _ => Err(XksError::validation("encryptionAlgorithm must be AES_GCM.")),
    }
}

fn check_size(data: &[u8], name: &str) -> Result<(), XksError> {
    if data.len() > MAX_DATA_LEN {
        return Err(XksError::new(
            ErrorName::UnsupportedOperationException,
            format!("{name} longer than {MAX_DATA_LEN} bytes is not supported."),
        ));
    }
    Ok(())
}

fn disabled(key_id: &str) -> XksError {
    XksError::new(ErrorName::InvalidStateException, format!("The external key {key_id} is disabled."))
}

/// Runs `op` on `key_id` (empty for GetHealthStatus); returns the JSON answer.
pub fn run(op: Operation, key_id: &str, parsed: &Parsed, backend: &dyn KeyBackend) -> Result<Zeroizing<Vec<u8>>, XksError> {
    let body = &parsed.body;
    match op {
        Operation::GetHealthStatus => Ok(json_bytes(&serde_json::json!({
            "xksProxyFleetSize": 1,
            "xksProxyVendor": "Trent",
            "xksProxyModel": format!("Trent XKS proxy {}", env!("CARGO_PKG_VERSION")),
            "ekmVendor": backend.vendor(),
            "ekmFleetDetails": backend.health(),
        }))),
        Operation::GetKeyMetadata => {
            let key = backend.open(key_id)?;
            Ok(json_bytes(&serde_json::json!({
                "keySpec": "AES_256",
                "keyUsage": ["ENCRYPT", "DECRYPT"],
                "keyStatus": key.status().as_str(),
            })))
        }
        Operation::Encrypt => encrypt(key_id, body, backend),
        Operation::Decrypt => decrypt(key_id, body, backend),
    }
}

fn encrypt(key_id: &str, body: &Body, backend: &dyn KeyBackend) -> Result<Zeroizing<Vec<u8>>, XksError> {
    let plaintext_b64 = required(&body.plaintext, "plaintext")?;
    check_algorithm(body)?;
    let want_cdiv = match body.ciphertext_data_integrity_value_algorithm.as_deref() {
        None => false,
        Some("SHA_256") => true,
        Some(_) => return Err(XksError::validation("ciphertextDataIntegrityValueAlgorithm must be SHA_256.")),
    };
    let plaintext = Zeroizing::new(decode(&plaintext_b64.0, "plaintext")?);
    check_size(&plaintext, "plaintext")?;
    let aad = decode_optional(&body.additional_authenticated_data, "additionalAuthenticatedData")?;
    // This proxy returns no ciphertextMetadata, so the metadata part is empty.
    let gcm = gcm_aad(&aad, b"")?;
    let key = backend.open(key_id)?;
    if key.status() != KeyStatus::Enabled {
        return Err(disabled(key_id));
    }
    let sealed = key.encrypt(&plaintext, &gcm)?;
    let mut answer = serde_json::json!({
        "ciphertext": STANDARD.encode(&sealed.ciphertext),
        "initializationVector": STANDARD.encode(&sealed.iv),
        "authenticationTag": STANDARD.encode(&sealed.tag),
    });
    if want_cdiv {
        // Appendix C: compute the CDIV first, then prove the output decrypts,
        // so a corruption after this point cannot go unnoticed.
        let value = cdiv(&aad, b"", &sealed.iv, &sealed.ciphertext, &sealed.tag);
        let check = key.decrypt(&sealed.iv, &sealed.ciphertext, &sealed.tag, &gcm)?;
        if check.as_bytes() != plaintext.as_slice() {
            tracing::error!("xks-proxy: an encryption under key {key_id} did not decrypt back");
            return Err(XksError::internal());
        }
        answer["ciphertextDataIntegrityValue"] = STANDARD.encode(value).into();
    }
    Ok(json_bytes(&answer))
}

fn json_bytes(v: &serde_json::Value) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(v.to_string().into_bytes())
}

fn decrypt(key_id: &str, body: &Body, backend: &dyn KeyBackend) -> Result<Zeroizing<Vec<u8>>, XksError> {
    let ciphertext = decode(required(&body.ciphertext, "ciphertext")?, "ciphertext")?;
    check_algorithm(body)?;
    let iv = decode(required(&body.initialization_vector, "initializationVector")?, "initializationVector")?;
    let tag = decode(required(&body.authentication_tag, "authenticationTag")?, "authenticationTag")?;
    check_size(&ciphertext, "ciphertext")?;
    let aad = decode_optional(&body.additional_authenticated_data, "additionalAuthenticatedData")?;
    let metadata = decode_optional(&body.ciphertext_metadata, "ciphertextMetadata")?;
    let gcm = gcm_aad(&aad, &metadata)?;
    let key = backend.open(key_id)?;
    if key.status() != KeyStatus::Enabled {
        return Err(disabled(key_id));
    }
    let plaintext = key.decrypt(&iv, &ciphertext, &tag, &gcm)?;
    // Built by hand into a zeroizing buffer: Base64 needs no JSON escaping.
    let encoded = Zeroizing::new(STANDARD.encode(plaintext.as_bytes()));
    let mut out = Zeroizing::new(Vec::with_capacity(encoded.len() + 16));
    out.extend_from_slice(b"{\"plaintext\":\"");
    out.extend_from_slice(encoded.as_bytes());
    out.extend_from_slice(b"\"}");
    Ok(out)
}
