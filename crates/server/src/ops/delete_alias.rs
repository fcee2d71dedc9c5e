//! DeleteAlias: removes an alias; the key it pointed to is untouched.

use serde::Deserialize;
use serde_json::{json, Value};
use trent_store::StoreError;

use super::input;
use crate::authz;
use crate::keys::{alias, reference::alias_arn};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    alias_name: String,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    alias::check_name(&req.alias_name)?;
    let name = authz::alias_name(ctx, &req.alias_name);
    let account = &ctx.principal.account_id;
    match ctx.state.store.delete_alias(account, &ctx.region, &name).await {
        Ok(()) => Ok(json!({})),
        Err(StoreError::NotFound) => Err(KmsError::not_found(format!("Alias {} is not found.", alias_arn(&ctx.region, account, &name)))),
        Err(e) => Err(e.into()),
    }
}
