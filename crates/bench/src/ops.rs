//! The operations the benchmark drives, and the keys and inputs each needs,
//! made through the API itself before the load starts.

use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hyper::body::Bytes;
use serde_json::{json, Value};

use crate::client::{call, Error, Signer};

pub const ALL: [&str; 13] = [
    "encrypt",
    "decrypt",
    "generate-data-key",
    "generate-data-key-without-plaintext",
    "re-encrypt",
    "sign-rsa-2048-pss",
    "verify-rsa-2048-pss",
    "sign-ecdsa-p256",
    "verify-ecdsa-p256",
    "generate-mac",
    "describe-key",
    "create-key",
    "generate-random",
];

/// One request, repeated under load.
pub struct Workload {
    pub operation: &'static str,
    pub body: Bytes,
}

/// The 64-byte plaintext the targets are stated for.
fn plaintext() -> String {
    B64.encode([7u8; 64])
}

async fn create_key(addr: SocketAddr, signer: &Signer, spec: &str, usage: &str) -> Result<String, Error> {
    let out = call(addr, signer, "CreateKey", json!({ "KeySpec": spec, "KeyUsage": usage, "Description": "trent-bench" })).await?;
    text(&out["KeyMetadata"]["KeyId"])
}

fn text(v: &Value) -> Result<String, Error> {
    v.as_str().map(str::to_string).ok_or_else(|| format!("unexpected answer: {v}").into())
}

async fn signature(addr: SocketAddr, signer: &Signer, key: &str, algorithm: &str) -> Result<String, Error> {
    let out = call(addr, signer, "Sign", json!({ "KeyId": key, "Message": plaintext(), "SigningAlgorithm": algorithm })).await?;
    text(&out["Signature"])
}

/// Makes what `name` needs (keys, a ciphertext, a signature) and returns the
/// request to repeat.
pub async fn prepare(name: &str, addr: SocketAddr, signer: &Signer) -> Result<Workload, Error> {
    let symmetric = || create_key(addr, signer, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
    let (operation, input) = match name {
        "encrypt" => ("Encrypt", json!({ "KeyId": symmetric().await?, "Plaintext": plaintext() })),
        "decrypt" | "re-encrypt" => {
            let key = symmetric().await?;
            let out = call(addr, signer, "Encrypt", json!({ "KeyId": key, "Plaintext": plaintext() })).await?;
            let blob = text(&out["CiphertextBlob"])?;
            if name == "decrypt" {
                ("Decrypt", json!({ "CiphertextBlob": blob }))
            } else {
                ("ReEncrypt", json!({ "CiphertextBlob": blob, "DestinationKeyId": symmetric().await? }))
            }
        }
        "generate-data-key" => ("GenerateDataKey", json!({ "KeyId": symmetric().await?, "KeySpec": "AES_256" })),
        "generate-data-key-without-plaintext" => {
            ("GenerateDataKeyWithoutPlaintext", json!({ "KeyId": symmetric().await?, "KeySpec": "AES_256" }))
        }
        "sign-rsa-2048-pss" | "verify-rsa-2048-pss" | "sign-ecdsa-p256" | "verify-ecdsa-p256" => {
            let (spec, algorithm) =
                if name.contains("rsa") { ("RSA_2048", "RSASSA_PSS_SHA_256") } else { ("ECC_NIST_P256", "ECDSA_SHA_256") };
            let key = create_key(addr, signer, spec, "SIGN_VERIFY").await?;
            let mut input = json!({ "KeyId": key, "Message": plaintext(), "SigningAlgorithm": algorithm });
            if name.starts_with("verify") {
                input["Signature"] = json!(signature(addr, signer, &key, algorithm).await?);
                ("Verify", input)
            } else {
                ("Sign", input)
            }
        }
        "generate-mac" => {
            let key = create_key(addr, signer, "HMAC_256", "GENERATE_VERIFY_MAC").await?;
            ("GenerateMac", json!({ "KeyId": key, "Message": plaintext(), "MacAlgorithm": "HMAC_SHA_256" }))
        }
        "describe-key" => ("DescribeKey", json!({ "KeyId": symmetric().await? })),
        "create-key" => ("CreateKey", json!({ "Description": "trent-bench load" })),
        "generate-random" => ("GenerateRandom", json!({ "NumberOfBytes": 32 })),
        other => return Err(format!("unknown operation {other:?}; one of: {}", ALL.join(", ")).into()),
    };
    Ok(Workload { operation, body: Bytes::from(input.to_string()) })
}
