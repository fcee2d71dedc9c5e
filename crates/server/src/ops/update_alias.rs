//! UpdateAlias: points an existing alias at another key of the same type and usage.

use serde_json::{json, Value};
use trent_model::input::UpdateAliasRequest;
use trent_store::StoreError;

use crate::authz::{self, Aliases};
use crate::keys::state;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: UpdateAliasRequest) -> Result<Value, KmsError> {
    let alias = authz::alias(ctx, &req.alias_name)?;
    let mut record = ctx.state.store.get_alias(&alias.account_id, &alias.region, &alias.name).await?.ok_or_else(|| alias.not_found())?;
    let key = authz::key(ctx, &req.target_key_id, "kms:UpdateAlias", Aliases::Rejected).await?;
    state::not_pending_deletion(&key)?;
    if let Some(current) = ctx.state.store.get_key(&record.target_key_id).await? {
        if current.key_spec != key.key_spec || current.key_usage != key.key_usage {
            return Err(KmsError::validation(format!(
                "{} has a different key spec or key usage than the key the alias points to; an alias can only move between keys of the same type and usage.",
                key.arn
            )));
        }
    }
    record.target_key_id = key.key_id.clone();
    record.updated_at = ctx.now();
    match ctx.state.store.update_alias(&record).await {
        Ok(()) => Ok(json!({})),
        Err(StoreError::NotFound) => Err(alias.not_found()),
        Err(e) => Err(e.into()),
    }
}
