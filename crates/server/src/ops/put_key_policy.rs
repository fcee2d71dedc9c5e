//! PutKeyPolicy: replaces a key's policy with a validated document.

use serde::Deserialize;
use serde_json::{json, Value};

use super::get_key_policy::check_policy_name;
use super::{editable, input, save_key};
use crate::authz::{self, Aliases};
use crate::keys::{policy, state};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    key_id: String,
    policy_name: Option<String>,
    policy: String,
    #[allow(dead_code)] // Accepted; the lockout check comes with the policy engine.
    bypass_policy_lockout_safety_check: Option<bool>,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let mut key = editable(authz::key(ctx, &req.key_id, "kms:PutKeyPolicy", Aliases::Rejected).await?);
    check_policy_name(req.policy_name.as_deref())?;
    policy::validate(&req.policy)?;
    state::not_pending_deletion(&key)?;
    key.policy = req.policy;
    save_key(ctx, &key).await?;
    Ok(json!({}))
}
