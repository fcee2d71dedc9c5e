//! IAM ListPolicies: the account's managed policies (`Scope` Local or All;
//! Trent has no AWS managed policies, so `AWS` lists none).

use trent_store::EntityKind;

use crate::iam::access::authorize;
use crate::iam::entity::{self, paging, write_truncation};
use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::Xml;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let prefix = entity::path_prefix(p)?;
    let (max, marker) = paging(p)?;
    let scope = p.get("Scope").unwrap_or("All");
    if !matches!(scope, "All" | "AWS" | "Local") {
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value '{scope}' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]"
        )));
    }
    let only_attached = p.get("OnlyAttached") == Some("true");
    authorize(ctx, "iam:ListPolicies", &format!("arn:aws:iam::{}:policy/", ctx.principal.account_id)).await?;
    let counts = shared::attachment_counts(ctx).await?;
    let (policies, next) = if scope == "AWS" { (Vec::new(), None) } else { entity::list(ctx, EntityKind::Policy, prefix, max, marker.as_deref()).await? };
    let mut x = Xml::new();
    x.start("Policies");
    for policy in &policies {
        let n = counts.get(policy.arn()).copied().unwrap_or(0);
        if only_attached && n == 0 {
            continue;
        }
        x.start("member");
        entity::write_policy(&mut x, policy, n, false);
        x.end("member");
    }
    x.end("Policies");
    write_truncation(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
