//! CreateAlias: a new name for a key in the caller's account and region.

use serde_json::{json, Value};
use trent_model::input::CreateAliasRequest;
use trent_store::{AliasRecord, StoreError};

use crate::authz::{self, Aliases};
use crate::keys::state;
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: CreateAliasRequest) -> Result<Value, KmsError> {
    let alias = authz::alias(ctx, &req.alias_name)?;
    let key = authz::key(ctx, &req.target_key_id, "kms:CreateAlias", Aliases::Rejected).await?;
    state::not_pending_deletion(&key)?;
    let now = ctx.now();
    let record = AliasRecord {
        account_id: alias.account_id.clone(),
        region: alias.region.clone(),
        alias_name: alias.name.clone(),
        target_key_id: key.key_id.clone(),
        created_at: now,
        updated_at: now,
    };
    match ctx.state.store.insert_alias(&record).await {
        Ok(()) => Ok(json!({})),
        Err(StoreError::AlreadyExists) => Err(KmsError::new(ErrorCode::AlreadyExists, format!("An alias with the name {} already exists", alias.arn()))),
        // The key was destroyed between the check above and the insert.
        Err(StoreError::NotFound) => Err(super::gone(&key)),
        Err(e) => Err(e.into()),
    }
}
