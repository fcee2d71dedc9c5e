//! ScheduleKeyDeletion: the key becomes unusable now and is destroyed after
//! a waiting period of 7 to 30 days (default 30), unless cancelled. A
//! multi-Region primary with replicas waits in PendingReplicaDeletion for
//! its replicas to be destroyed first (`keys::multi_region::schedule_deletion`).

use serde_json::{json, Value};
use trent_model::input::ScheduleKeyDeletionRequest;
use trent_store::KeyRecord;

use crate::keys::OpCtx;
use crate::authz::Authorized;
use crate::clock::epoch_seconds;
use crate::keys::multi_region;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

const MIN_DAYS: i64 = 7;
const MAX_DAYS: i64 = 30;

pub async fn handle(ctx: &OpCtx<'_>, req: ScheduleKeyDeletionRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    let days = req.pending_window_in_days.unwrap_or(MAX_DAYS);
    // The model allows 1-365; KMS keys (not replicas' special cases) take 7-30.
    if !(MIN_DAYS..=MAX_DAYS).contains(&days) {
        let bound = if days < MIN_DAYS { format!("greater than or equal to {MIN_DAYS}") } else { format!("less than or equal to {MAX_DAYS}") };
        return Err(Error::PendingWindow { days: days.to_string(), bound }.into());
    }
    let key = multi_region::schedule_deletion(ctx, key, ctx.now(), days as i32).await?;
    let mut answer = json!({
        "KeyId": key.arn,
        "KeyState": key.state.as_str(),
        "PendingWindowInDays": days,
    });
    // A multi-Region primary waiting for its replicas has no date yet (AWS omits it).
    if let Some(date) = key.deletion_date {
        answer["DeletionDate"] = epoch_seconds(date);
    }
    Ok(answer)
}
