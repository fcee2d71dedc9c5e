//! Evaluation: explicit deny wins, then any allow, else the implicit deny.

use std::borrow::Borrow;

use super::{condition, glob, Facts, Match, Policy, Principals, Statement};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// Who is asking, as a trust policy sees it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: String,
    /// The caller's own ARN (a user, the root, or an assumed-role session).
    pub arn: String,
    /// For an assumed-role session: the role's ARN, which trust policies name.
    pub role_arn: Option<String>,
}

impl Caller {
    fn is_root(&self) -> bool {
        is_root_of(&self.arn, &self.account_id)
    }
}

/// What a role's trust policy says about a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustDecision {
    /// A statement denies it, or none allows it.
    Denied,
    /// A statement names the caller itself (its ARN, or its role's).
    AllowedByName,
    /// A statement names only the caller's account (or everyone): the
    /// caller's identity policies must allow the call too, as in AWS.
    AllowedByAccount,
}

pub(crate) fn matches(m: &Match, value: &str, ignore_case: bool) -> bool {
    m.patterns.iter().any(|p| glob(p, value, ignore_case)) != m.negated
}

/// Resource patterns may hold policy variables (`arn:...:user/${aws:username}`).
fn resource_matches(m: &Match, resource: &str, facts: &Facts, variables: bool) -> bool {
    let hit = m.patterns.iter().any(|p| {
        if variables {
            condition::substitute(p, facts).is_some_and(|p| glob(&p, resource, false))
        } else {
            glob(p, resource, false)
        }
    });
    hit != m.negated
}

/// Whether a statement applies to `action` on `resource` under `facts`
/// (its principal aside).
pub(crate) fn applies(s: &Statement, action: &str, resource: &str, facts: &Facts, variables: bool) -> bool {
    // Actions are case-insensitive in IAM; resources (ARNs) are not.
    matches(&s.actions, action, true)
        && s.resources.as_ref().is_none_or(|r| resource_matches(r, resource, facts, variables))
        && s.condition_holds(facts, variables)
}

/// Which statement of which policy decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The policy's name (an identity policy's name or ARN; a key policy's name).
    pub policy: String,
    /// The statement's Sid in quotes, or `#n` (1-based).
    pub statement: String,
}

impl std::fmt::Display for Hit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "statement {} of {}", self.statement, self.policy)
    }
}

/// Identity policies of a principal, for `action` on `resource`, with no
/// request facts (every condition key absent).
pub fn evaluate_identity<P: Borrow<Policy>>(policies: &[P], action: &str, resource: &str) -> Decision {
    evaluate_identity_with(policies, action, resource, &Facts::default()).0
}

/// Identity policies of a principal, for `action` on `resource` under the
/// request's `facts`: the decision and the statement that made it.
pub fn evaluate_identity_with<P: Borrow<Policy>>(policies: &[P], action: &str, resource: &str, facts: &Facts) -> (Decision, Option<Hit>) {
    // The first allowing statement, named only once decided (naming allocates).
    let mut allowed: Option<(&Policy, usize)> = None;
    for p in policies.iter().map(Borrow::borrow) {
        for (i, s) in p.statements.iter().enumerate() {
            if !applies(s, action, resource, facts, p.variables) {
                continue;
            }
            if !s.allow {
                return (Decision::ExplicitDeny, Some(Hit { policy: p.name.clone(), statement: s.label(i) }));
            }
            allowed.get_or_insert((p, i));
        }
    }
    match allowed {
        Some((p, i)) => (Decision::Allow, Some(Hit { policy: p.name.clone(), statement: p.statements[i].label(i) })),
        None => (Decision::ImplicitDeny, None),
    }
}

/// Whether a `NotPrincipal` leaves the caller out: only the principals it
/// names exactly (the caller's ARN, an assumed-role session's role, the root
/// by its ARN or account id). Unlike `Principal`, an account named in
/// `NotPrincipal` does not stand for its users and roles: AWS documents
/// `"NotPrincipal": [user, account root]` with a Deny as "deny everyone
/// except this user" (and the root).
pub(crate) fn exempted(np: &Principals, caller: &Caller) -> bool {
    np.everyone
        || np.aws.iter().any(|value| {
            value == &caller.arn || Some(value) == caller.role_arn.as_ref() || (caller.is_root() && (is_root_of(value, &caller.account_id) || value == &caller.account_id))
        })
}

