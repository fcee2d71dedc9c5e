//! DisableKeyRotation: no more automatic rotations. Earlier material stays,
//! and on-demand rotation remains possible.

use serde_json::{json, Value};
use trent_model::input::DisableKeyRotationRequest;

use super::modify_key;
use crate::authz::{self, Aliases};
use crate::keys::rotation::check_rotatable;
use crate::keys::state;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: DisableKeyRotationRequest) -> Result<Value, KmsError> {
    let key = authz::key(ctx, &req.key_id, "kms:DisableKeyRotation", Aliases::Rejected).await?;
    check_rotatable(&key)?;
    modify_key(ctx, key, |key| {
        state::usable_for_crypto(key)?;
        let r = &mut key.rotation;
        r.period_days = None;
        r.next_at = None;
        r.base = None;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}
