//! STS AssumeRole: temporary credentials for a role whose trust policy
//! lets the caller in, as AWS decides it: a trust policy that names the
//! caller suffices in its own account; one that names only the account
//! (its root) needs the caller's identity policies to allow
//! `sts:AssumeRole` on the role too; an explicit deny anywhere refuses.

use trent_store::EntityKind;

use crate::auth::session::{self, Session};
use crate::auth::TEMPORARY_KEY_PREFIX;
use crate::iam::access::{caller, identity_policies};
use crate::iam::entity::{self, Entity};
use crate::policy::{self, Decision, Policy, TrustDecision};
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::{iso8601, Xml};
use crate::state::Ctx;

const ACTION: &str = "sts:AssumeRole";
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub async fn handle(ctx: &Ctx, p: &Params) -> Result<Option<String>, QueryError> {
    let role_arn = p.required("RoleArn")?;
    let session_name = p.required("RoleSessionName")?;
    check_session_name(session_name)?;
    let duration = p.int("DurationSeconds", 900, 43200)?.unwrap_or(3600);
    if p.get("Policy").is_some() || p.get("PolicyArns.member.1.arn").is_some() {
        return Err(QueryError::new(crate::query::error::QueryCode::InvalidParameterValue, "Trent does not support session policies yet."));
    }
    if role_arn.len() < 20 {
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value '{role_arn}' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20"
        )));
    }
    let denied = || QueryError::access_denied(format!("User: {} is not authorized to perform: {ACTION} on resource: {role_arn}", ctx.principal.arn));
    let role = find_role(ctx, role_arn).await?.ok_or_else(denied)?;
    let trust = Policy::parse(role.doc.trust.as_deref().unwrap_or("{}")).map_err(|e| QueryError::internal(format!("stored trust policy: {e}")))?;
    let trusted = policy::evaluate_trust(&trust, &caller(&ctx.principal), ACTION);
    let identity = match identity_policies(ctx).await? {
        None => Decision::Allow,
        Some(policies) => policy::evaluate_identity(&policies, ACTION, role.arn()),
    };
    let same_account = role.record.account_id == ctx.principal.account_id;
    let allowed = match (trusted, identity) {
        (_, Decision::ExplicitDeny) | (TrustDecision::Denied, _) => false,
        (TrustDecision::AllowedByName, _) if same_account => true,
        (_, decision) => decision == Decision::Allow,
    };
    if !allowed {
        return Err(denied());
    }
    // Role chaining (a session assuming a role) is capped at one hour, as in AWS.
    if matches!(crate::iam::access::kind_of(&ctx.principal), crate::iam::access::Kind::Session { .. }) && duration > 3600 {
        return Err(QueryError::validation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."));
    }
    let max = role.doc.max_session_secs.unwrap_or(3600);
    if duration > max {
        return Err(QueryError::validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."));
    }
    let now = ctx.now();
    let expires_at = now + duration * 1000;
    let id_bytes = trent_crypto::random_bytes(16)?;
    let access_key_id = format!("{TEMPORARY_KEY_PREFIX}{}", id_bytes.iter().map(|b| BASE32[(b % 32) as usize] as char).collect::<String>());
    let (_, secret) = crate::auth::credentials::new_access_key()?;
    let session = Session {
        access_key_id: access_key_id.clone(),
        secret: String::from_utf8_lossy(secret.as_bytes()).into_owned(),
        account_id: role.record.account_id.clone(),
        role_name: role.name().to_owned(),
        role_id: role.doc.id.clone(),
        session_name: session_name.to_owned(),
        expires_at,
    };
    let token = session::seal(&ctx.state.root_key.load(), &session)?;
    let mut x = Xml::new();
    x.start("Credentials")
        .text("AccessKeyId", &access_key_id)
        .text("SecretAccessKey", &session.secret)
        .text("SessionToken", &token)
        .text("Expiration", &iso8601(expires_at))
        .end("Credentials");
    x.start("AssumedRoleUser").text("AssumedRoleId", &format!("{}:{session_name}", role.doc.id)).text("Arn", &session.assumed_role_arn()).end("AssumedRoleUser");
    x.text("PackedPolicySize", "0");
    Ok(Some(x.into_string()))
}

fn check_session_name(name: &str) -> Result<(), QueryError> {
    let len = name.chars().count();
    if !(2..=64).contains(&len) {
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64"
        )));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)) {
        return Err(QueryError::validation(format!(
            "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    Ok(())
}

/// The role an ARN names, in whichever account of this deployment holds it.
async fn find_role(ctx: &Ctx, role_arn: &str) -> Result<Option<Entity>, QueryError> {
    let Some((account, resource)) = role_arn.strip_prefix("arn:aws:iam::").and_then(|r| r.split_once(':')) else { return Ok(None) };
    let Some(path_and_name) = resource.strip_prefix("role/") else { return Ok(None) };
    let name = path_and_name.rsplit('/').next().unwrap_or(path_and_name);
    let Some(record) = ctx.state.store.get_entity(account, EntityKind::Role, name).await? else { return Ok(None) };
    // The ARN must be the role's own (its path included), not another spelling.
    if record.arn != role_arn {
        return Ok(None);
    }
    let doc = entity::Doc::parse(&record.doc)?;
    Ok(Some(Entity { record, doc }))
}
