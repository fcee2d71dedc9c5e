//! IAM UpdateAssumeRolePolicy: replaces a role's trust policy.

use trent_store::EntityKind;

use crate::iam::{entity, shared};
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let role = shared::target(ctx, EntityKind::Role, p, "iam:UpdateAssumeRolePolicy").await?;
    let document = p.required("PolicyDocument")?;
    super::create_role::check_trust_policy(document)?;
    entity::modify(ctx, EntityKind::Role, role.name(), |doc| {
        doc.trust = Some(document.to_owned());
        Ok(())
    })
    .await?;
    Ok(None)
}
