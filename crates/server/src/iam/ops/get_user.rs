//! IAM GetUser: a user, or without `UserName` the calling user (or the root).

use trent_store::EntityKind;

use crate::iam::access::{authorize, kind_of, Kind};
use crate::iam::{entity, shared};
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::{iso8601, Xml};
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let user = if p.get("UserName").is_some() {
        shared::target(ctx, EntityKind::User, p, "iam:GetUser").await?
    } else {
        match kind_of(&ctx.principal) {
            Kind::User(name) => {
                let user = entity::load(ctx, EntityKind::User, name).await?;
                authorize(ctx, "iam:GetUser", user.arn()).await?;
                user
            }
            Kind::Root => {
                // The root has no user; IAM answers with the account.
                let mut x = Xml::new();
                x.start("User").text("UserId", &ctx.principal.account_id).text("Arn", &ctx.principal.arn).text("CreateDate", &iso8601(0)).end("User");
                return Ok(Some(x.into_string()));
            }
            Kind::Session { .. } => return Err(QueryError::validation("Must specify userName when calling with non-User credentials")),
        }
    };
    let mut x = Xml::new();
    x.start("User");
    entity::write_user(&mut x, &user, true);
    x.end("User");
    Ok(Some(x.into_string()))
}
