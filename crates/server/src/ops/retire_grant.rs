//! RetireGrant: ends a grant. Authorization found the grant (by its token
//! or by key id and grant id) and checked the caller may retire it.

use serde_json::{json, Value};
use trent_model::input::RetireGrantRequest;
use trent_store::GrantRecord;

use super::dry_run_check;
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: RetireGrantRequest, grant: Authorized<GrantRecord>) -> Result<Value, KmsError> {
    dry_run_check(req.dry_run)?;
    crate::keys::grants::retire(ctx, &grant).await?;
    Ok(json!({}))
}
