//! IAM DeleteRolePolicy: removes an inline policy of a role.

use trent_store::EntityKind;

use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    shared::delete_inline(ctx, EntityKind::Role, p).await
}
