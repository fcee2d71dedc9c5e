//! DeleteAlias: removes an alias; the key it pointed to is untouched.
//! Authorization checked the alias and the key it points to; the alias is
//! deleted only if it still points there.

use serde_json::{json, Value};
use trent_model::input::DeleteAliasRequest;
use trent_store::{AliasRecord, KeyRecord, StoreError};

use crate::authz::{AliasScope, Authorized};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, _req: DeleteAliasRequest, alias: Authorized<AliasScope>, current: Option<AliasRecord>, _target: Option<Authorized<KeyRecord>>) -> Result<Value, KmsError> {
    let record = current.ok_or_else(|| KmsError::internal("DeleteAlias without its alias"))?;
    match ctx.state.store.delete_alias(&alias.account_id, &alias.region, &alias.name, &record.target_key_id).await {
        Ok(()) => Ok(json!({})),
        Err(StoreError::NotFound) => Err(alias.not_found()),
        Err(StoreError::Conflict) => Err(super::alias_moved(&alias)),
        Err(e) => Err(e.into()),
    }
}
