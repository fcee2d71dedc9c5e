//! CreateAlias: a new name for a key in the caller's account and region.
//! Authorization checked the alias (identity policies) and the target key.

use serde_json::{json, Value};
use trent_model::input::CreateAliasRequest;
use trent_store::{AliasRecord, KeyRecord, StoreError};

use crate::authz::{AliasScope, Authorized};
use crate::keys::state;
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, _req: CreateAliasRequest, alias: Authorized<AliasScope>, _current: Option<AliasRecord>, target: Option<Authorized<KeyRecord>>) -> Result<Value, KmsError> {
    let key = target.ok_or_else(|| KmsError::internal("CreateAlias without an authorized target"))?;
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
