//! STS GetCallerIdentity: the caller's account, ARN and unique id. Needs
//! no permission, as in AWS.

use trent_store::EntityKind;

use crate::iam::access::{kind_of, Kind};
use crate::iam::entity;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::Xml;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, _p: &Params) -> Result<Option<String>, QueryError> {
    let account = &ctx.principal.account_id;
    let user_id = match kind_of(&ctx.principal) {
        Kind::Root => account.clone(),
        // A first admin made before IAM users existed has no user id: it acts as the root.
        Kind::User(name) => entity::find(ctx, EntityKind::User, name).await?.map(|u| u.doc.id).unwrap_or_else(|| account.clone()),
        Kind::Session { role, session } => {
            let role = entity::load(ctx, EntityKind::Role, role).await?;
            format!("{}:{session}", role.doc.id)
        }
    };
    let mut x = Xml::new();
    x.text("UserId", &user_id).text("Account", account).text("Arn", &ctx.principal.arn);
    Ok(Some(x.into_string()))
}
