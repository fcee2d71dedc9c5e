//! Decisions: AWS's rules ([`crate::policy::key`]) applied to one key or
//! to an account-level action, with the condition facts of the caller, the
//! key and what the request supplies ([`super::supplied`]). Every decision
//! is recorded on the request for its audit event.

use trent_model::Request;
use trent_store::KeyRecord;

use super::supplied::{self, EncryptionContext, Side};
use super::{facts, Record};
use crate::keys::grants::{self, GrantDoc};
use crate::policy::key::{self as key_rules, Verdict};
use crate::policy::Facts;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;
use crate::state::Ctx;

/// What the request being decided supplies.
#[derive(Clone, Copy)]
pub enum Supply<'a> {
    /// One side of a real request: its own members only.
    Request(&'a Request, Side),
    /// Facts given outright, and the encryption context grants are checked
    /// against (the explain endpoint, the policy lockout check).
    Given(&'a Facts, &'a EncryptionContext),
}

impl Supply<'_> {
    fn add_facts(&self, f: &mut Facts) {
        match self {
            Supply::Request(request, side) => supplied::add_facts(request, *side, f),
            Supply::Given(given, _) => f.extend(given),
        }
    }

    fn grant_context(&self) -> &EncryptionContext {
        match self {
            Supply::Request(request, side) => supplied::grant_context(request, *side),
            Supply::Given(_, context) => context,
        }
    }
}

/// The verdict for `action` on `key` by the caller and, when a grant
/// decided it, that grant.
pub async fn verdict(ctx: &Ctx, key: &KeyRecord, action: &str, supply: Supply<'_>) -> Result<(Verdict, Option<GrantDoc>), KmsError> {
    let identity = crate::iam::access::identity(ctx).await.map_err(|e| KmsError::internal(format!("identity policies: {}", e.internal.unwrap_or(e.message))))?;
    let policy = crate::policy::cache::parsed_named("the key policy", &key.policy).map_err(|e| KmsError::internal(format!("key {} has a policy that does not parse: {e}", key.arn)))?;
    // Only the facts these policies can read are derived.
    let mut facts = Facts::only(std::iter::once(policy.clone()).chain(identity.policies.iter().flatten().cloned()).collect());
    facts::add_principal_facts(&mut facts, ctx, &identity);
    ctx.authz.add_connection_facts(&mut facts);
    supply.add_facts(&mut facts);
    facts::add_key_facts(&mut facts, key);
    // kms:ResourceAliases costs a store query: only when a policy reads it.
    let reads_aliases = policy.reads("kms:ResourceAliases") || identity.policies.iter().flatten().any(|p| p.reads("kms:ResourceAliases"));
    if reads_aliases {
        let aliases = ctx.state.store.list_aliases(&key.account_id, &key.region, Some(&key.key_id), None, 100).await?;
        facts.set_many("kms:ResourceAliases", aliases.into_iter().map(|a| a.alias_name).collect());
    }
    let caller = crate::iam::access::caller(&ctx.principal);
    let req = key_rules::Request { caller: &caller, action, resource: &key.arn, key_account: &key.account_id, facts: &facts };
    let v = key_rules::evaluate(&policy, identity.policies.as_deref(), None, &req);
    if v.decision != crate::policy::Decision::ImplicitDeny {
        return Ok((v, None));
    }
    // Only when the policies do not allow: the caller's grants on this key.
    let Some((grant_id, doc)) = matching_grant(ctx, key, &caller, action, supply.grant_context()).await? else { return Ok((v, None)) };
    let v = key_rules::evaluate(&policy, identity.policies.as_deref(), Some(key_rules::GrantHit { grant_id }), &req);
    let grant = v.allowed().then_some(doc);
    Ok((v, grant))
}

/// A grant on `key` for the caller (its ARN, or its role's) that allows
/// `action` with this encryption context.
async fn matching_grant(ctx: &Ctx, key: &KeyRecord, caller: &crate::policy::Caller, action: &str, context: &EncryptionContext) -> Result<Option<(String, GrantDoc)>, KmsError> {
    let Some(operation) = grants::operation_of(action) else { return Ok(None) };
    let mut grantees = vec![caller.arn.clone()];
    grantees.extend(caller.role_arn.clone());
    for g in ctx.state.store.grants_for(&key.key_id, &key.region, &grantees).await? {
        let doc = GrantDoc::parse(&g)?;
        if doc.allows(operation, context) {
            return Ok(Some((g.grant_id, doc)));
        }
    }
    Ok(None)
}

/// Decides `action` on `key` for one side of `request`, records the
/// decision, and answers AWS's AccessDeniedException when denied.
pub async fn key(ctx: &Ctx, key: &KeyRecord, action: &str, request: &Request, side: Side) -> Result<Option<GrantDoc>, KmsError> {
    // Grant tokens name grants Trent can already see (its store is
    // consistent); a malformed one is refused, as AWS does.
    grants::check_tokens(supplied::grant_tokens(request))?;
    key_with(ctx, key, action, Supply::Request(request, side)).await
}

/// [`key`] with what is supplied given outright (Trent's admin calls).
pub async fn key_with(ctx: &Ctx, key: &KeyRecord, action: &str, supply: Supply<'_>) -> Result<Option<GrantDoc>, KmsError> {
    let (v, grant) = verdict(ctx, key, action, supply).await?;
    ctx.authz.record(Record { principal: ctx.principal.arn.clone(), action: action.to_owned(), resource: key.arn.clone(), allowed: v.allowed(), reason: v.reason.clone() });
    ctx.audit.key(&key.arn, &key.account_id, &key.current_material_id, &super::latest_reason(ctx));
    if v.allowed() {
        return Ok(grant);
    }
    Err(Error::AccessDenied { message: v.denial_message(&ctx.principal.arn, action, &key.arn) }.into())
}

/// An action whose only policies are the caller's identity policies (no
/// key policy covers it: CreateKey, ListKeys, the alias half of the alias
/// operations...), on `resource`.
pub async fn identity_only(ctx: &Ctx, action: &str, resource: &str, supply: Supply<'_>) -> Result<(), KmsError> {
    let identity = crate::iam::access::identity(ctx).await.map_err(|e| KmsError::internal(format!("identity policies: {}", e.internal.unwrap_or(e.message))))?;
    let (allowed, reason, message) = match &identity.policies {
        None => (true, "the caller is an account root, which IAM policies do not restrict".to_owned(), String::new()),
        Some(policies) => {
            let mut facts = facts::principal_facts(ctx, &identity);
            ctx.authz.add_connection_facts(&mut facts);
            supply.add_facts(&mut facts);
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
        Err(Error::AccessDenied { message }.into())
    }
}

/// The policy lockout safety check of PutKeyPolicy and CreateKey: unless
/// the caller bypasses it, the caller must still be allowed PutKeyPolicy on
/// `key` under its new policy (`key.policy`), in a later request that does
/// not bypass the check.
pub async fn lockout_check(ctx: &Ctx, key: &KeyRecord, bypass: bool) -> Result<(), KmsError> {
    if bypass {
        return Ok(());
    }
    let mut later = Facts::default();
    later.set("kms:BypassPolicyLockoutSafetyCheck", "false");
    let (v, _) = verdict(ctx, key, "kms:PutKeyPolicy", Supply::Given(&later, &EncryptionContext::new())).await?;
    if v.allowed() {
        return Ok(());
    }
    Err(Error::PolicyLockout.into())
}
