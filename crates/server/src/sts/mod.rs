//! STS over the Query protocol: who am I (GetCallerIdentity) and temporary
//! credentials for a role (AssumeRole). The session tokens themselves are
//! made and checked in [`crate::auth::session`].

pub mod assume_role;
pub mod get_caller_identity;

use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

/// The STS actions Trent implements.
pub const ACTIONS: &[&str] = &["AssumeRole", "GetCallerIdentity"];

pub async fn call(ctx: &Ctx, action: &str, p: &Params) -> Result<Option<String>, QueryError> {
    match action {
        "AssumeRole" => assume_role::handle(ctx, p).await,
        "GetCallerIdentity" => get_caller_identity::handle(ctx, p).await,
        other => Err(QueryError::new(crate::query::error::QueryCode::InvalidAction, format!("Could not find operation {other} for version 2011-06-15"))),
    }
}
