//! RevokeGrant: a key administrator deletes a grant of the key.

use serde_json::{json, Value};
use trent_model::input::RevokeGrantRequest;

use super::dry_run_check;
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: RevokeGrantRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    crate::keys::grants::check_grant_id(&req.grant_id)?;
    let grant = ctx.state.store.get_grant(&req.grant_id).await?.filter(|g| g.key_id == key.key_id);
    let Some(grant) = grant else {
        return Err(KmsError::not_found(format!("Grant ID {} not found for key {}", req.grant_id, key.arn)));
    };
    dry_run_check(req.dry_run)?;
    match ctx.state.store.delete_grant(&grant.grant_id).await {
        // Revoked by another request meanwhile: the outcome the caller asked for.
        Ok(()) | Err(trent_store::StoreError::NotFound) => Ok(json!({})),
        Err(e) => Err(e.into()),
    }
}

