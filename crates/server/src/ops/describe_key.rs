//! DescribeKey: a key's metadata, by any of the four reference forms.

use serde_json::{json, Value};
use trent_model::input::DescribeKeyRequest;

use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::OpCtx;
use crate::keys::metadata;
use crate::protocol::error::KmsError;

pub async fn handle(_ctx: &OpCtx<'_>, _req: DescribeKeyRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    Ok(json!({ "KeyMetadata": metadata::key_metadata(&key) }))
}
