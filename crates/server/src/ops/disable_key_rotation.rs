//! DisableKeyRotation: no more automatic rotations. Earlier material stays,
//! and on-demand rotation remains possible.

use serde_json::{json, Value};
use trent_model::input::DisableKeyRotationRequest;

use crate::keys::OpCtx;
use crate::keys::change::modify_key;
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::rotation::check_rotatable;
use crate::keys::state;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, _req: DisableKeyRotationRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    check_rotatable(&key)?;
    crate::keys::rotation::check_not_replica(&key)?;
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
