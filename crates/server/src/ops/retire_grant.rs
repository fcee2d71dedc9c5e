//! RetireGrant: ends a grant. Authorization found the grant (by its token
//! or by key id and grant id) and checked the caller may retire it.

use serde_json::{json, Value};
use trent_model::input::RetireGrantRequest;
use trent_store::GrantRecord;

use super::dry_run_check;
use crate::authz::Authorized;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: RetireGrantRequest, grant: Authorized<GrantRecord>) -> Result<Value, KmsError> {
    dry_run_check(req.dry_run)?;
    match ctx.state.store.delete_grant(&grant.grant_id).await {
        Ok(()) | Err(trent_store::StoreError::NotFound) => Ok(json!({})),
        Err(e) => Err(e.into()),
    }
}
