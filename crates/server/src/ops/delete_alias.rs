//! DeleteAlias: removes an alias; the key it pointed to is untouched.

use serde_json::{json, Value};
use trent_model::input::DeleteAliasRequest;
use trent_store::StoreError;

use crate::authz;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: DeleteAliasRequest) -> Result<Value, KmsError> {
    let alias = authz::alias(ctx, &req.alias_name)?;
    match ctx.state.store.delete_alias(&alias.account_id, &alias.region, &alias.name).await {
        Ok(()) => Ok(json!({})),
        Err(StoreError::NotFound) => Err(alias.not_found()),
        Err(e) => Err(e.into()),
    }
}
