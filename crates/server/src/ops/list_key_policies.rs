//! ListKeyPolicies: always the one name "default", as in AWS.

use serde_json::{json, Value};
use trent_model::input::ListKeyPoliciesRequest;

use super::get_key_policy::DEFAULT_POLICY_NAME;
use crate::authz::{self, Aliases};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, req: ListKeyPoliciesRequest) -> Result<Value, KmsError> {
    authz::key(ctx, &req.key_id, "kms:ListKeyPolicies", Aliases::Rejected).await?;
    Ok(json!({ "PolicyNames": [DEFAULT_POLICY_NAME], "Truncated": false }))
}
