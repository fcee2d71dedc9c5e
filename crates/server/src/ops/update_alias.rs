//! UpdateAlias: points an existing alias at another key of the same type
//! and usage. Authorization checked the alias, the key it points to now and
//! the new key; the change applies only if the alias still points where it
//! did when that was checked.

use serde_json::{json, Value};
use trent_model::input::UpdateAliasRequest;
use trent_store::{AliasRecord, KeyRecord, StoreError};

use crate::authz::{AliasScope, Authorized};
use crate::keys::state;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, _req: UpdateAliasRequest, alias: Authorized<AliasScope>, current: Option<AliasRecord>, target: Option<Authorized<KeyRecord>>) -> Result<Value, KmsError> {
    let (Some(mut record), Some(key)) = (current, target) else { return Err(KmsError::internal("UpdateAlias without its alias and target")) };
    state::not_pending_deletion(&key)?;
    if let Some(current) = ctx.state.store.get_key(&record.target_key_id).await? {
        if current.key_spec != key.key_spec || current.key_usage != key.key_usage {
            return Err(KmsError::validation(format!(
                "{} has a different key spec or key usage than the key the alias points to; an alias can only move between keys of the same type and usage.",
                key.arn
            )));
        }
    }
    let checked = std::mem::replace(&mut record.target_key_id, key.key_id.clone());
    record.updated_at = ctx.now();
    match ctx.state.store.update_alias(&record, &checked).await {
        Ok(()) => Ok(json!({})),
        Err(StoreError::NotFound) => Err(alias.not_found()),
        Err(StoreError::Conflict) => Err(super::alias_moved(&alias)),
        Err(e) => Err(e.into()),
    }
}
