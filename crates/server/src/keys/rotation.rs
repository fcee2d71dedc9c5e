//! Key rotation: which keys may rotate, and the rotation itself — new
//! material made current, older versions kept so that every earlier
//! ciphertext still decrypts. The key id, ARN, aliases and policy stay.

use std::sync::Arc;

use trent_crypto::KeyProvider;
use trent_store::{KeyRecord, MaterialRecord, Millis, Rotation, RotationType, Store, StoreError};

use crate::authz::Authorized;
use crate::keys::change::reread;
use crate::keys::{materials, state, OpCtx};
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub const DEFAULT_PERIOD_DAYS: i32 = 365;
/// AWS's limit of on-demand rotations per key.
pub const MAX_ON_DEMAND_ROTATIONS: usize = 25;
pub const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// Automatic rotation: only symmetric encryption keys with material KMS
/// made (AWS: not asymmetric, HMAC, imported or custom-key-store keys).
pub fn check_rotatable(key: &KeyRecord) -> Result<(), KmsError> {
    check_symmetric(key)?;
    if key.origin != "AWS_KMS" {
        return Err(Error::OriginNotValid { arn: key.arn.clone(), origin: key.origin.clone() }.into());
    }
    Ok(())
}

/// Changing rotation (EnableKeyRotation, DisableKeyRotation,
/// RotateKeyOnDemand): not on a multi-Region replica, whose rotation is
/// its primary's (AWS: UnsupportedOperationException).
pub fn check_not_replica(key: &KeyRecord) -> Result<(), KmsError> {
    if key.is_replica() {
        return Err(Error::ReplicaRotation { arn: key.arn.clone() }.into());
    }
    Ok(())
}

/// On-demand rotation: symmetric encryption keys with material KMS made,
/// or with imported material (rotated to material imported for it).
pub fn check_rotatable_on_demand(key: &KeyRecord) -> Result<(), KmsError> {
    if key.origin == "EXTERNAL" {
        return check_symmetric(key);
    }
    check_rotatable(key)
}

fn check_symmetric(key: &KeyRecord) -> Result<(), KmsError> {
    if key.key_spec != "SYMMETRIC_DEFAULT" || key.key_usage != "ENCRYPT_DECRYPT" {
        // AWS sends this UnsupportedOperationException without a message.
        return Err(Error::RotationNotSymmetric.into());
    }
    Ok(())
}

/// The next automatic rotation for a schedule counted from `base`.
pub fn next_rotation(base: Millis, period_days: i32) -> Millis {
    base + i64::from(period_days) * DAY_MILLIS
}

/// Rotates `key` as read (compare-and-set on its `row_version`): makes new
/// material, records the rotation and saves both in one transaction.
/// `Conflict` if the key changed since it was read.
pub async fn rotate(store: &dyn Store, provider: &Arc<dyn KeyProvider>, key: &KeyRecord, kind: RotationType, now: Millis) -> Result<KeyRecord, RotateError> {
    let id = crate::keys::reference::key_id_bytes(&key.key_id).ok_or_else(|| RotateError::Internal(format!("stored key id {} is malformed", key.key_id)))?;
    let generator = provider.clone();
    let (stored, material_id) = tokio::task::spawn_blocking(move || generator.generate_symmetric(id))
        .await
        .map_err(|e| RotateError::Internal(format!("key generation task: {e}")))?
        .map_err(|e| RotateError::Internal(format!("key generation: {e}")))?;
    let material_id = hex::encode(material_id);

    let mut next = key.clone();
    let r = &mut next.rotation;
    r.initial_material_id.get_or_insert_with(|| key.current_material_id.clone());
    r.history.push(Rotation { material_id: material_id.clone(), rotated_at: now, kind });
    if kind == RotationType::Automatic {
        // The schedule continues from this rotation, even a late one (after
        // downtime or while the key was disabled).
        r.base = Some(now);
        r.next_at = r.period_days.map(|days| next_rotation(now, days));
    }
    next.current_material_id = material_id.clone();
    let material = MaterialRecord { key_id: key.key_id.clone(), material_id, stored: stored.0, created_at: now };
    next.row_version = store.rotate_key(&next, &material).await.map_err(RotateError::Store)?;
    Ok(next)
}

/// Rounds of RotateKeyOnDemand to retry when other requests change the key first.
const MAX_ON_DEMAND_ATTEMPTS: usize = 8;

/// RotateKeyOnDemand on a key [`check_rotatable_on_demand`] allowed: new
/// material now (a key with imported material: the material imported for
/// it), within [`MAX_ON_DEMAND_ROTATIONS`]; re-read and re-checked if
/// another request changed the key first. Returns the key as rotated.
pub async fn rotate_on_demand(ctx: &OpCtx<'_>, key: Authorized<KeyRecord>) -> Result<KeyRecord, KmsError> {
    let mut key = key.into_inner();
    for _ in 0..MAX_ON_DEMAND_ATTEMPTS {
        state::usable_for_crypto(&key)?;
        let done = key.rotation.history.iter().filter(|r| r.kind == RotationType::OnDemand).count();
        if done >= MAX_ON_DEMAND_ROTATIONS {
            return Err(Error::OnDemandRotationLimit { arn: key.arn.clone(), max: MAX_ON_DEMAND_ROTATIONS.to_string() }.into());
        }
        let rotated = if key.origin == "EXTERNAL" {
            let next = materials::rotated_to_pending(&key, ctx.now())?;
            // A replica that lost it meanwhile is left waiting in PendingImport (KeyRecord::share_from).
            let lacking = crate::keys::multi_region::lacking_in(ctx.store(), &key, &next.current_material_id).await?;
            if !lacking.is_empty() {
                return Err(Error::PendingMaterialNotInMembers { arn: key.arn.clone(), material: next.current_material_id.clone(), regions: lacking.join(", ") }.into());
            }
            ctx.store().update_key(&next).await.map(|_| next).map_err(RotateError::Store)
        } else {
            rotate(ctx.store(), &ctx.state().provider, &key, RotationType::OnDemand, ctx.now()).await
        };
        match rotated {
            Ok(rotated) => return Ok(rotated),
            // Changed meanwhile: same key, authorized above; re-read and re-check.
            Err(RotateError::Store(StoreError::Conflict)) => {
                key = reread(ctx, &key).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::KeyBusy { arn: key.arn.clone() }.into())
}

#[derive(Debug)]
pub enum RotateError {
    Store(StoreError),
    Internal(String),
}

impl From<RotateError> for KmsError {
    fn from(e: RotateError) -> Self {
        match e {
            RotateError::Store(e) => e.into(),
            RotateError::Internal(detail) => KmsError::internal(detail),
        }
    }
}

impl std::fmt::Display for RotateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RotateError::Store(e) => write!(f, "{e}"),
            RotateError::Internal(detail) => write!(f, "{detail}"),
        }
    }
}
