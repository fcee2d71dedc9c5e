//! DeleteAlias: removes an alias; the key it pointed to is untouched.
//! Authorization checked the alias and the key it points to; the alias is
//! deleted only if it still points there.

use serde_json::{json, Value};
use trent_model::input::DeleteAliasRequest;
use trent_store::{AliasRecord, KeyRecord};

use crate::authz::{AliasScope, Authorized};
use crate::keys::OpCtx;
use crate::keys::alias as aliases;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, _req: DeleteAliasRequest, alias: Authorized<AliasScope>, current: Option<AliasRecord>, _target: Option<Authorized<KeyRecord>>) -> Result<Value, KmsError> {
    let record = current.ok_or_else(|| KmsError::internal("DeleteAlias without its alias"))?;
    aliases::delete(ctx, &alias, &record).await?;
    Ok(json!({}))
}
