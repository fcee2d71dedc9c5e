//! IAM PutRolePolicy: adds or replaces an inline policy of a role (validated as an identity policy, within the role's size quota).

use trent_store::EntityKind;

use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    shared::put_inline(ctx, EntityKind::Role, p).await
}
