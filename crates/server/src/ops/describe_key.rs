//! DescribeKey: a key's metadata, by any of the four reference forms.

use serde_json::{json, Value};
use trent_model::input::DescribeKeyRequest;

use crate::authz::{self, Aliases};
use crate::keys::metadata;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: DescribeKeyRequest) -> Result<Value, KmsError> {
    let key = authz::key(ctx, &req.key_id, "kms:DescribeKey", Aliases::Accepted).await?;
    Ok(json!({ "KeyMetadata": metadata::key_metadata(&key) }))
}
