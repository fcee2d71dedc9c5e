//! RotateKeyOnDemand: new key material now, at most 25 times per key. The
//! automatic schedule, if any, is unchanged. A key with imported material
//! rotates to the material imported for it (PENDING_ROTATION), which must
//! be there first.

use serde_json::{json, Value};
use trent_model::input::RotateKeyOnDemandRequest;
use trent_store::{KeyRecord, RotationType, StoreError};

use crate::authz::Authorized;
use crate::keys::materials;
use crate::keys::rotation::{check_rotatable_on_demand, rotate, RotateError, MAX_ON_DEMAND_ROTATIONS};
use crate::keys::state;
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

/// Rounds to retry when other requests change the key first.
const MAX_ATTEMPTS: usize = 8;

pub async fn handle(ctx: &Ctx, _req: RotateKeyOnDemandRequest, authorized: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    check_rotatable_on_demand(&authorized)?;
    let mut key = authorized.into_inner();
    for _ in 0..MAX_ATTEMPTS {
        state::usable_for_crypto(&key)?;
        let done = key.rotation.history.iter().filter(|r| r.kind == RotationType::OnDemand).count();
        if done >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::new(
                ErrorCode::LimitExceeded,
                format!("{} has reached the limit of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations.", key.arn),
            ));
        }
        let rotated = if key.origin == "EXTERNAL" {
            let next = materials::rotated_to_pending(&key, ctx.now())?;
            ctx.state.store.update_key(&next).await.map(|_| next).map_err(RotateError::Store)
        } else {
            rotate(ctx.state.store.as_ref(), &ctx.state.provider, &key, RotationType::OnDemand, ctx.now()).await
        };
        match rotated {
            Ok(rotated) => return Ok(json!({ "KeyId": rotated.arn })),
            // Changed meanwhile: same key, authorized above; re-read and re-check.
            Err(RotateError::Store(StoreError::Conflict)) => {
                key = super::reread_key(ctx, &key).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(KmsError::new(ErrorCode::Conflict, format!("{} is being changed by other requests; try again.", key.arn)))
}
