//! IAM ListUsers: the account's users under a path prefix, by name.

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
    authorize(ctx, "iam:ListUsers", &format!("arn:aws:iam::{}:user/", ctx.principal.account_id)).await?;
    let (users, next) = entity::list(ctx, EntityKind::User, prefix, max, marker.as_deref()).await?;
    let mut x = Xml::new();
    x.start("Users");
    for u in &users {
        x.start("member");
        entity::write_user(&mut x, u, false);
        x.end("member");
    }
    x.end("Users");
    write_truncation(&mut x, next.as_deref());
    Ok(Some(x.into_string()))
}
