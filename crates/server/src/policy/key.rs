//! KMS authorization, AWS's rules: the key policy is the root of trust.
//!
//! - An explicit `Deny` that applies, in the key policy or in the caller's
//!   identity policies, denies. It wins over every allow.
//! - Same account: allowed when a key policy statement allows the caller by
//!   name (its ARN, its role's ARN, or `*`), or allows the caller's account
//!   (`arn:aws:iam::ACCOUNT:root` or the bare id) — delegation to IAM — and an
//!   identity policy of the caller allows it too; or a grant allows it.
//! - Another account: the key policy must allow the caller (by name or its
//!   account) and the caller's identity policies must allow it as well.
//! - The root of an account has no identity policies to consult: IAM does
//!   not restrict it, so where IAM must agree, it does. (`identity: None`.)
//!
//! Every verdict says which statement or grant decided, for the audit log
//! and the explain endpoint, and what AWS's AccessDeniedException says.

use std::borrow::Borrow;

use super::evaluate::{applies, evaluate_identity_with};
use super::{Caller, Decision, Facts, Hit, Policy, Principals};

/// One request as the evaluator sees it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub caller: &'a Caller,
    pub action: &'a str,
    /// The key's ARN.
    pub resource: &'a str,
    pub key_account: &'a str,
    pub facts: &'a Facts,
}

/// What a grant contributes: the grant that allows the request, if any
/// (grants only ever allow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantHit {
    pub grant_id: String,
}

/// Where a deciding statement was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    KeyPolicy,
    IdentityPolicy,
    Grant,
}

/// A decision and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    /// For a deny: whose allow was missing, or where the explicit deny was.
    pub place: Place,
    /// Human-readable: which statement or grant decided.
    pub reason: String,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.decision == Decision::Allow
    }

    /// AWS's AccessDeniedException message for this verdict.
    pub fn denial_message(&self, caller_arn: &str, action: &str, resource: &str) -> String {
        let base = format!("User: {caller_arn} is not authorized to perform: {action} on resource: {resource}");
        match (self.decision, self.place) {
            (Decision::ExplicitDeny, Place::IdentityPolicy) => format!("{base} with an explicit deny in an identity-based policy"),
            (Decision::ExplicitDeny, _) => format!("{base} with an explicit deny in a resource-based policy"),
            (_, Place::IdentityPolicy) => format!("{base} because no identity-based policy allows the {action} action"),
            _ => format!("{base} because no resource-based policy allows the {action} action"),
        }
    }
}

/// How a key policy statement's principal covers the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Named {
    /// Through the caller's account: IAM must agree (delegation).
    Account,
    /// The caller itself (or everyone).
    Caller,
}

fn named(p: &Principals, caller: &Caller) -> Option<Named> {
    if p.everyone {
        return Some(Named::Caller);
    }
    let mut best = None;
    for value in &p.aws {
        if value == &caller.arn || Some(value) == caller.role_arn.as_ref() {
            return Some(Named::Caller);
        }
        if super::evaluate::is_root_of(value, &caller.account_id) || value == &caller.account_id {
            best = Some(Named::Account);
        }
    }
    best
}

fn covers(s: &super::Statement, caller: &Caller) -> Option<Named> {
    match (&s.principal, &s.not_principal) {
        (Some(p), _) => named(p, caller),
        // NotPrincipal: everyone except the principals it names exactly.
        (None, Some(np)) => (!super::evaluate::exempted(np, caller)).then_some(Named::Caller),
        (None, None) => None,
    }
}

/// Decides `req` under the key policy, the caller's identity policies
/// (`None` for an account root: unrestricted by IAM) and, if any, the
/// grant that allows it.
pub fn evaluate<P: Borrow<Policy>>(key_policy: &Policy, identity: Option<&[P]>, grant: Option<GrantHit>, req: &Request<'_>) -> Verdict {
    let key_hit = |i: usize, s: &super::Statement| Hit { policy: key_policy_name(key_policy), statement: s.label(i) };
    // 1. Explicit denies, key policy first.
    for (i, s) in key_policy.statements.iter().enumerate() {
        if !s.allow && covers(s, req.caller).is_some() && applies(s, req.action, req.resource, req.facts, key_policy.variables) {
            return Verdict { decision: Decision::ExplicitDeny, place: Place::KeyPolicy, reason: format!("denied by {}", key_hit(i, s)) };
        }
    }
    let identity_verdict = identity.map(|policies| evaluate_identity_with(policies, req.action, req.resource, req.facts));
    if let Some((Decision::ExplicitDeny, Some(hit))) = &identity_verdict {
        return Verdict { decision: Decision::ExplicitDeny, place: Place::IdentityPolicy, reason: format!("denied by {hit}") };
    }
    // 2. The key policy's allows: the strongest way it names the caller.
    let mut best: Option<(Named, Hit)> = None;
    for (i, s) in key_policy.statements.iter().enumerate() {
        if !s.allow {
            continue;
        }
        let Some(how) = covers(s, req.caller) else { continue };
        if !applies(s, req.action, req.resource, req.facts, key_policy.variables) {
            continue;
        }
        if best.as_ref().is_none_or(|(b, _)| how > *b) {
            best = Some((how, key_hit(i, s)));
        }
    }
    let same_account = req.caller.account_id == req.key_account;
    // What the caller's IAM side says: unrestricted for a root.
    let iam_allows = match &identity_verdict {
        None => Some("the account root, which IAM policies do not restrict".to_owned()),
        Some((Decision::Allow, Some(hit))) => Some(format!("{hit}")),
        Some(_) => None,
    };
    match best {
        Some((Named::Caller, hit)) if same_account => return allow(Place::KeyPolicy, format!("allowed by {hit}, which names the caller")),
        Some((how, hit)) => match &iam_allows {
            Some(iam) => {
                let why = if how == Named::Account { "delegates to the caller's account" } else { "names the caller" };
                return allow(Place::KeyPolicy, format!("allowed by {hit}, which {why}, and by {iam}"));
            }
            None if grant.is_none() => {
                return Verdict {
                    decision: Decision::ImplicitDeny,
                    place: Place::IdentityPolicy,
                    reason: format!("{hit} lets IAM decide, and no identity-based policy of the caller allows {}", req.action),
                };
            }
            None => {}
        },
        None => {}
    }
    // 3. Grants: the key policy need not mention the grantee.
    if let Some(g) = grant {
        return allow(Place::Grant, format!("allowed by grant {}", g.grant_id));
    }
    Verdict {
        decision: Decision::ImplicitDeny,
        place: Place::KeyPolicy,
        reason: format!("no statement of {} allows the caller {}", key_policy_name(key_policy), req.action),
    }
}

fn allow(place: Place, reason: String) -> Verdict {
    Verdict { decision: Decision::Allow, place, reason }
}

fn key_policy_name(p: &Policy) -> String {
    if p.name.is_empty() {
        "the key policy".to_owned()
    } else {
        p.name.clone()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;
