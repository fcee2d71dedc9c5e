//! ListAliases: the aliases of the caller's account in this region, or
//! only those of one key, paged.

use serde_json::{json, Map, Value};
use trent_model::input::ListAliasesRequest;

use super::{decode_marker, limit, page, with_paging, Listing};
use crate::authz::Authorized;
use crate::clock::epoch_seconds;
use crate::keys::OpCtx;
use crate::keys::account as accounts;
use crate::keys::reference::alias_arn;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: ListAliasesRequest, account: Authorized<String>, key: Option<Authorized<trent_store::KeyRecord>>) -> Result<Value, KmsError> {
    // Aliases of keys whose waiting period ended are gone even if the sweeper has not run yet.
    accounts::destroy_due_keys(ctx, &account).await?;
    let limit = limit(req.limit, 100, 1000);
    let after = decode_marker(Listing::Aliases, req.marker.as_deref())?;
    let aliases = accounts::list_aliases(ctx, &account, key.as_ref(), after.as_deref(), limit + 1).await?;
    let (aliases, marker) = page(Listing::Aliases, aliases, limit, |a| &a.alias_name);
    let entries: Vec<Value> = aliases
        .iter()
        .map(|a| {
            json!({
                "AliasName": a.alias_name,
                "AliasArn": alias_arn(&a.region, &a.account_id, &a.alias_name),
                "TargetKeyId": a.target_key_id,
                "CreationDate": epoch_seconds(a.created_at),
                "LastUpdatedDate": epoch_seconds(a.updated_at),
            })
        })
        .collect();
    let mut body = Map::new();
    body.insert("Aliases".into(), Value::Array(entries));
    Ok(with_paging(body, marker))
}
