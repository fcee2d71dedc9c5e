//! IAM DeletePolicy: only a managed policy attached to no user or role.

use trent_store::{EntityKind, StoreError};

use crate::iam::access::authorize;
use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let arn = p.required("PolicyArn")?;
    shared::parse_policy_arn(ctx, arn)?;
    authorize(ctx, "iam:DeletePolicy", arn).await?;
    let policy = shared::managed_policy(ctx, arn).await?;
    if shared::attachment_counts(ctx).await?.get(policy.arn()).copied().unwrap_or(0) > 0 {
        return Err(QueryError::delete_conflict("Cannot delete a policy attached to entities."));
    }
    match ctx.state.store.delete_entity(&ctx.principal.account_id, EntityKind::Policy, policy.name(), policy.record.row_version).await {
        Ok(()) => Ok(None),
        Err(StoreError::Conflict) => Err(QueryError::concurrent_modification(format!("The policy {arn} changed while it was being deleted; try again."))),
        Err(StoreError::NotFound) => Err(QueryError::no_such_entity(format!("Policy {arn} does not exist or is not attachable."))),
        Err(e) => Err(e.into()),
    }
}
