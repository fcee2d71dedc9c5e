//! ListRetirableGrants: the grants a principal may retire, on any key.
//! Authorized by the caller's identity policies alone (dispatch).

use serde_json::{Map, Value};
use trent_model::input::ListRetirableGrantsRequest;

use super::list_grants::entry;
use super::{decode_marker, limit, page, with_paging, Listing};
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: ListRetirableGrantsRequest, _account: crate::authz::Authorized<String>) -> Result<Value, KmsError> {
    // Optional in the model, needed here: refused as before the typed inputs,
    // when reading the body into a struct that required it failed.
    let Some(retiring_principal) = req.retiring_principal else {
        return Err(KmsError::new(ErrorCode::Serialization, "Cannot read the request: missing field `RetiringPrincipal`"));
    };
    // As in AWS, only about principals of the caller's own account.
    if retiring_principal.split(':').nth(4).unwrap_or(&retiring_principal) != ctx.principal.account_id {
        return Err(KmsError::new(
            ErrorCode::AccessDenied,
            format!("User: {} is not authorized to perform: kms:ListRetirableGrants for principal {}: it is not in account {}", ctx.principal.arn, retiring_principal, ctx.principal.account_id),
        ));
    }
    let limit = limit(req.limit, 50, 100);
    let after = decode_marker(Listing::Grants, req.marker.as_deref())?;
    let grants = ctx.state.store.list_retirable_grants(&retiring_principal, after.as_deref(), limit + 1).await?;
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
