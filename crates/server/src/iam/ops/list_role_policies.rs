//! IAM ListRolePolicies: lists the names of a role's inline policies, paged by name.

use trent_store::EntityKind;

use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    shared::list_inline(ctx, EntityKind::Role, p).await
}
