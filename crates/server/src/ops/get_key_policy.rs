//! GetKeyPolicy: a key's policy document; the only policy name is "default".

use serde::Deserialize;
use serde_json::{json, Value};

use super::input;
use crate::authz::{self, Aliases};
use crate::protocol::error::KmsError;
use crate::state::Ctx;

pub const DEFAULT_POLICY_NAME: &str = "default";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    key_id: String,
    policy_name: Option<String>,
}

/// Only "default" exists, as in AWS.
pub fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    match name {
        None | Some(DEFAULT_POLICY_NAME) => Ok(()),
        Some(other) => Err(KmsError::not_found(format!("No such policy exists: {other}"))),
    }
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let key = authz::key(ctx, &req.key_id, "kms:GetKeyPolicy", Aliases::Rejected).await?;
    check_policy_name(req.policy_name.as_deref())?;
    Ok(json!({ "Policy": key.policy, "PolicyName": DEFAULT_POLICY_NAME }))
}
