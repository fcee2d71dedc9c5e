//! ListKeys: the keys of the caller's account in this region, paged.

use serde_json::{json, Map, Value};
use trent_model::input::ListKeysRequest;

use super::{decode_marker, limit, page, with_paging, Listing};
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keys::account as accounts;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: ListKeysRequest, account: Authorized<String>) -> Result<Value, KmsError> {
    // Keys whose waiting period ended are gone even if the sweeper has not run yet.
    accounts::destroy_due_keys(ctx, &account).await?;
    let limit = limit(req.limit, 100, 1000);
    let after = decode_marker(Listing::Keys, req.marker.as_deref())?;
    let keys = accounts::list_keys(ctx, &account, after.as_deref(), limit + 1).await?;
    let (keys, marker) = page(Listing::Keys, keys, limit, |k| &k.key_id);
    let entries: Vec<Value> = keys.iter().map(|k| json!({ "KeyId": k.key_id, "KeyArn": k.arn })).collect();
    let mut body = Map::new();
    body.insert("Keys".into(), Value::Array(entries));
    Ok(with_paging(body, marker))
}
