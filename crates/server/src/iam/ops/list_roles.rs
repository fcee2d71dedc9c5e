//! IAM ListRoles: the account's roles under a path prefix, by name.

use trent_store::EntityKind;

use crate::iam::access::authorize;
use crate::iam::entity::{self, paging, write_truncation};
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::Xml;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let prefix = entity::path_prefix(p)?;
    let (max, marker) = paging(p)?;
    authorize(ctx, "iam:ListRoles", &format!("arn:aws:iam::{}:role/", ctx.principal.account_id)).await?;
    let (roles, next) = entity::list(ctx, EntityKind::Role, prefix, max, marker.as_deref()).await?;
    let mut x = Xml::new();
    x.start("Roles");
    for r in &roles {
        x.start("member");
        entity::write_role(&mut x, r, false);
        x.end("member");
    }
    x.end("Roles");
    write_truncation(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
