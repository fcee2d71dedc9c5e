//! CreateAlias: a new name for a key in the caller's account and region.
//! Authorization checked the alias (identity policies) and the target key.

use serde_json::{json, Value};
use trent_model::input::CreateAliasRequest;
use trent_store::{AliasRecord, KeyRecord};

use crate::authz::{AliasScope, Authorized};
use crate::keys::OpCtx;
use crate::keys::{alias as aliases, state};
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, _req: CreateAliasRequest, alias: Authorized<AliasScope>, _current: Option<AliasRecord>, target: Option<Authorized<KeyRecord>>) -> Result<Value, KmsError> {
    let key = target.ok_or_else(|| KmsError::internal("CreateAlias without an authorized target"))?;
    state::not_pending_deletion(&key)?;
    aliases::create(ctx, &alias, &key).await?;
    Ok(json!({}))
}
