//! ListResourceTags: a key's tags, paged (at most 50 a page).

use serde_json::{json, Map, Value};
use trent_model::input::ListResourceTagsRequest;

use super::{decode_marker, limit, page, with_paging, Listing};
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub async fn handle(_ctx: &OpCtx<'_>, req: ListResourceTagsRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    let limit = limit(req.limit, 50, 50);
    let mut tags = key.tags.clone();
    tags.sort_by(|a, b| a.key.cmp(&b.key));
    if let Some(after) = decode_marker(Listing::Tags, req.marker.as_deref())? {
        tags.retain(|t| t.key > after);
    }
    let (tags, marker) = page(Listing::Tags, tags, limit, |t| &t.key);
    let entries: Vec<Value> = tags.iter().map(|t| json!({ "TagKey": t.key, "TagValue": t.value })).collect();
    let mut body = Map::new();
    body.insert("Tags".into(), Value::Array(entries));
    Ok(with_paging(body, marker))
}
