//! DescribeCustomKeyStores: the account's key stores in this Region, paged
//! by id, or the one named by id or name.

use serde_json::{Map, Value};
use trent_model::input::DescribeCustomKeyStoresRequest;

use super::{decode_marker, limit, page, with_paging, Listing};
use crate::authz::Authorized;
use crate::keys::key_stores;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: DescribeCustomKeyStoresRequest, account: Authorized<String>) -> Result<Value, KmsError> {
    if req.custom_key_store_id.is_some() && req.custom_key_store_name.is_some() {
        return Err(KmsError::validation("Specify either CustomKeyStoreId or CustomKeyStoreName, not both."));
    }
    let (stores, marker) = if let Some(id) = &req.custom_key_store_id {
        (vec![key_stores::find(ctx, &account, id).await?], None)
    } else if let Some(name) = &req.custom_key_store_name {
        (vec![key_stores::find_by_name(ctx, &account, name).await?], None)
    } else {
        let limit = limit(req.limit, 1000, 1000);
        let after = decode_marker(Listing::KeyStores, req.marker.as_deref())?;
        let stores = key_stores::list(ctx, &account, after.as_deref(), limit + 1).await?;
        page(Listing::KeyStores, stores, limit, |s| &s.id)
    };
    let mut body = Map::new();
    body.insert("CustomKeyStores".into(), Value::Array(stores.iter().map(key_stores::list_entry).collect()));
    Ok(with_paging(body, marker))
}
