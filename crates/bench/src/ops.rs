//! The operations the benchmark drives, and the keys and inputs each needs,
//! made through the API itself before the load starts.

use std::net::SocketAddr;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hyper::body::Bytes;
use serde_json::{json, Value};

use crate::client::{call, Error, Signer};
use crate::keys::{KeyIds, Rng};

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
#[derive(Clone)]
pub struct Workload {
    pub operation: &'static str,
    pub body: Bytes,
    /// When set, each request names a key picked at random from these.
    pub keys: Option<KeyPool>,
}

/// The keys a workload picks from, and its body around the key id.
#[derive(Clone)]
pub struct KeyPool {
    pub ids: Arc<KeyIds>,
    before: Arc<str>,
    after: Arc<str>,
}

/// Stands for the key id in a body template; no real key id contains it.
const KEY_PLACEHOLDER: &str = "@@KEY@@";

impl Workload {
    /// The body of the next request.
    pub fn body(&self, rng: &mut Rng) -> Bytes {
        let Some(pool) = &self.keys else { return self.body.clone() };
        let id = pool.ids.get(rng.below(pool.ids.len()));
        let mut body = String::with_capacity(pool.before.len() + id.len() + pool.after.len());
        body.push_str(&pool.before);
        body.push_str(id);
        body.push_str(&pool.after);
        Bytes::from(body)
    }
}

/// The operations whose only key is the symmetric one they name, so that
/// they can be driven against keys picked at random (`run --keys`).
pub fn takes_any_symmetric_key(name: &str) -> bool {
    matches!(name, "encrypt" | "generate-data-key" | "generate-data-key-without-plaintext" | "describe-key")
}

/// The 64-byte plaintext the issue's targets are stated for.
pub(crate) fn plaintext() -> String {
    B64.encode([7u8; 64])
}

/// A key for the measured operations, under a realistic key policy with
/// conditions (the issue's targets hold with policy evaluation on).
async fn create_key(addr: SocketAddr, signer: &Signer, spec: &str, usage: &str) -> Result<String, Error> {
    let out = call(addr, signer, "CreateKey", json!({ "KeySpec": spec, "KeyUsage": usage, "Description": "trent-bench" })).await?;
    let key_id = text(&out["KeyMetadata"]["KeyId"])?;
    let account = text(&out["KeyMetadata"]["AWSAccountId"])?;
    put_policy(addr, signer, &key_id, &account).await?;
    Ok(key_id)
}

/// Puts the benchmark's [key policy](key_policy) on `key_id`.
pub(crate) async fn put_policy(addr: SocketAddr, signer: &Signer, key_id: &str, account: &str) -> Result<(), Error> {
    call(addr, signer, "PutKeyPolicy", json!({ "KeyId": key_id, "PolicyName": "default", "Policy": key_policy(account).to_string() })).await?;
    Ok(())
}

/// AWS's default key policy, a statement for using the key from this
/// account and the loopback network, and a deny for every other account.
fn key_policy(account: &str) -> Value {
    let root = format!("arn:aws:iam::{account}:root");
    json!({
        "Version": "2012-10-17",
        "Id": "trent-bench",
        "Statement": [
            { "Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": { "AWS": root }, "Action": "kms:*", "Resource": "*" },
            {
                "Sid": "Allow use of the key from the account's own network",
                "Effect": "Allow",
                "Principal": { "AWS": root },
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Sign", "kms:Verify", "kms:GenerateMac", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": { "StringEquals": { "kms:CallerAccount": account }, "IpAddress": { "aws:SourceIp": "127.0.0.0/8" } }
            },
            {
                "Sid": "Deny every other account",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": { "StringNotEquals": { "kms:CallerAccount": account } }
            }
        ]
    })
}

pub(crate) fn text(v: &Value) -> Result<String, Error> {
    v.as_str().map(str::to_string).ok_or_else(|| format!("unexpected answer: {v}").into())
}

async fn signature(addr: SocketAddr, signer: &Signer, key: &str, algorithm: &str) -> Result<String, Error> {
    let out = call(addr, signer, "Sign", json!({ "KeyId": key, "Message": plaintext(), "SigningAlgorithm": algorithm })).await?;
    text(&out["Signature"])
}

/// Makes what `name` needs (keys, a ciphertext, a signature) and returns the
/// request to repeat. With `pool` (non-empty), the operations that
/// [take any symmetric key](takes_any_symmetric_key) pick one of its keys per
/// request instead of a key made for them.
pub async fn prepare(name: &str, addr: SocketAddr, signer: &Signer, pool: Option<&Arc<KeyIds>>) -> Result<Workload, Error> {
    let pool = pool.filter(|ids| !ids.is_empty() && takes_any_symmetric_key(name));
    let symmetric = || async move {
        match pool {
            Some(_) => Ok(KEY_PLACEHOLDER.to_string()),
            None => create_key(addr, signer, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await,
        }
    };
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
    let body = input.to_string();
    let keys = match pool {
        Some(ids) => {
            let (before, after) = body.split_once(KEY_PLACEHOLDER).ok_or("no key id in the body")?;
            Some(KeyPool { ids: ids.clone(), before: before.into(), after: after.into() })
        }
        None => None,
    };
    Ok(Workload { operation, body: Bytes::from(body), keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pooled_body_names_one_of_the_keys() {
        let mut ids = KeyIds::default();
        ids.push("k1");
        ids.push("k2");
        let pool = KeyPool { ids: Arc::new(ids), before: r#"{"KeyId":""#.into(), after: r#"","Plaintext":"AA=="}"#.into() };
        let work = Workload { operation: "Encrypt", body: Bytes::new(), keys: Some(pool) };
        let mut rng = Rng::for_worker(0);
        let bodies: Vec<Bytes> = (0..50).map(|_| work.body(&mut rng)).collect();
        for key in ["k1", "k2"] {
            let expected = Bytes::from(format!(r#"{{"KeyId":"{key}","Plaintext":"AA=="}}"#));
            assert!(bodies.contains(&expected), "{key} never picked");
        }
    }
}
