//! TagResource: adds tags to a key, replacing the value of a tag key it already has.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{input, modify_key};
use crate::authz::{self, Aliases};
use crate::keys::{state, tags};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    key_id: String,
    tags: Vec<tags::TagInput>,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let new_tags = tags::parse(req.tags)?;
    let key = authz::key(ctx, &req.key_id, "kms:TagResource", Aliases::Rejected).await?;
    modify_key(ctx, key, |key| {
        state::not_pending_deletion(key)?;
        tags::merge(&mut key.tags, new_tags.clone())
    })
    .await?;
    Ok(json!({}))
}
