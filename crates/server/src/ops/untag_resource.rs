//! UntagResource: removes tags by key; tag keys the key does not have are ignored, as in AWS.

use serde_json::{json, Value};
use trent_model::input::UntagResourceRequest;

use crate::keys::OpCtx;
use crate::keys::change::modify_key;
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::state;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub async fn handle(ctx: &OpCtx<'_>, req: UntagResourceRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    if req.tag_keys.iter().any(|k| k.to_ascii_lowercase().starts_with("aws:")) {
        return Err(Error::TagKeyReserved.into());
    }
    modify_key(ctx, key, |key| {
        state::not_pending_deletion(key)?;
        key.tags.retain(|t| !req.tag_keys.contains(&t.key));
        Ok(())
    })
    .await?;
    Ok(json!({}))
}
