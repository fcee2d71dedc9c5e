//! Authorization, in one place: the only code that can make an
//! [`Authorized`] value, which every operation on a key needs. So no handler
//! can forget the check.
//!
//! The rules are AWS's, evaluated by [`crate::policy::key`]: the key policy
//! is the root of trust, delegation to the account lets identity policies
//! count, explicit deny wins, another account's caller needs both sides.
//! Conditions read the request's facts ([`facts`]), derived once by
//! dispatch. Every decision, with the statement that made it, is kept on
//! the request's [`Ctx`] ([`trail`]) for the audit log.

pub mod explain;
pub mod facts;
pub mod trail;
pub mod via;

use std::ops::Deref;

use trent_store::KeyRecord;
use uuid::Uuid;

use crate::keys::grants::{self, GrantDoc};
use crate::keys::reference::{alias_arn, key_arn, KeyRef};
use crate::lifecycle::deletion;
use crate::policy::key::{self as key_rules, Verdict};
use crate::policy::Facts;
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

pub use trail::{Record, Trail};

/// A value the caller is allowed to use for the named action.
#[derive(Debug)]
pub struct Authorized<T>(T);

impl<T> Authorized<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Authorized<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Whether an operation accepts an alias where it takes a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aliases {
    Accepted,
    Rejected,
}

/// Resolves a key reference from a request and authorizes `action` on it.
pub async fn key(ctx: &Ctx, reference: &str, action: &'static str, aliases: Aliases) -> Result<Authorized<KeyRecord>, KmsError> {
    key_and_grant(ctx, reference, action, aliases).await.map(|(key, _)| key)
}

/// As [`key`], and the grant that allowed it, if a grant did (CreateGrant
/// through a grant may only make narrower grants).
pub async fn key_and_grant(ctx: &Ctx, reference: &str, action: &'static str, aliases: Aliases) -> Result<(Authorized<KeyRecord>, Option<GrantDoc>), KmsError> {
    let parsed = KeyRef::parse(reference)?;
    if parsed.is_alias() && aliases == Aliases::Rejected {
        return Err(KmsError::not_found(format!("Invalid keyId '{reference}': this operation takes a key ID or key ARN, not an alias")));
    }
    let own = ctx.principal.account_id.clone();
    let (account_id, key_id) = match parsed {
        KeyRef::Id(id) => (own, id),
        KeyRef::KeyArn { region, account_id, key_id } => {
            check_region(ctx, &region)?;
            (account_id, key_id)
        }
        KeyRef::Alias(name) => (own.clone(), alias_target(ctx, &own, &name).await?),
        KeyRef::AliasArn { region, account_id, alias_name } => {
            check_region(ctx, &region)?;
            let target = alias_target(ctx, &account_id, &alias_name).await?;
            (account_id, target)
        }
    };
    let key = live_key(ctx, &account_id, key_id).await?.ok_or_else(|| not_found(ctx, &account_id, key_id))?;
    decide_with_grant(ctx, key, action).await
}

/// The key a ciphertext names, for `action` (Decrypt, ReEncryptFrom): a key
/// of the caller's region in any account, if its policies allow the caller.
/// A key that does not exist answers `InvalidCiphertextException`, so a
/// ciphertext never tells a caller about keys it cannot see.
pub async fn ciphertext_key(ctx: &Ctx, key_id: Uuid, action: &'static str) -> Result<Authorized<KeyRecord>, KmsError> {
    let key = match ctx.state.store.get_key(&key_id.to_string()).await? {
        Some(k) if k.region == ctx.region => live_key(ctx, &k.account_id, key_id).await?,
        _ => None,
    };
    let key = key.ok_or_else(|| KmsError::new(ErrorCode::InvalidCiphertext, "The ciphertext refers to a KMS key that does not exist or that you cannot use."))?;
    decide_with_grant(ctx, key, action).await.map(|(key, _)| key)
}

/// The verdict for `action` on `key` by the caller, without answering:
/// for the explain endpoint and checks that are not the request's own.
pub async fn verdict(ctx: &Ctx, key: &KeyRecord, action: &str, extra: &Facts) -> Result<Verdict, KmsError> {
    verdict_and_grant(ctx, key, action, extra).await.map(|(v, _)| v)
}

