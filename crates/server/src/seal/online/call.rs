//! `TrentAdmin.RotateRoot` and `TrentAdmin.RotateRootStatus` on the KMS
//! endpoint (SigV4), for the deployment's operator only, as
//! `TrentAdmin.Seal`. Each call is its own request event; the body (which
//! may hold the passphrase or shares) is never logged.
//!
//! `RotateRoot` takes `{"Passphrase": "..."}` in passphrase mode and
//! `{"Shares": ["share 1: HEX", ...]}` (K of them) in Shamir mode: the
//! server keeps neither after unsealing, and needs the key-encryption key
//! again to wrap the new root key. Other modes need nothing (`file`: the
//! key file; `pkcs11`: the PIN the server started with; `kms`: the outer
//! key). `"BatchSize"` sets the values resealed per transaction. It starts
//! the rotation (or resumes one left by a crash) and answers at once;
//! `RotateRootStatus` tells where it stands.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use trent_crypto::SecretBytes;
use zeroize::Zeroizing;

use super::{Job, Status};
use crate::protocol::error::{ErrorCode, KmsError};
use crate::seal::config::{self, SealConfig};
use crate::seal::rotate::{open_current, Secret};
use crate::state::{AppState, Principal};

pub const ROTATE_TARGET: &str = "TrentAdmin.RotateRoot";
pub const ROTATE_EVENT: &str = "TrentRotateRoot";
pub const STATUS_TARGET: &str = "TrentAdmin.RotateRootStatus";
pub const STATUS_EVENT: &str = "TrentRotateRootStatus";

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Body {
    passphrase: Option<String>,
    shares: Option<Vec<String>>,
    batch_size: Option<u32>,
}

/// `TrentAdmin.RotateRootStatus`.
pub async fn status_call(state: &AppState, principal: &Principal) -> Result<Value, KmsError> {
    crate::seal::http::require_operator(state, principal, "see the root key rotation of").await?;
    let gate = state.sealer.upgrade().ok_or_else(|| KmsError::internal("no seal gate"))?;
    Ok(serde_json::to_value(gate.rotation_status()).unwrap_or_default())
}

/// `TrentAdmin.RotateRoot`.
pub async fn rotate_call(state: &Arc<AppState>, principal: &Principal, body: &[u8]) -> Result<Value, KmsError> {
    crate::seal::http::require_operator(state, principal, "rotate the root key of").await?;
    let invalid = |m: String| KmsError::new(ErrorCode::Validation, m);
    let body: Body = if body.is_empty() { Body::default() } else { serde_json::from_slice(body).map_err(|e| invalid(format!("the body: {e}")))? };
    let batch = body.batch_size.unwrap_or(200);
    if !(1..=10_000).contains(&batch) {
        return Err(invalid("BatchSize is from 1 to 10000".to_owned()));
    }
    let gate = state.sealer.upgrade().ok_or_else(|| KmsError::internal("no seal gate"))?;
    let options = &gate.starter().options;
    let store = state.store.as_ref();
    let stored = config::load_exact(store).await.map_err(KmsError::internal)?;
    let seal_config = stored.as_ref().map_or(SealConfig::File, |(c, _)| c.clone());
    // Wiped once read, as the unseal endpoint's share.
    let passphrase = body.passphrase.map(Zeroizing::new);
    let shares = body.shares.map(|s| s.into_iter().map(Zeroizing::new).collect::<Vec<_>>());
    let secret = match (&seal_config, passphrase, shares) {
        (SealConfig::Passphrase { .. }, Some(p), None) => Secret::Passphrase(SecretBytes::new(p.as_bytes().to_vec())),
        (SealConfig::Shamir { .. }, None, Some(shares)) => {
            let parsed = shares.iter().map(|s| crate::seal::gate::parse_share(&SecretBytes::new(s.as_bytes().to_vec()))).collect::<Result<Vec<_>, _>>().map_err(invalid)?;
            Secret::Shares(parsed)
        }
        (SealConfig::Passphrase { .. }, _, _) => return Err(invalid("a passphrase deployment: give its passphrase (Passphrase), and no shares".to_owned())),
        (SealConfig::Shamir { threshold, .. }, _, _) => return Err(invalid(format!("a shamir deployment: give {threshold} of its shares (Shares), and no passphrase"))),
        (_, None, None) => Secret::None,
        (c, _, _) => return Err(invalid(format!("a {}-mode deployment takes no passphrase or shares", c.mode()))),
    };
    let status = gate.rotation();
    // One rotation at a time on this server: claimed before anything slow.
    {
        let mut now = status.lock().unwrap_or_else(|e| e.into_inner());
        if now.state == "RUNNING" {
            return Ok(serde_json::to_value(&*now).unwrap_or_default());
        }
        *now = Status::running(None);
    }
    // Never beside an offline rekey (see change_lock); held until the rotation ends.
    let change = crate::seal::change_lock::acquire(&options.data_dir, "trent operator rotate-root --endpoint").map_err(|e| KmsError::new(ErrorCode::Conflict, e));
    let prepared = match change {
        Ok(change) => prepare(state, &seal_config, &options.data_dir, secret, &options.seal.pin).await.map(|rewrap| (rewrap, change)),
        Err(e) => Err(e),
    };
    let (rewrap, change) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => {
            super::set(&status, Status::IDLE);
            return Err(e);
        }
    };
    let job = Job { dir: options.data_dir.clone(), rewrap, config: stored.map(|(_, bytes)| bytes), batch: batch as usize, shared: options.store != "sqlite", _change: change };
    let task = tokio::spawn(super::run(state.clone(), job, status.clone()));
    gate.track(task).await;
    Ok(serde_json::json!({ "State": "RUNNING" }))
}

/// Opens the root key the seal configuration wraps with what was given
/// (a wrong passphrase or share stops here), checks it is the one this
/// server holds (the old one, while a rotation is in progress), and keeps
/// what wraps the new key the same way.
async fn prepare(state: &AppState, seal_config: &SealConfig, dir: &std::path::Path, secret: Secret, pin: &crate::seal::pkcs11::PinSource) -> Result<crate::seal::rotate::Rewrap, KmsError> {
    let (opened, rewrap) = open_current(seal_config, &dir.join("root.key"), secret, pin).await.map_err(|e| KmsError::new(ErrorCode::AccessDenied, e))?;
    let held = state.root_key.load();
    let same = match held.previous() {
        Some(previous) => opened.same_as(previous),
        None => opened.same_as(&held),
    };
    if !same {
        return Err(KmsError::new(ErrorCode::Conflict, "the seal configuration does not wrap the root key this server holds (rekeyed or rotated by another process?): restart the server"));
    }
    Ok(rewrap)
}
