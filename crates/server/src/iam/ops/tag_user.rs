//! IAM TagUser: adds or replaces tags of a user (they feed `aws:PrincipalTag` later).

use trent_store::EntityKind;

use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    shared::tag(ctx, EntityKind::User, p).await
}