/// The verdict and, when a grant decided it, that grant.
async fn verdict_and_grant(ctx: &Ctx, key: &KeyRecord, action: &str, extra: &Facts) -> Result<(Verdict, Option<GrantDoc>), KmsError> {
    let identity = crate::iam::access::identity(ctx).await.map_err(|e| KmsError::internal(format!("identity policies: {}", e.internal.unwrap_or(e.message))))?;
    let policy = crate::policy::cache::parsed_named("the key policy", &key.policy).map_err(|e| KmsError::internal(format!("key {} has a policy that does not parse: {e}", key.arn)))?;
    // Only the facts these policies can read are derived.
    let mut facts = Facts::only(std::iter::once(policy.clone()).chain(identity.policies.iter().flatten().cloned()).collect());
    facts::add_principal_facts(&mut facts, ctx, &identity);
    ctx.authz.add_request_facts(&mut facts);
    facts::add_key_facts(&mut facts, key);
    // kms:ResourceAliases costs a store query: only when a policy reads it.
    let reads_aliases = policy.reads("kms:ResourceAliases") || identity.policies.iter().flatten().any(|p| p.reads("kms:ResourceAliases"));
    if reads_aliases {
        let aliases = ctx.state.store.list_aliases(&key.account_id, &key.region, Some(&key.key_id), None, 100).await?;
        facts.set_many("kms:ResourceAliases", aliases.into_iter().map(|a| a.alias_name).collect());
    }
    facts.extend(extra);
    let caller = crate::iam::access::caller(&ctx.principal);
    let req = key_rules::Request { caller: &caller, action, resource: &key.arn, key_account: &key.account_id, facts: &facts };
    let v = key_rules::evaluate(&policy, identity.policies.as_deref(), None, &req);
    if v.decision != crate::policy::Decision::ImplicitDeny {
        return Ok((v, None));
    }
    // Only when the policies do not allow: the caller's grants on this key.
    let Some((grant_id, doc)) = matching_grant(ctx, key, &caller, action).await? else { return Ok((v, None)) };
    let v = key_rules::evaluate(&policy, identity.policies.as_deref(), Some(key_rules::GrantHit { grant_id }), &req);
    let grant = v.allowed().then_some(doc);
    Ok((v, grant))
}

/// A grant on `key` for the caller (its ARN, or its role's) that allows
/// `action` with the request's encryption context.
async fn matching_grant(ctx: &Ctx, key: &KeyRecord, caller: &crate::policy::Caller, action: &str) -> Result<Option<(String, GrantDoc)>, KmsError> {
    let Some(operation) = grants::operation_of(action) else { return Ok(None) };
    let mut grantees = vec![caller.arn.clone()];
    grantees.extend(caller.role_arn.clone());
    let info = ctx.authz.request_info();
    for g in ctx.state.store.grants_for(&key.key_id, &grantees).await? {
        let doc = GrantDoc::parse(&g)?;
        if doc.allows(operation, info.context_for(operation)) {
            return Ok(Some((g.grant_id, doc)));
        }
    }
    Ok(None)
}

/// The policy lockout safety check of PutKeyPolicy and CreateKey: unless
/// the caller bypasses it, the caller must still be allowed PutKeyPolicy on
/// `key` under its new policy (`key.policy`).
pub async fn lockout_check(ctx: &Ctx, key: &KeyRecord, bypass: bool) -> Result<(), KmsError> {
    if bypass {
        return Ok(());
    }
    let mut later = Facts::default();
    later.set("kms:BypassPolicyLockoutSafetyCheck", "false");
    let v = verdict(ctx, key, "kms:PutKeyPolicy", &later).await?;
    if v.allowed() {
        return Ok(());
    }
    Err(KmsError::new(ErrorCode::MalformedPolicyDocument, "The new key policy will not allow you to update the key policy in the future."))
}

/// Decides, records the decision on the request, and answers AWS's
/// AccessDeniedException when denied.
async fn decide_with_grant(ctx: &Ctx, key: KeyRecord, action: &'static str) -> Result<(Authorized<KeyRecord>, Option<GrantDoc>), KmsError> {
    // Grant tokens name grants Trent can already see (its store is
    // consistent); a malformed one is refused, as AWS does.
    grants::check_tokens(&ctx.authz.request_info().grant_tokens)?;
    let (v, grant) = verdict_and_grant(ctx, &key, action, &Facts::default()).await?;
    ctx.authz.record(Record { principal: ctx.principal.arn.clone(), action: action.to_owned(), resource: key.arn.clone(), allowed: v.allowed(), reason: v.reason.clone() });
    ctx.audit.key(&key.arn, &key.account_id, &key.current_material_id, &latest_reason(ctx));
    if v.allowed() {
        return Ok((Authorized(key), grant));
    }
    Err(KmsError::new(ErrorCode::AccessDenied, v.denial_message(&ctx.principal.arn, action, &key.arn)))
}

