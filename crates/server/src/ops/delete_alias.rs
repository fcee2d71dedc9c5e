//! DeleteAlias: removes an alias; the key it pointed to is untouched.

use serde::Deserialize;
use serde_json::{json, Value};
use trent_store::StoreError;

use super::input;
use crate::authz;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    alias_name: String,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let alias = authz::alias(ctx, &req.alias_name)?;
    match ctx.state.store.delete_alias(&alias.account_id, &alias.region, &alias.name).await {
        Ok(()) => Ok(json!({})),
        Err(StoreError::NotFound) => Err(alias.not_found()),
        Err(e) => Err(e.into()),
    }
}
