//! IAM CreateUser: a new user (a principal with no access keys yet).

use trent_store::EntityKind;

use crate::iam::access::authorize;
use crate::iam::entity::{self, Doc};
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::Xml;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let name = p.required("UserName")?;
    entity::check_name("userName", name, 64)?;
    let path = entity::path_param(p)?;
    let tags = entity::tags_param(p)?;
    authorize(ctx, "iam:CreateUser", &entity::arn(&ctx.principal.account_id, EntityKind::User, &path, name)).await?;
    let doc = Doc { id: entity::new_id("AIDA")?, path, tags, ..Doc::default() };
    let user = entity::create(ctx, EntityKind::User, name, doc, None).await?;
    let mut x = Xml::new();
    x.start("User");
    entity::write_user(&mut x, &user, true);
    x.end("User");
    Ok(Some(x.into_string()))
}
