//! ListKeyPolicies: always the one name "default", as in AWS.

use serde_json::{json, Value};
use trent_model::input::ListKeyPoliciesRequest;

use super::get_key_policy::DEFAULT_POLICY_NAME;
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub async fn handle(_ctx: &OpCtx<'_>, _req: ListKeyPoliciesRequest, _key: Authorized<trent_store::KeyRecord>) -> Result<Value, KmsError> {
    Ok(json!({ "PolicyNames": [DEFAULT_POLICY_NAME], "Truncated": false }))
}
