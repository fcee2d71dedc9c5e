//! ListRetirableGrants: the grants a principal may retire, on any key.
//! Authorized by the caller's identity policies alone (dispatch).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::list_grants::entry;
use super::{decode_marker, input, limit, page, with_paging, Listing};
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    retiring_principal: String,
    limit: Option<i64>,
    marker: Option<String>,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    // As in AWS, only about principals of the caller's own account.
    if req.retiring_principal.split(':').nth(4).unwrap_or(&req.retiring_principal) != ctx.principal.account_id {
        return Err(KmsError::new(
            ErrorCode::AccessDenied,
            format!("User: {} is not authorized to perform: kms:ListRetirableGrants for principal {}: it is not in account {}", ctx.principal.arn, req.retiring_principal, ctx.principal.account_id),
        ));
    }
    let limit = limit(req.limit, 50, 100);
    let after = decode_marker(Listing::Grants, req.marker.as_deref())?;
    let grants = ctx.state.store.list_retirable_grants(&req.retiring_principal, after.as_deref(), limit + 1).await?;
    let (grants, marker) = page(Listing::Grants, grants, limit, |g| &g.grant_id);
    let mut entries = Vec::with_capacity(grants.len());
    for g in &grants {
        // Grants on keys of other regions are not this endpoint's to show.
        let Some(key) = ctx.state.store.get_key(&g.key_id).await? else { continue };
        if key.region == ctx.region {
            entries.push(entry(g, &key.arn)?);
        }
    }
    let mut body = Map::new();
    body.insert("Grants".into(), Value::Array(entries));
    Ok(with_paging(body, marker))
}
