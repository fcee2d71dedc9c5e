//! ListResourceTags: a key's tags, paged (at most 50 a page).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{decode_marker, input, limit, page, with_paging};
use crate::authz::{self, Aliases};
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    key_id: String,
    limit: Option<i64>,
    marker: Option<String>,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let key = authz::key(ctx, &req.key_id, "kms:ListResourceTags", Aliases::Rejected).await?;
    let limit = limit(req.limit, 50, 50);
    let mut tags = key.tags.clone();
    tags.sort_by(|a, b| a.key.cmp(&b.key));
    if let Some(after) = decode_marker(req.marker.as_deref())? {
        // Markers name a tag key; one that never came from a page of this key is refused.
        if !after.starts_with("tag:") {
            return Err(KmsError::new(ErrorCode::InvalidMarker, "The request contains an invalid marker."));
        }
        tags.retain(|t| t.key.as_str() > &after["tag:".len()..]);
    }
    let (tags, marker) = page(tags, limit, |t| format!("tag:{}", t.key));
    let entries: Vec<Value> = tags.iter().map(|t| json!({ "TagKey": t.key, "TagValue": t.value })).collect();
    let mut body = Map::new();
    body.insert("Tags".into(), Value::Array(entries));
    Ok(with_paging(body, marker))
}
