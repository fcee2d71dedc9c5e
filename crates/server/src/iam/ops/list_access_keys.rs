//! IAM ListAccessKeys: a user's access keys (ids and status, never secrets).

use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::{iso8601, Xml};
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let user = shared::user_or_caller(ctx, p, "iam:ListAccessKeys").await?;
    let keys = ctx.state.store.list_access_keys(user.arn()).await?;
    let mut x = Xml::new();
    x.start("AccessKeyMetadata");
    for k in &keys {
        x.start("member")
            .text("UserName", user.name())
            .text("AccessKeyId", &k.access_key_id)
            .text("Status", if k.active { "Active" } else { "Inactive" })
            .text("CreateDate", &iso8601(k.created_at))
            .end("member");
    }
    x.end("AccessKeyMetadata");
    crate::iam::entity::write_truncation(&mut x, None);
    Ok(Some(x.into_string()))
}
