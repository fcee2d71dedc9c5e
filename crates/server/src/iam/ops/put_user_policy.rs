//! IAM PutUserPolicy: adds or replaces an inline policy of a user (validated as an identity policy, within the user's size quota).

use trent_store::EntityKind;

use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    shared::put_inline(ctx, EntityKind::User, p).await
}
