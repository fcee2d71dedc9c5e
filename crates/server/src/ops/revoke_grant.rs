//! RevokeGrant: a key administrator deletes a grant of the key.

use serde_json::{json, Value};
use trent_model::input::RevokeGrantRequest;

use super::dry_run_check;
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keys::grants;
use trent_store::KeyRecord;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub async fn handle(ctx: &OpCtx<'_>, req: RevokeGrantRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    grants::check_grant_id(&req.grant_id)?;
    let Some(grant) = grants::find(ctx, &key, &req.grant_id).await? else {
        return Err(Error::GrantNotFound { id: req.grant_id.clone() }.into());
    };
    dry_run_check(req.dry_run)?;
    grants::revoke(ctx, &key, &grant).await?;
    Ok(json!({}))
}

