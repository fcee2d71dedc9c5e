//! IAM DeleteRole: only a role with no policies, as IAM demands. Its
//! sessions end with it: their tokens name the role's unique id.

use trent_store::{EntityKind, StoreError};

use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let role = shared::target(ctx, EntityKind::Role, p, "iam:DeleteRole").await?;
    if !role.doc.inline.is_empty() {
        return Err(QueryError::delete_conflict("Cannot delete entity, must delete policies first."));
    }
    if !role.doc.attached.is_empty() {
        return Err(QueryError::delete_conflict("Cannot delete entity, must detach all policies first."));
    }
    match ctx.state.store.delete_entity(&ctx.principal.account_id, EntityKind::Role, role.name(), role.record.row_version).await {
        Ok(()) => Ok(None),
        Err(StoreError::Conflict) => Err(QueryError::concurrent_modification(format!("The role {} changed while it was being deleted; try again.", role.name()))),
        Err(StoreError::NotFound) => Err(crate::iam::entity::not_found(EntityKind::Role, &ctx.principal.account_id, role.name())),
        Err(e) => Err(e.into()),
    }
}
