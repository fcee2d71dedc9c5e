//! What the user and role variants of the IAM operations share: inline
//! policies, attached managed policies and tags of a user or role. Each
//! operation file says which kind it works on and calls in here.

use trent_store::EntityKind;

use super::access::authorize;
use super::entity::{self, encode_document, modify, noun, paging, write_truncation, Entity};
use crate::policy::{self, DocumentKind};
use crate::query::error::QueryError;
use crate::query::form::Params;
use crate::query::xml::Xml;
use crate::state::Ctx;

/// The name parameter of a kind: `UserName` or `RoleName`.
pub fn name_param(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => "UserName",
        EntityKind::Role => "RoleName",
        EntityKind::Policy => "PolicyName",
    }
}

/// The named user or role, after authorizing `action` on it.
pub async fn target(ctx: &Ctx, kind: EntityKind, p: &Params, action: &str) -> Result<Entity, QueryError> {
    let name = p.required(name_param(kind))?;
    entity::check_name(&super::lower(name_param(kind)), name, 64)?;
    let found = entity::find(ctx, kind, name).await?;
    // Authorized on the entity's real ARN (with its path), or on the ARN it
    // would have, so a caller without the right learns nothing of it.
    let arn = found.as_ref().map(|e| e.arn().to_owned()).unwrap_or_else(|| entity::arn(&ctx.principal.account_id, kind, "/", name));
    authorize(ctx, action, &arn).await?;
    found.ok_or_else(|| entity::not_found(kind, &ctx.principal.account_id, name))
}

fn capital(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::User => "User",
        EntityKind::Role => "Role",
        EntityKind::Policy => "Policy",
    }
}

/// Inline policy size quotas (characters, whitespace excluded), as IAM's.
fn inline_quota(kind: EntityKind) -> usize {
    if kind == EntityKind::Role { 10_240 } else { 2_048 }
}

