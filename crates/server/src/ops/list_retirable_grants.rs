//! ListRetirableGrants: the grants a principal may retire, on any key.
//! Authorized by the caller's identity policies alone (dispatch).

use serde_json::{Map, Value};
use trent_model::input::ListRetirableGrantsRequest;

use super::list_grants::entry;
use super::{decode_marker, limit, page, with_paging, Listing};
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keys::account as accounts;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub async fn handle(ctx: &OpCtx<'_>, req: ListRetirableGrantsRequest, account: Authorized<String>) -> Result<Value, KmsError> {
    // Optional in the model, needed here: refused as before the typed inputs,
    // when reading the body into a struct that required it failed.
    let Some(retiring_principal) = req.retiring_principal else {
        return Err(Error::RetiringPrincipalRequired.into());
    };
    // As in AWS, only about principals of the caller's own account.
    accounts::check_retiring_principal(ctx, &account, &retiring_principal)?;
    let limit = limit(req.limit, 50, 100);
    let after = decode_marker(Listing::Grants, req.marker.as_deref())?;
    let grants = accounts::retirable_grants(ctx, &account, &retiring_principal, after.as_deref(), limit + 1).await?;
    let (grants, marker) = page(Listing::Grants, grants, limit, |g| &g.grant_id);
    let mut entries = Vec::with_capacity(grants.len());
    for g in &grants {
        // Only keys in this region: grants on others are not this endpoint's to show.
        if let Some(key_arn) = accounts::retirable_grant_key(ctx, g).await? {
            entries.push(entry(g, &key_arn)?);
        }
    }
    let mut body = Map::new();
    body.insert("Grants".into(), Value::Array(entries));
    Ok(with_paging(body, marker))
}
