//! ScheduleKeyDeletion: the key becomes unusable now and is destroyed after
//! a waiting period of 7 to 30 days (default 30), unless cancelled.

use serde_json::{json, Value};
use trent_model::input::ScheduleKeyDeletionRequest;
use trent_store::{KeyRecord, KeyState};

use crate::keys::OpCtx;
use crate::keys::change::modify_key;
use crate::authz::Authorized;
use crate::clock::epoch_seconds;
use crate::keys::state;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

const MIN_DAYS: i64 = 7;
const MAX_DAYS: i64 = 30;
const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

pub async fn handle(ctx: &OpCtx<'_>, req: ScheduleKeyDeletionRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    let days = req.pending_window_in_days.unwrap_or(MAX_DAYS);
    // The model allows 1-365; KMS keys (not replicas' special cases) take 7-30.
    if !(MIN_DAYS..=MAX_DAYS).contains(&days) {
        let bound = if days < MIN_DAYS { format!("greater than or equal to {MIN_DAYS}") } else { format!("less than or equal to {MAX_DAYS}") };
        return Err(Error::PendingWindow { days: days.to_string(), bound }.into());
    }
    let deletion_date = ctx.now() + days * DAY_MILLIS;
    let key = modify_key(ctx, key, |key| {
        state::not_pending_deletion(key)?;
        key.state = KeyState::PendingDeletion;
        key.deletion_date = Some(deletion_date);
        key.pending_window_days = Some(days as i32);
        Ok(())
    })
    .await?;
    Ok(json!({
        "KeyId": key.arn,
        "DeletionDate": epoch_seconds(deletion_date),
        "KeyState": key.state.as_str(),
        "PendingWindowInDays": days,
    }))
}
