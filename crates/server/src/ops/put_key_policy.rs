//! PutKeyPolicy: replaces a key's policy with a validated document.

use serde_json::{json, Value};
use trent_model::input::PutKeyPolicyRequest;

use super::get_key_policy::check_policy_name;
use crate::keys::OpCtx;
use crate::keys::change::modify_key;
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::policy;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: PutKeyPolicyRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    check_policy_name(req.policy_name.as_deref())?;
    policy::validate(&req.policy)?;
    policy::check_principals(ctx, &key, &req.policy).await?;
    let mut after = key.clone();
    after.policy = req.policy.clone();
    policy::lockout_check(ctx, &key, &after, req.bypass_policy_lockout_safety_check == Some(true)).await?;
    // Allowed in every key state, pending deletion included, as in AWS.
    modify_key(ctx, key, |key| {
        key.policy = req.policy.clone();
        Ok(())
    })
    .await?;
    Ok(json!({}))
}
