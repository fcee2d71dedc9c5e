//! TagResource: adds tags to a key, replacing the value of a tag key it already has.

use serde_json::{json, Value};
use trent_model::input::TagResourceRequest;

use super::modify_key;
use crate::authz::{self, Aliases};
use crate::keys::{state, tags};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: TagResourceRequest) -> Result<Value, KmsError> {
    let new_tags = tags::parse(super::tag_inputs(req.tags))?;
    let key = authz::key(ctx, &req.key_id, "kms:TagResource", Aliases::Rejected).await?;
    modify_key(ctx, key, |key| {
        state::not_pending_deletion(key)?;
        tags::merge(&mut key.tags, new_tags.clone())
    })
    .await?;
    Ok(json!({}))
}
