//! GetKeyRotationStatus: whether automatic rotation is on, its period and
//! the next date. (Trent's on-demand rotations complete within the request,
//! so OnDemandRotationStartDate never shows one in progress.)

use serde_json::{Map, Value};
use trent_model::input::GetKeyRotationStatusRequest;

use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::clock::epoch_seconds;
use crate::keys::OpCtx;
use crate::keys::rotation::check_rotatable;
use crate::protocol::error::KmsError;

pub async fn handle(_ctx: &OpCtx<'_>, _req: GetKeyRotationStatusRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    // Imported-material keys answer "not enabled"; other key types cannot rotate at all.
    if key.origin == "AWS_KMS" {
        check_rotatable(&key)?;
    }
    let r = &key.rotation;
    let mut out = Map::new();
    out.insert("KeyRotationEnabled".into(), Value::Bool(r.period_days.is_some()));
    out.insert("KeyId".into(), Value::String(key.arn.clone()));
    if let (Some(days), Some(next)) = (r.period_days, r.next_at) {
        out.insert("RotationPeriodInDays".into(), days.into());
        out.insert("NextRotationDate".into(), epoch_seconds(next));
    }
    Ok(Value::Object(out))
}
