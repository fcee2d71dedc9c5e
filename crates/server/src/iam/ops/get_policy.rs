//! IAM GetPolicy: a managed policy's metadata (the document is in GetPolicyVersion).

use crate::iam::access::authorize;
use crate::iam::{entity, shared};
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::Xml;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let arn = p.required("PolicyArn")?;
    shared::parse_policy_arn(ctx, arn)?;
    authorize(ctx, "iam:GetPolicy", arn).await?;
    let policy = shared::managed_policy(ctx, arn).await?;
    let attachments = shared::attachment_counts(ctx).await?.get(policy.arn()).copied().unwrap_or(0);
    let mut x = Xml::new();
    x.start("Policy");
    entity::write_policy(&mut x, &policy, attachments, true);
    x.end("Policy");
    Ok(Some(x.into_string()))
}
