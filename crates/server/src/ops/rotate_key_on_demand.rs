//! RotateKeyOnDemand: new key material now, at most 25 times per key. The
//! automatic schedule, if any, is unchanged. A key with imported material
//! rotates to the material imported for it (PENDING_ROTATION), which must
//! be there first.

use serde_json::{json, Value};
use trent_model::input::RotateKeyOnDemandRequest;
use trent_store::KeyRecord;

use crate::authz::Authorized;
use crate::keys::{state, OpCtx};
use crate::keys::rotation::{check_rotatable_on_demand, rotate_on_demand};
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, _req: RotateKeyOnDemandRequest, authorized: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    // AWS checks the key's state before its type: a disabled asymmetric
    // key is DisabledException.
    state::not_disabled(&authorized)?;
    check_rotatable_on_demand(&authorized)?;
    crate::keys::rotation::check_not_replica(&authorized)?;
    let rotated = rotate_on_demand(ctx, authorized).await?;
    Ok(json!({ "KeyId": rotated.arn }))
}
