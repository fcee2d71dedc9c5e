//! GetKeyPolicy: a key's policy document; the only policy name is "default".

use serde_json::{json, Value};
use trent_model::input::GetKeyPolicyRequest;

use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub const DEFAULT_POLICY_NAME: &str = "default";

/// Only "default" exists, as in AWS.
pub fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    match name {
        None | Some(DEFAULT_POLICY_NAME) => Ok(()),
        Some(other) => Err(Error::NoSuchPolicy { name: other.to_owned() }.into()),
    }
}

pub async fn handle(_ctx: &OpCtx<'_>, req: GetKeyPolicyRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    check_policy_name(req.policy_name.as_deref())?;
    Ok(json!({ "Policy": key.policy, "PolicyName": DEFAULT_POLICY_NAME }))
}
