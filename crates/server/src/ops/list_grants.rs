//! ListGrants: the grants of a key, paged, optionally one grant or one grantee's.

use serde_json::{json, Map, Value};
use trent_model::input::ListGrantsRequest;
use trent_store::{KeyRecord, GrantRecord};

use super::{decode_marker, limit, page, with_paging, Listing};
use crate::authz::Authorized;
use crate::clock::epoch_seconds;
use crate::keys::OpCtx;
use crate::keys::grants::{self, GrantDoc};
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: ListGrantsRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    let limit = limit(req.limit, 50, 100);
    let mut after = decode_marker(Listing::Grants, req.marker.as_deref())?;
    // Filters apply before paging, so each page is full while grants remain.
    let mut found = Vec::new();
    loop {
        let batch = grants::list(ctx, &key, after.as_deref(), 1000).await?;
        let done = batch.len() < 1000;
        after = batch.last().map(|g| g.grant_id.clone());
        found.extend(batch.into_iter().filter(|g| {
            req.grant_id.as_deref().is_none_or(|id| g.grant_id == id) && req.grantee_principal.as_deref().is_none_or(|p| g.grantee_principal == p)
        }));
        if done || found.len() > limit {
            break;
        }
    }
    let (grants, marker) = page(Listing::Grants, found, limit, |g| &g.grant_id);
    let entries = grants.iter().map(|g| entry(g, &key.arn)).collect::<Result<Vec<_>, _>>()?;
    let mut body = Map::new();
    body.insert("Grants".into(), Value::Array(entries));
    Ok(with_paging(body, marker))
}

/// A GrantListEntry.
pub fn entry(g: &GrantRecord, key_arn: &str) -> Result<Value, KmsError> {
    let doc = GrantDoc::parse(g)?;
    let mut e = json!({
        "KeyId": key_arn,
        "GrantId": g.grant_id,
        "CreationDate": epoch_seconds(g.created_at),
        "GranteePrincipal": g.grantee_principal,
        "IssuingAccount": doc.issuing_account,
        "Operations": doc.operations,
    });
    if let Some(name) = &g.name {
        e["Name"] = json!(name);
    }
    if let Some(r) = &g.retiring_principal {
        e["RetiringPrincipal"] = json!(r);
    }
    if let Some(c) = &doc.constraints {
        e["Constraints"] = serde_json::to_value(c).map_err(|err| KmsError::internal(format!("grant constraints: {err}")))?;
    }
    Ok(e)
}
