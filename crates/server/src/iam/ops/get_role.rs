//! IAM GetRole: a role with its trust policy (URL-encoded, as IAM returns it).

use trent_store::EntityKind;

use crate::iam::{entity, shared};
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::Xml;
use crate::state::Ctx;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let role = shared::target(ctx, EntityKind::Role, p, "iam:GetRole").await?;
    let mut x = Xml::new();
    x.start("Role");
    entity::write_role(&mut x, &role, true);
    x.end("Role");
    Ok(Some(x.into_string()))
}
