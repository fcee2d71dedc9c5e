//! IAM GetUserPolicy: returns one inline policy of a user, URL-encoded as IAM returns documents.

use trent_store::EntityKind;

use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    shared::get_inline(ctx, EntityKind::User, p).await
}
