//! IAM GetPolicyVersion: one version of a managed policy, its document URL-encoded.

use crate::iam::access::authorize;
use crate::iam::entity::encode_document;
use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::{iso8601, Xml};
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let arn = p.required("PolicyArn")?;
    let version_id = p.required("VersionId")?;
    shared::parse_policy_arn(ctx, arn)?;
    authorize(ctx, "iam:GetPolicyVersion", arn).await?;
    let policy = shared::managed_policy(ctx, arn).await?;
    let version = policy
        .doc
        .versions
        .iter()
        .find(|v| v.id == version_id)
        .ok_or_else(|| QueryError::no_such_entity(format!("Policy {arn} version {version_id} does not exist or is not attachable.")))?;
    let is_default = policy.doc.default_version.as_deref() == Some(version.id.as_str());
    let mut x = Xml::new();
    x.start("PolicyVersion")
        .text("Document", &encode_document(&version.document))
        .text("VersionId", &version.id)
        .text("IsDefaultVersion", if is_default { "true" } else { "false" })
        .text("CreateDate", &iso8601(version.created_at))
        .end("PolicyVersion");
    Ok(Some(x.into_string()))
}
