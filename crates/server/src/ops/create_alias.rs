//! CreateAlias: a new name for a key in the caller's account and region.

use serde::Deserialize;
use serde_json::{json, Value};
use trent_store::{AliasRecord, StoreError};

use super::input;
use crate::authz::{self, Aliases};
use crate::keys::{alias, reference::alias_arn, state};
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    alias_name: String,
    target_key_id: String,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    alias::check_name(&req.alias_name)?;
    let name = authz::alias_name(ctx, &req.alias_name);
    let key = authz::key(ctx, &req.target_key_id, "kms:CreateAlias", Aliases::Rejected).await?;
    state::not_pending_deletion(&key)?;
    let now = ctx.now();
    let record = AliasRecord { account_id: key.account_id.clone(), region: key.region.clone(), alias_name: name.into_inner(), target_key_id: key.key_id.clone(), created_at: now, updated_at: now };
    match ctx.state.store.insert_alias(&record).await {
        Ok(()) => Ok(json!({})),
        Err(StoreError::AlreadyExists) => Err(KmsError::new(
            ErrorCode::AlreadyExists,
            format!("An alias with the name {} already exists", alias_arn(&ctx.region, &record.account_id, &record.alias_name)),
        )),
        Err(e) => Err(e.into()),
    }
}
