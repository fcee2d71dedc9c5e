//! IAM DeleteAccessKey: removes a user's key; it is refused at once.

use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let user = shared::user_or_caller(ctx, p, "iam:DeleteAccessKey").await?;
    let key_id = p.required("AccessKeyId")?;
    shared::own_access_key(ctx, &user, key_id).await?;
    match ctx.state.store.delete_access_key(key_id).await {
        Err(trent_store::StoreError::NotFound) => Err(shared::access_key_not_found(key_id)),
        other => other.map(|_| None).map_err(Into::into),
    }
}
