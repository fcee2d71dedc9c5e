//! UpdateAlias: points an existing alias at another key of the same type
//! and usage. Authorization checked the alias, the key it points to now and
//! the new key; the change applies only if the alias still points where it
//! did when that was checked.

use serde_json::{json, Value};
use trent_model::input::UpdateAliasRequest;
use trent_store::{AliasRecord, KeyRecord};

use crate::authz::{AliasScope, Authorized};
use crate::keys::OpCtx;
use crate::keys::{alias as aliases, state};
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, _req: UpdateAliasRequest, alias: Authorized<AliasScope>, current: Option<AliasRecord>, target: Option<Authorized<KeyRecord>>) -> Result<Value, KmsError> {
    let (Some(record), Some(key)) = (current, target) else { return Err(KmsError::internal("UpdateAlias without its alias and target")) };
    state::not_pending_deletion(&key)?;
    aliases::update(ctx, &alias, record, &key).await?;
    Ok(json!({}))
}
