//! DescribeKey: a key's metadata, by any of the four reference forms.

use serde_json::{json, Value};

use super::{input, KeyIdInput};
use crate::authz::{self, Aliases};
use crate::keys::metadata;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: KeyIdInput = input(body)?;
    let key = authz::key(ctx, &req.key_id, "kms:DescribeKey", Aliases::Accepted).await?;
    Ok(json!({ "KeyMetadata": metadata::key_metadata(&key) }))
}
