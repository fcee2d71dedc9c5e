//! IAM AttachUserPolicy: attaches a managed policy of the account to a user (idempotent; at most 10).

use trent_store::EntityKind;

use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    shared::attach(ctx, EntityKind::User, p).await
}