fn size_without_whitespace(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// PutUserPolicy / PutRolePolicy.
pub async fn put_inline(ctx: &Ctx, kind: EntityKind, p: &Params) -> Result<Option<String>, QueryError> {
    let target = target(ctx, kind, p, &format!("iam:Put{}Policy", capital(kind))).await?;
    let policy_name = p.required("PolicyName")?;
    entity::check_name("policyName", policy_name, 128)?;
    let document = p.required("PolicyDocument")?;
    policy::validate(document, DocumentKind::Identity).map_err(QueryError::malformed_policy)?;
    let quota = inline_quota(kind);
    modify(ctx, kind, target.name(), |doc| {
        let others: usize = doc.inline.iter().filter(|(n, _)| n.as_str() != policy_name).map(|(_, d)| size_without_whitespace(d)).sum();
        if others + size_without_whitespace(document) > quota {
            return Err(QueryError::limit_exceeded(format!("Maximum policy size of {quota} bytes exceeded for {} {}", noun(kind), target.name())));
        }
        doc.inline.insert(policy_name.to_owned(), document.to_owned());
        Ok(())
    })
    .await?;
    Ok(None)
}

/// GetUserPolicy / GetRolePolicy.
pub async fn get_inline(ctx: &Ctx, kind: EntityKind, p: &Params) -> Result<Option<String>, QueryError> {
    let target = target(ctx, kind, p, &format!("iam:Get{}Policy", capital(kind))).await?;
    let policy_name = p.required("PolicyName")?;
    let document = target.doc.inline.get(policy_name).ok_or_else(|| inline_not_found(kind, policy_name))?;
    let mut x = Xml::new();
    x.text(name_param(kind), target.name()).text("PolicyName", policy_name).text("PolicyDocument", &encode_document(document));
    Ok(Some(x.into_string()))
}

fn inline_not_found(kind: EntityKind, policy_name: &str) -> QueryError {
    QueryError::no_such_entity(format!("The {} policy with name {policy_name} cannot be found.", noun(kind)))
}

/// ListUserPolicies / ListRolePolicies.
pub async fn list_inline(ctx: &Ctx, kind: EntityKind, p: &Params) -> Result<Option<String>, QueryError> {
    let target = target(ctx, kind, p, &format!("iam:List{}Policies", capital(kind))).await?;
    let (max, marker) = paging(p)?;
    let names: Vec<&String> = target.doc.inline.keys().filter(|n| marker.as_deref().is_none_or(|m| n.as_str() > m)).collect();
    let mut x = Xml::new();
    x.start("PolicyNames");
    for n in names.iter().take(max) {
        x.text("member", n);
    }
    x.end("PolicyNames");
    let next = (names.len() > max).then(|| names[max - 1].as_str());
    write_truncation(&mut x, next);
    Ok(Some(x.into_string()))
}

/// DeleteUserPolicy / DeleteRolePolicy.
pub async fn delete_inline(ctx: &Ctx, kind: EntityKind, p: &Params) -> Result<Option<String>, QueryError> {
    let target = target(ctx, kind, p, &format!("iam:Delete{}Policy", capital(kind))).await?;
    let policy_name = p.required("PolicyName")?;
    modify(ctx, kind, target.name(), |doc| doc.inline.remove(policy_name).map(|_| ()).ok_or_else(|| inline_not_found(kind, policy_name))).await?;
    Ok(None)
}

/// The most managed policies a user or role can have attached.
const MAX_ATTACHED: usize = 10;

/// The managed policy a `PolicyArn` names, in the caller's account.
pub async fn managed_policy(ctx: &Ctx, policy_arn: &str) -> Result<Entity, QueryError> {
    let name = parse_policy_arn(ctx, policy_arn)?;
    match entity::find(ctx, EntityKind::Policy, &name).await? {
        Some(policy) if policy.arn() == policy_arn => Ok(policy),
        _ => Err(QueryError::no_such_entity(format!("Policy {policy_arn} does not exist or is not attachable."))),
    }
}

/// The name in `arn:aws:iam::ACCOUNT:policy/path/name`; only the caller's
/// account holds policies Trent knows (there are no AWS managed ones).
pub fn parse_policy_arn(ctx: &Ctx, policy_arn: &str) -> Result<String, QueryError> {
    let invalid = || QueryError::invalid_input(format!("ARN {policy_arn} is not valid."));
    let rest = policy_arn.strip_prefix("arn:aws:iam::").ok_or_else(invalid)?;
    let (account, resource) = rest.split_once(':').ok_or_else(invalid)?;
    let path_and_name = resource.strip_prefix("policy/").ok_or_else(invalid)?;
    let name = path_and_name.rsplit('/').next().filter(|n| !n.is_empty()).ok_or_else(invalid)?;
    if account != ctx.principal.account_id {
        return Err(QueryError::no_such_entity(format!("Policy {policy_arn} does not exist or is not attachable.")));
    }
    Ok(name.to_owned())
}

/// AttachUserPolicy / AttachRolePolicy.
pub async fn attach(ctx: &Ctx, kind: EntityKind, p: &Params) -> Result<Option<String>, QueryError> {
    let target = target(ctx, kind, p, &format!("iam:Attach{}Policy", capital(kind))).await?;
    let policy = managed_policy(ctx, p.required("PolicyArn")?).await?;
    let policy_arn = policy.arn().to_owned();
    modify(ctx, kind, target.name(), |doc| {
        if doc.attached.contains(&policy_arn) {
            return Ok(());
        }
        if doc.attached.len() >= MAX_ATTACHED {
            return Err(QueryError::limit_exceeded(format!("Cannot exceed quota for PoliciesPer{}: {MAX_ATTACHED}", capital(kind))));
        }
        doc.attached.push(policy_arn.clone());
        Ok(())
    })
    .await?;
    Ok(None)
}

/// DetachUserPolicy / DetachRolePolicy.
pub async fn detach(ctx: &Ctx, kind: EntityKind, p: &Params) -> Result<Option<String>, QueryError> {
    let target = target(ctx, kind, p, &format!("iam:Detach{}Policy", capital(kind))).await?;
    let policy_arn = p.required("PolicyArn")?;
    parse_policy_arn(ctx, policy_arn)?;
    modify(ctx, kind, target.name(), |doc| {
        let before = doc.attached.len();
        doc.attached.retain(|a| a != policy_arn);
        if doc.attached.len() == before {
            return Err(QueryError::no_such_entity(format!("Policy {policy_arn} was not found.")));
        }
        Ok(())
    })
    .await?;
    Ok(None)
}

/// ListAttachedUserPolicies / ListAttachedRolePolicies.
pub async fn list_attached(ctx: &Ctx, kind: EntityKind, p: &Params) -> Result<Option<String>, QueryError> {
    let target = target(ctx, kind, p, &format!("iam:ListAttached{}Policies", capital(kind))).await?;
    let (max, marker) = paging(p)?;
    let prefix = p.get("PathPrefix").unwrap_or("/");
    let mut arns: Vec<&String> = target.doc.attached.iter().filter(|a| policy_path(a).starts_with(prefix)).collect();
    arns.sort();
    let arns: Vec<&String> = arns.into_iter().filter(|a| marker.as_deref().is_none_or(|m| a.as_str() > m)).collect();
    let mut x = Xml::new();
    x.start("AttachedPolicies");
    for arn in arns.iter().take(max) {
        let name = arn.rsplit('/').next().unwrap_or(arn);
        x.start("member").text("PolicyName", name).text("PolicyArn", arn).end("member");
    }
    x.end("AttachedPolicies");
    let next = (arns.len() > max).then(|| arns[max - 1].as_str());
    write_truncation(&mut x, next);
    Ok(Some(x.into_string()))
}

/// The path part of a policy ARN (`/` or `/a/b/`).
fn policy_path(arn: &str) -> &str {
    let resource = arn.split_once(":policy").map(|(_, r)| r).unwrap_or("/");
    match resource.rfind('/') {
        Some(i) => &resource[..=i],
        None => "/",
    }
}

/// TagUser / TagRole.
pub async fn tag(ctx: &Ctx, kind: EntityKind, p: &Params) -> Result<Option<String>, QueryError> {
    let target = target(ctx, kind, p, &format!("iam:Tag{}", capital(kind))).await?;
    let tags = entity::tags_param(p)?;
    if tags.is_empty() {
        return Err(QueryError::validation("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null"));
    }
    modify(ctx, kind, target.name(), |doc| entity::merge_tags(&mut doc.tags, &tags)).await?;
    Ok(None)
}

/// UntagUser / UntagRole.
pub async fn untag(ctx: &Ctx, kind: EntityKind, p: &Params) -> Result<Option<String>, QueryError> {
    let target = target(ctx, kind, p, &format!("iam:Untag{}", capital(kind))).await?;
    let keys: Vec<String> = (1..).map_while(|i| p.get(&format!("TagKeys.member.{i}")).map(str::to_owned)).collect();
    modify(ctx, kind, target.name(), |doc| {
        doc.tags.retain(|t| !keys.contains(&t.key));
        Ok(())
    })
    .await?;
    Ok(None)
}

/// ListUserTags / ListRoleTags.
pub async fn list_tags(ctx: &Ctx, kind: EntityKind, p: &Params) -> Result<Option<String>, QueryError> {
    let target = target(ctx, kind, p, &format!("iam:List{}Tags", capital(kind))).await?;
    let mut x = Xml::new();
    x.start("Tags");
    for t in &target.doc.tags {
        x.start("member").text("Key", &t.key).text("Value", &t.value).end("member");
    }
    x.end("Tags");
    write_truncation(&mut x, None);
    Ok(Some(x.into_string()))
}


/// The user an access-key operation names (`UserName`), or the calling user.
pub async fn user_or_caller(ctx: &Ctx, p: &Params, action: &str) -> Result<Entity, QueryError> {
    if p.get("UserName").is_some() {
        return target(ctx, EntityKind::User, p, action).await;
    }
    match super::access::kind_of(&ctx.principal) {
        super::access::Kind::User(name) => {
            let user = entity::load(ctx, EntityKind::User, name).await?;
            authorize(ctx, action, user.arn()).await?;
            Ok(user)
        }
        _ => Err(QueryError::validation("Must specify userName when calling with non-User credentials")),
    }
}

pub fn access_key_not_found(key_id: &str) -> QueryError {
    QueryError::no_such_entity(format!("The Access Key with id {key_id} cannot be found."))
}

/// Checks that `key_id` is one of `user`'s keys.
pub async fn own_access_key(ctx: &Ctx, user: &Entity, key_id: &str) -> Result<(), QueryError> {
    match ctx.state.store.get_access_key(key_id).await? {
        Some(k) if k.principal_arn == user.arn() => Ok(()),
        _ => Err(access_key_not_found(key_id)),
    }
}

/// How many users and roles each managed policy of the account is attached to.
pub async fn attachment_counts(ctx: &Ctx) -> Result<std::collections::HashMap<String, usize>, QueryError> {
    let mut counts = std::collections::HashMap::new();
    for kind in [EntityKind::User, EntityKind::Role] {
        let (all, _) = entity::list(ctx, kind, "/", usize::MAX, None).await?;
        for e in all {
            for arn in e.doc.attached {
                *counts.entry(arn).or_insert(0) += 1;
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_paths() {
        assert_eq!(policy_path("arn:aws:iam::1:policy/p"), "/");
        assert_eq!(policy_path("arn:aws:iam::1:policy/team/a/p"), "/team/a/");
    }
}
