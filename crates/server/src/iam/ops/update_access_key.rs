//! IAM UpdateAccessKey: makes a user's key Active or Inactive; an inactive
//! key is refused from the next request on.

use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let user = shared::user_or_caller(ctx, p, "iam:UpdateAccessKey").await?;
    let key_id = p.required("AccessKeyId")?;
    let active = match p.required("Status")? {
        "Active" => true,
        "Inactive" => false,
        other => {
            return Err(QueryError::validation(format!(
                "1 validation error detected: Value '{other}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
            )))
        }
    };
    shared::own_access_key(ctx, &user, key_id).await?;
    match ctx.state.store.set_access_key_active(key_id, active).await {
        Err(trent_store::StoreError::NotFound) => Err(shared::access_key_not_found(key_id)),
        other => other.map(|_| None).map_err(Into::into),
    }
}
