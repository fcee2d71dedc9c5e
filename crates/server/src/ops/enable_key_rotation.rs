//! EnableKeyRotation: automatic rotation every RotationPeriodInDays
//! (90-2560, default 365), the first one period after it is enabled. On a
//! key whose rotation is already enabled, a new period is counted from the
//! last automatic rotation (or from when rotation was enabled).

use serde_json::{json, Value};
use trent_model::input::EnableKeyRotationRequest;

use crate::keys::OpCtx;
use crate::keys::change::modify_key;
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::rotation::{check_rotatable, next_rotation, DEFAULT_PERIOD_DAYS};
use crate::keys::state;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: EnableKeyRotationRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    // AWS checks the key's state before its type: a disabled asymmetric
    // key is DisabledException.
    state::not_disabled(&key)?;
    check_rotatable(&key)?;
    crate::keys::rotation::check_not_replica(&key)?;
    let now = ctx.now();
    modify_key(ctx, key, |key| {
        state::usable_for_crypto(key)?;
        let r = &mut key.rotation;
        // The model bounds RotationPeriodInDays to 90..=2560.
        let period = req.rotation_period_in_days.map(|days| days as i32).or(r.period_days).unwrap_or(DEFAULT_PERIOD_DAYS);
        let base = *r.base.get_or_insert(now);
        r.period_days = Some(period);
        r.next_at = Some(next_rotation(base, period));
        Ok(())
    })
    .await?;
    Ok(json!({}))
}