/// Whether `arn` is `arn:aws:iam::<account_id>:root` (without building it: per statement, per request).
pub(crate) fn is_root_of(arn: &str, account_id: &str) -> bool {
    arn.strip_prefix("arn:aws:iam::").and_then(|rest| rest.strip_suffix(":root")) == Some(account_id)
}

fn principal_match(p: &Principals, caller: &Caller) -> Option<TrustDecision> {
    let mut by_account = p.everyone;
    for value in &p.aws {
        if value == &caller.arn || Some(value) == caller.role_arn.as_ref() {
            return Some(TrustDecision::AllowedByName);
        }
        if is_root_of(value, &caller.account_id) || value == &caller.account_id {
            // The root itself is named by its ARN; everyone else of the account through it.
            if caller.is_root() {
                return Some(TrustDecision::AllowedByName);
            }
            by_account = true;
        }
    }
    by_account.then_some(TrustDecision::AllowedByAccount)
}

/// A role's trust policy, for `action` (e.g. `sts:AssumeRole`) by `caller`.
pub fn evaluate_trust(trust: &Policy, caller: &Caller, action: &str) -> TrustDecision {
    let mut best = TrustDecision::Denied;
    for s in &trust.statements {
        if !matches(&s.actions, action, true) {
            continue;
        }
        let matched = match (&s.principal, &s.not_principal) {
            (Some(p), _) => principal_match(p, caller),
            // NotPrincipal: everyone but those named exactly.
            (None, Some(np)) => (!exempted(np, caller)).then_some(TrustDecision::AllowedByAccount),
            (None, None) => None,
        };
        let Some(how) = matched else { continue };
        if !s.allow {
            return TrustDecision::Denied;
        }
        if s.has_condition {
            continue;
        }
        if how == TrustDecision::AllowedByName || best == TrustDecision::Denied {
            best = how;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Policy {
        Policy::parse(text).unwrap()
    }

    fn dave() -> Caller {
        Caller { account_id: "111122223333".into(), arn: "arn:aws:iam::111122223333:user/dave".into(), role_arn: None }
    }

    #[test]
    fn identity_policies_deny_wins_then_allow() {
        let allow_kms = p(r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#);
        let deny_decrypt = p(r#"{"Statement":{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}}"#);
        assert_eq!(evaluate_identity(std::slice::from_ref(&allow_kms), "kms:Encrypt", "arn:k"), Decision::Allow);
        assert_eq!(evaluate_identity(std::slice::from_ref(&allow_kms), "iam:CreateUser", "arn:u"), Decision::ImplicitDeny);
        assert_eq!(evaluate_identity(&[allow_kms.clone(), deny_decrypt.clone()], "kms:decrypt", "arn:k"), Decision::ExplicitDeny);
        assert_eq!(evaluate_identity::<Policy>(&[], "kms:Encrypt", "arn:k"), Decision::ImplicitDeny);
        let only_users = p(r#"{"Statement":{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::1:user/*"}}"#);
        assert_eq!(evaluate_identity(std::slice::from_ref(&only_users), "iam:GetUser", "arn:aws:iam::1:user/dave"), Decision::Allow);
        assert_eq!(evaluate_identity(&[only_users], "iam:GetRole", "arn:aws:iam::1:role/r"), Decision::ImplicitDeny);
        let not_action = p(r#"{"Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#);
        assert_eq!(evaluate_identity(std::slice::from_ref(&not_action), "kms:Encrypt", "x"), Decision::Allow);
        assert_eq!(evaluate_identity(&[not_action], "iam:GetUser", "x"), Decision::ImplicitDeny);
    }

    #[test]
    fn conditions_are_evaluated_and_unreadable_ones_fail_closed() {
        let cond_allow = p(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}}"#);
        let cond_deny = p(r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}}"#);
        let all = p(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#);
        let mut plain_http = Facts::default();
        plain_http.set("aws:SecureTransport", "false");
        assert_eq!(evaluate_identity_with(std::slice::from_ref(&cond_allow), "kms:Encrypt", "x", &plain_http).0, Decision::ImplicitDeny);
        assert_eq!(evaluate_identity_with(&[all.clone(), cond_deny.clone()], "kms:Encrypt", "x", &plain_http).0, Decision::ExplicitDeny);
        let mut tls = Facts::default();
        tls.set("aws:SecureTransport", "true");
        assert_eq!(evaluate_identity_with(&[cond_allow], "kms:Encrypt", "x", &tls).0, Decision::Allow);
        assert_eq!(evaluate_identity_with(&[all.clone(), cond_deny], "kms:Encrypt", "x", &tls).0, Decision::Allow);
        let weird_allow = p(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringSortOf":{"a":"b"}}}}"#);
        let weird_deny = p(r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringSortOf":{"a":"b"}}}}"#);
        assert_eq!(evaluate_identity(&[weird_allow], "kms:Encrypt", "x"), Decision::ImplicitDeny);
        assert_eq!(evaluate_identity(&[all, weird_deny], "kms:Encrypt", "x"), Decision::ExplicitDeny);
    }

    #[test]
    fn resources_take_policy_variables() {
        let own = p(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::1:user/${aws:username}"}}"#);
        let mut dave = Facts::default();
        dave.set("aws:username", "dave");
        assert_eq!(evaluate_identity_with(std::slice::from_ref(&own), "iam:GetUser", "arn:aws:iam::1:user/dave", &dave).0, Decision::Allow);
        assert_eq!(evaluate_identity_with(std::slice::from_ref(&own), "iam:GetUser", "arn:aws:iam::1:user/eve", &dave).0, Decision::ImplicitDeny);
        assert_eq!(evaluate_identity(&[own], "iam:GetUser", "arn:aws:iam::1:user/dave"), Decision::ImplicitDeny);
    }

    #[test]
    fn trust_policies_name_callers_or_their_account() {
        let by_name = p(r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:user/dave"]},"Action":"sts:AssumeRole"}}"#);
        let by_account = p(r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}}"#);
        let by_id = p(r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}}"#);
        let other = p(r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"sts:AssumeRole"}}"#);
        let service = p(r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}}"#);
        assert_eq!(evaluate_trust(&by_name, &dave(), "sts:AssumeRole"), TrustDecision::AllowedByName);
        assert_eq!(evaluate_trust(&by_name, &dave(), "sts:TagSession"), TrustDecision::Denied);
        assert_eq!(evaluate_trust(&by_account, &dave(), "sts:AssumeRole"), TrustDecision::AllowedByAccount);
        assert_eq!(evaluate_trust(&by_id, &dave(), "sts:AssumeRole"), TrustDecision::AllowedByAccount);
        assert_eq!(evaluate_trust(&other, &dave(), "sts:AssumeRole"), TrustDecision::Denied);
        assert_eq!(evaluate_trust(&service, &dave(), "sts:AssumeRole"), TrustDecision::Denied);
        let root = Caller { account_id: "111122223333".into(), arn: "arn:aws:iam::111122223333:root".into(), role_arn: None };
        assert_eq!(evaluate_trust(&by_account, &root, "sts:AssumeRole"), TrustDecision::AllowedByName);
        let session = Caller {
            account_id: "111122223333".into(),
            arn: "arn:aws:sts::111122223333:assumed-role/ops/s1".into(),
            role_arn: Some("arn:aws:iam::111122223333:role/ops".into()),
        };
        let names_role = p(r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/ops"},"Action":"sts:AssumeRole"}}"#);
        assert_eq!(evaluate_trust(&names_role, &session, "sts:AssumeRole"), TrustDecision::AllowedByName);
        let deny_dave = p(
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:*"},{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/dave"},"Action":"sts:AssumeRole"}]}"#,
        );
        assert_eq!(evaluate_trust(&deny_dave, &dave(), "sts:AssumeRole"), TrustDecision::Denied);
        assert_eq!(evaluate_trust(&deny_dave, &session, "sts:AssumeRole"), TrustDecision::AllowedByAccount);
    }
}
