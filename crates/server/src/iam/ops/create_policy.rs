//! IAM CreatePolicy: a customer managed policy (version v1, the default).

use trent_store::EntityKind;

use crate::iam::access::authorize;
use crate::iam::entity::{self, Doc, PolicyVersion};
use crate::policy::{self, DocumentKind};
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::Xml;
use crate::state::Ctx;

/// IAM's quota for a managed policy, in characters without whitespace.
pub const MANAGED_POLICY_QUOTA: usize = 6144;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let name = p.required("PolicyName")?;
    entity::check_name("policyName", name, 128)?;
    let document = p.required("PolicyDocument")?;
    let path = entity::path_param(p)?;
    let tags = entity::tags_param(p)?;
    authorize(ctx, "iam:CreatePolicy", &entity::arn(&ctx.principal.account_id, EntityKind::Policy, &path, name)).await?;
    policy::validate(document, DocumentKind::Identity).map_err(QueryError::malformed_policy)?;
    if document.chars().filter(|c| !c.is_whitespace()).count() > MANAGED_POLICY_QUOTA {
        return Err(QueryError::limit_exceeded(format!("Cannot exceed quota for PolicySize: {MANAGED_POLICY_QUOTA}")));
    }
    let now = ctx.now();
    let doc = Doc {
        id: entity::new_id("ANPA")?,
        path,
        tags,
        description: p.get("Description").map(str::to_owned),
        versions: vec![PolicyVersion { id: "v1".to_owned(), document: document.to_owned(), created_at: now }],
        default_version: Some("v1".to_owned()),
        updated_at: now,
        ..Doc::default()
    };
    let policy = entity::create(ctx, EntityKind::Policy, name, doc, None).await?;
    let mut x = Xml::new();
    x.start("Policy");
    entity::write_policy(&mut x, &policy, 0, true);
    x.end("Policy");
    Ok(Some(x.into_string()))
}
