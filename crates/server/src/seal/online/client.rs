//! `trent operator rotate-root --endpoint URL`: asks a running server to
//! rotate its root key (`TrentAdmin.RotateRoot`, signed as `trent
//! operator seal` is) and waits until it is done.

use std::time::Duration;

use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::call::{ROTATE_TARGET, STATUS_TARGET};
use crate::seal::operator::{credentials, send, signed_call};
use crate::seal::rotate::RotateOptions;

pub async fn run(endpoint: &str, options: &RotateOptions) -> Result<(), String> {
    let online = &options.online;
    // The mode says what the server needs to wrap the new key.
    let (_, answer) = send(endpoint, hyper::Request::get("/trent/seal-status"), Vec::new()).await?;
    let seal: Value = serde_json::from_slice(&answer).map_err(|e| format!("the seal status: {e}"))?;
    if seal["sealed"] == true {
        return Err("the server is sealed: unseal it first".to_owned());
    }
    let mut body = json!({ "BatchSize": options.batch_size });
    // The status carried no secret; the passphrase or shares would.
    let secret_over = |what: &str| online.plain_http.check(endpoint, what);
    match seal["mode"].as_str() {
        Some("passphrase") => {
            secret_over("the passphrase")?;
            let passphrase = options.passphrase.read(false)?;
            let text = Zeroizing::new(String::from_utf8(passphrase.as_bytes().to_vec()).map_err(|_| "the passphrase is not UTF-8 text".to_owned())?);
            body["Passphrase"] = json!(*text);
        }
        Some("shamir") => {
            secret_over("the unseal shares")?;
            let threshold = seal["threshold"].as_u64().and_then(|t| u8::try_from(t).ok()).ok_or("the seal status has no threshold")?;
            let shares = crate::seal::rekey::read_shares(threshold)?;
            body["Shares"] = json!(shares.iter().map(|s| hex::encode(s.as_bytes())).collect::<Vec<_>>());
        }
        _ => {}
    }
    let body = Zeroizing::new(serde_json::to_vec(&body).map_err(|e| e.to_string())?);
    let creds = credentials(&online.profile)?;
    let (status, answer) = signed_call(endpoint, &online.region, &creds, ROTATE_TARGET, body.to_vec()).await?;
    if status != 200 {
        return Err(format!("rotate-root refused ({status}): {}", String::from_utf8_lossy(&answer)));
    }
    println!("Rotating the root key of {endpoint} while it serves...");
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (status, answer) = signed_call(endpoint, &online.region, &creds, STATUS_TARGET, b"{}".to_vec()).await?;
        let v: Value = serde_json::from_slice(&answer).unwrap_or_default();
        if status != 200 {
            return Err(format!("the rotation's status ({status}): {}", String::from_utf8_lossy(&answer)));
        }
        match v["State"].as_str() {
            Some("RUNNING") => continue,
            Some("DONE") => {
                println!("Rotated the root key: generation {}, {} values resealed. The old root key opens nothing stored now.", v["Generation"], v["Resealed"]);
                return Ok(());
            }
            Some("FAILED") => return Err(format!("the rotation failed: {}; nothing is lost: run rotate-root again", v["Error"].as_str().unwrap_or("no reason given"))),
            _ => return Err("the rotation stopped (the server was sealed or restarted): run rotate-root again to resume it".to_owned()),
        }
    }
}
