//! TagResource: adds tags to a key, replacing the value of a tag key it already has.

use serde_json::{json, Value};
use trent_model::input::TagResourceRequest;

use crate::keys::OpCtx;
use crate::keys::change::modify_key;
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::{state, tags};
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: TagResourceRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    let new_tags = tags::parse(super::tag_inputs(req.tags))?;
    modify_key(ctx, key, |key| {
        state::not_pending_deletion(key)?;
        tags::merge(&mut key.tags, new_tags.clone())
    })
    .await?;
    Ok(json!({}))
}
