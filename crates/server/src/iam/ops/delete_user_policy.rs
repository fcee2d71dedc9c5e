//! IAM DeleteUserPolicy: removes an inline policy of a user.

use trent_store::EntityKind;

use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    shared::delete_inline(ctx, EntityKind::User, p).await
}