/// The checks an operation needs before its handler runs, by its name:
/// actions on no key (CreateKey, ListKeys, ListAliases, GenerateRandom) and
/// the alias half of the alias operations are decided by the caller's
/// identity policies alone, as in AWS (no key policy covers them).
pub async fn operation(ctx: &Ctx, operation: &str, input: &serde_json::Value) -> Result<(), KmsError> {
    let resource = match operation {
        "CreateKey" | "ListKeys" | "ListAliases" | "GenerateRandom" | "ListRetirableGrants" => "*".to_owned(),
        "CreateAlias" | "DeleteAlias" | "UpdateAlias" => match input.get("AliasName").and_then(serde_json::Value::as_str) {
            Some(name) => alias_arn(&ctx.region, &ctx.principal.account_id, name),
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    let action = format!("kms:{operation}");
    identity_only(ctx, &action, &resource).await
}

/// An action whose only policy is the caller's identity policies.
pub async fn identity_only(ctx: &Ctx, action: &str, resource: &str) -> Result<(), KmsError> {
    let identity = crate::iam::access::identity(ctx).await.map_err(|e| KmsError::internal(format!("identity policies: {}", e.internal.unwrap_or(e.message))))?;
    let (allowed, reason, message) = match &identity.policies {
        None => (true, "the caller is an account root, which IAM policies do not restrict".to_owned(), String::new()),
        Some(policies) => {
            let mut facts = facts::principal_facts(ctx, &identity);
            ctx.authz.add_request_facts(&mut facts);
            let base = format!("User: {} is not authorized to perform: {action} on resource: {resource}", ctx.principal.arn);
            match crate::policy::evaluate_identity_with(policies, action, resource, &facts) {
                (crate::policy::Decision::Allow, Some(hit)) => (true, format!("allowed by {hit}"), String::new()),
                (crate::policy::Decision::ExplicitDeny, Some(hit)) => (false, format!("denied by {hit}"), format!("{base} with an explicit deny in an identity-based policy")),
                _ => (false, format!("no identity-based policy allows {action}"), format!("{base} because no identity-based policy allows the {action} action")),
            }
        }
    };
    ctx.authz.record(Record { principal: ctx.principal.arn.clone(), action: action.to_owned(), resource: resource.to_owned(), allowed, reason });
    if allowed {
        Ok(())
    } else {
        Err(KmsError::new(ErrorCode::AccessDenied, message))
    }
}

/// Authorizes account-level actions that name no key (CreateKey, ListKeys,
/// ListAliases, GenerateRandom): dispatch has checked the caller's identity
/// policies ([`operation`]) before the handler runs.
pub fn account(ctx: &Ctx) -> Authorized<String> {
    ctx.audit.reason(&latest_reason(ctx));
    Authorized(ctx.principal.account_id.clone())
}

/// An alias of the caller's account and region, for the alias operations:
/// aliases are always the caller's own; dispatch has checked the caller's
/// identity policies for the alias ([`operation`]).
pub fn alias(ctx: &Ctx, name: &str) -> Result<Authorized<AliasScope>, KmsError> {
    crate::keys::alias::check_name(name)?;
    let scope = AliasScope { account_id: ctx.principal.account_id.clone(), region: ctx.region.clone(), name: name.to_owned() };
    ctx.audit.alias(&scope.arn(), &scope.account_id, &latest_reason(ctx));
    Ok(Authorized(scope))
}

/// The request's latest authorization decision, for its audit event
/// (`trentAuthorizationReason`).
fn latest_reason(ctx: &Ctx) -> String {
    ctx.authz.with_latest(|latest| match latest {
        Some(r) => format!("{} {} on {}: {}", if r.allowed { "allowed" } else { "denied" }, r.action, r.resource, r.reason),
        None => "no policy decides this action".to_owned(),
    })
}

/// Where an alias lives and what it is called.
#[derive(Debug, Clone)]
pub struct AliasScope {
    pub account_id: String,
    pub region: String,
    pub name: String,
}

impl AliasScope {
    pub fn arn(&self) -> String {
        alias_arn(&self.region, &self.account_id, &self.name)
    }

    pub fn not_found(&self) -> KmsError {
        KmsError::not_found(format!("Alias {} is not found.", self.arn()))
    }
}

/// The key, if it exists in `account_id` and the caller's region and has
/// not been destroyed meanwhile (a waiting period or imported material that
/// ended while nobody swept).
async fn live_key(ctx: &Ctx, account_id: &str, key_id: Uuid) -> Result<Option<KeyRecord>, KmsError> {
    let Some(key) = ctx.state.store.get_key(&key_id.to_string()).await? else { return Ok(None) };
    if key.account_id != account_id || key.region != ctx.region {
        return Ok(None);
    }
    if deletion::destroy_if_due(ctx.state.store.as_ref(), &key, ctx.now(), ctx.state.as_ref()).await? {
        return Ok(None);
    }
    let key = crate::keys::import::expire_if_due(ctx.state.store.as_ref(), key, ctx.now(), ctx.state.as_ref()).await?;
    Ok(Some(key))
}

async fn alias_target(ctx: &Ctx, account_id: &str, alias_name: &str) -> Result<Uuid, KmsError> {
    let scope = AliasScope { account_id: account_id.to_owned(), region: ctx.region.clone(), name: alias_name.to_owned() };
    let alias = ctx.state.store.get_alias(&scope.account_id, &scope.region, &scope.name).await?.ok_or_else(|| scope.not_found())?;
    Uuid::try_parse(&alias.target_key_id).map_err(|_| KmsError::internal(format!("alias {alias_name} has a malformed target")))
}

fn check_region(ctx: &Ctx, region: &str) -> Result<(), KmsError> {
    if region != ctx.region {
        return Err(KmsError::not_found(format!("Invalid arn {region}")));
    }
    Ok(())
}

fn not_found(ctx: &Ctx, account_id: &str, key_id: Uuid) -> KmsError {
    KmsError::not_found(format!("Key '{}' does not exist", key_arn(&ctx.region, account_id, &key_id.to_string())))
}
