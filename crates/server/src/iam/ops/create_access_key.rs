//! IAM CreateAccessKey: a new key for a user, at most two per user. The
//! secret is shown in this answer only; the store keeps it sealed under the
//! root key.

use trent_store::AccessKeyRecord;

use crate::auth::credentials::{new_access_key, seal_secret};
use crate::iam::shared;
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::{iso8601, Xml};
use crate::state::Ctx;

/// IAM's quota of access keys per user.
pub const MAX_KEYS_PER_USER: usize = 2;

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let user = shared::user_or_caller(ctx, p, "iam:CreateAccessKey").await?;
    let (access_key_id, secret) = new_access_key()?;
    let now = ctx.now();
    let record = AccessKeyRecord {
        access_key_id: access_key_id.clone(),
        principal_arn: user.arn().to_owned(),
        sealed_secret: seal_secret(&ctx.state.root_key.load(), &access_key_id, &secret)?,
        created_at: now,
        active: true,
    };
    if !ctx.state.store.insert_access_key(&record, MAX_KEYS_PER_USER).await? {
        return Err(QueryError::limit_exceeded(format!("Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}")));
    }
    // The secret is ASCII by construction (see `new_access_key`).
    let secret_text = String::from_utf8_lossy(secret.as_bytes());
    let mut x = Xml::new();
    x.start("AccessKey")
        .text("UserName", user.name())
        .text("AccessKeyId", &access_key_id)
        .text("Status", "Active")
        .text("SecretAccessKey", &secret_text)
        .text("CreateDate", &iso8601(now))
        .end("AccessKey");
    Ok(Some(x.into_string()))
}
