//! The `kms` seal mode (auto-unseal): the root key wrapped by a key of
//! another service that speaks the AWS KMS API (AWS KMS itself, or another
//! Trent), with its Encrypt at `init` and its Decrypt at every start. The
//! ciphertext is bound to the encryption context `{"trent-seal":
//! "root-key"}`. Credentials for that service are found as the AWS CLI
//! finds them (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, else the shared
//! credentials file's `AWS_PROFILE` or `default` profile).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use trent_crypto::{seal, RootKey, SecretBytes};
use zeroize::Zeroizing;

use super::config::{self, SealConfig};
use super::operator::{credentials, signed_call};

fn context() -> Value {
    json!({ "trent-seal": "root-key" })
}

fn profile() -> String {
    std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_owned())
}

/// Moves a secret string out of `value` into a zeroizing one, so the
/// copy in the JSON tree is not left behind.
fn take_secret(value: &mut Value) -> Zeroizing<String> {
    match value {
        Value::String(s) => Zeroizing::new(std::mem::take(s)),
        _ => Zeroizing::new(String::new()),
    }
}

async fn call(endpoint: &str, region: &str, operation: &str, body: &mut Value, secret_member: &str) -> Result<Value, String> {
    let creds = credentials(&profile())?;
    let body_bytes = serde_json::to_vec(body).map_err(|e| e.to_string());
    drop(take_secret(&mut body[secret_member]));
    let body = Zeroizing::new(body_bytes?);
    let (status, answer) = signed_call(endpoint, region, &creds, &format!("TrentService.{operation}"), body.to_vec()).await?;
    let answer = Zeroizing::new(answer);
    let value: Value = serde_json::from_slice(&answer).map_err(|_| format!("{operation} at {endpoint}: an answer that is not JSON ({status})"))?;
    if status != 200 {
        return Err(format!("{operation} at {endpoint} refused ({status}): {} {}", value["__type"].as_str().unwrap_or(""), value["message"].as_str().unwrap_or("")));
    }
    Ok(value)
}

/// `trent init --seal kms`: wraps `root` with the other service's key.
pub async fn init(root: &RootKey, endpoint: &str, region: &str, key_id: &str) -> Result<SealConfig, String> {
    let plaintext = seal::wrap_with(root, |bytes| Ok::<_, String>(B64.encode(bytes)))?;
    let mut body = json!({ "KeyId": key_id, "Plaintext": plaintext, "EncryptionContext": context() });
    let answer = call(endpoint, region, "Encrypt", &mut body, "Plaintext").await?;
    let blob = answer["CiphertextBlob"].as_str().ok_or("Encrypt answered no CiphertextBlob")?;
    Ok(SealConfig::Kms { endpoint: endpoint.to_owned(), region: region.to_owned(), key_id: key_id.to_owned(), wrapped_root: blob.to_owned() })
}

/// Opens the root key of a `kms` configuration with the other service's Decrypt.
pub async fn open(config: &SealConfig) -> Result<RootKey, String> {
    let SealConfig::Kms { endpoint, region, key_id, wrapped_root } = config else {
        return Err("not a kms deployment".to_owned());
    };
    let mut body = json!({ "KeyId": key_id, "CiphertextBlob": wrapped_root, "EncryptionContext": context() });
    let mut answer = call(endpoint, region, "Decrypt", &mut body, "CiphertextBlob").await?;
    let plaintext = take_secret(&mut answer["Plaintext"]);
    if plaintext.is_empty() {
        return Err("Decrypt answered no Plaintext".to_owned());
    }
    let bytes = config::decode(&plaintext)?;
    RootKey::from_bytes(SecretBytes::new(bytes)).map_err(|e| e.to_string())
}
