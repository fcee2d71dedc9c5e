//! IAM DeleteUser: only a user with no access keys and no policies, as IAM
//! demands; its principal goes with it, so it can sign nothing more.

use trent_store::{EntityKind, StoreError};

use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let user = shared::target(ctx, EntityKind::User, p, "iam:DeleteUser").await?;
    if !ctx.state.store.list_access_keys(user.arn()).await?.is_empty() {
        return Err(QueryError::delete_conflict("Cannot delete entity, must delete access keys first."));
    }
    if !user.doc.inline.is_empty() {
        return Err(QueryError::delete_conflict("Cannot delete entity, must delete policies first."));
    }
    if !user.doc.attached.is_empty() {
        return Err(QueryError::delete_conflict("Cannot delete entity, must detach all policies first."));
    }
    match ctx.state.store.delete_entity(&ctx.principal.account_id, EntityKind::User, user.name(), user.record.row_version).await {
        Ok(()) => Ok(None),
        Err(StoreError::Conflict) => Err(QueryError::concurrent_modification(format!("The user {} changed while it was being deleted; try again.", user.name()))),
        Err(StoreError::NotFound) => Err(crate::iam::entity::not_found(EntityKind::User, &ctx.principal.account_id, user.name())),
        Err(e) => Err(e.into()),
    }
}
