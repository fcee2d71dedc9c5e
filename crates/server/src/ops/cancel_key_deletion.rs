//! CancelKeyDeletion: stops a scheduled deletion; the key comes back
//! disabled, as in AWS, so nothing uses it until someone enables it.

use serde_json::{json, Value};
use trent_model::input::CancelKeyDeletionRequest;
use trent_store::{KeyRecord, KeyState};

use crate::keys::OpCtx;
use crate::keys::change::modify_key;
use crate::authz::Authorized;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub async fn handle(ctx: &OpCtx<'_>, _req: CancelKeyDeletionRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    let key = modify_key(ctx, key, |key| {
        // A multi-Region primary waiting for its replicas may be cancelled too (AWS).
        if !matches!(key.state, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) {
            return Err(Error::NotPendingDeletion { arn: key.arn.clone() }.into());
        }
        key.state = KeyState::Disabled;
        key.deletion_date = None;
        key.pending_window_days = None;
        Ok(())
    })
    .await?;
    Ok(json!({ "KeyId": key.arn }))
}
