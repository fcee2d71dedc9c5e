//! IAM CreateRole: a role with its trust policy (who may assume it).

use trent_store::EntityKind;

use crate::iam::access::authorize;
use crate::iam::entity::{self, Doc};
use crate::policy::{self, DocumentKind};
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::Xml;
use crate::state::Ctx;

/// IAM's default quota for a trust policy, in characters without whitespace.
pub const TRUST_POLICY_QUOTA: usize = 2048;

/// Checks a trust policy: its syntax, then its size.
pub fn check_trust_policy(document: &str) -> Result<(), QueryError> {
    policy::validate(document, DocumentKind::Trust).map_err(QueryError::malformed_policy)?;
    if document.chars().filter(|c| !c.is_whitespace()).count() > TRUST_POLICY_QUOTA {
        return Err(QueryError::limit_exceeded(format!("Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_QUOTA}")));
    }
    Ok(())
}

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let name = p.required("RoleName")?;
    entity::check_name("roleName", name, 64)?;
    let trust = p.required("AssumeRolePolicyDocument")?;
    let path = entity::path_param(p)?;
    let tags = entity::tags_param(p)?;
    let max_session = p.int("MaxSessionDuration", 3600, 43200)?.unwrap_or(3600);
    let description = p.get("Description").map(str::to_owned);
    if description.as_ref().is_some_and(|d| d.chars().count() > 1000) {
        return Err(QueryError::validation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1000"));
    }
    authorize(ctx, "iam:CreateRole", &entity::arn(&ctx.principal.account_id, EntityKind::Role, &path, name)).await?;
    check_trust_policy(trust)?;
    let doc = Doc { id: entity::new_id("AROA")?, path, tags, trust: Some(trust.to_owned()), description, max_session_secs: Some(max_session), ..Doc::default() };
    let role = entity::create(ctx, EntityKind::Role, name, doc, None).await?;
    let mut x = Xml::new();
    x.start("Role");
    entity::write_role(&mut x, &role, true);
    x.end("Role");
    Ok(Some(x.into_string()))
}
