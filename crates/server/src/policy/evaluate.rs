//! Evaluation: explicit deny wins, then any allow, else the implicit deny.

use super::{glob, Match, Policy, Principals, Statement};

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
        self.arn == format!("arn:aws:iam::{}:root", self.account_id)
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

fn matches(m: &Match, value: &str, ignore_case: bool) -> bool {
    m.patterns.iter().any(|p| glob(p, value, ignore_case)) != m.negated
}

fn applies(s: &Statement, action: &str, resource: &str) -> bool {
    // Actions are case-insensitive in IAM; resources (ARNs) are not.
    matches(&s.actions, action, true) && s.resources.as_ref().is_none_or(|r| matches(r, resource, false))
}

/// Identity policies of a principal, for `action` on `resource`.
pub fn evaluate_identity(policies: &[Policy], action: &str, resource: &str) -> Decision {
    let mut allowed = false;
    for s in policies.iter().flat_map(|p| &p.statements) {
        if !applies(s, action, resource) {
            continue;
        }
        match (s.allow, s.has_condition) {
            // Conditions are not evaluated yet: a conditional deny denies...
            (false, _) => return Decision::ExplicitDeny,
            // ...and a conditional allow never allows.
            (true, true) => {}
            (true, false) => allowed = true,
        }
    }
    if allowed { Decision::Allow } else { Decision::ImplicitDeny }
}

/// How a statement's principals match the caller, if they do.
fn principal_match(p: &Principals, caller: &Caller) -> Option<TrustDecision> {
    let root = format!("arn:aws:iam::{}:root", caller.account_id);
    let mut by_account = p.everyone;
    for value in &p.aws {
        if value == &caller.arn || Some(value) == caller.role_arn.as_ref() {
            return Some(TrustDecision::AllowedByName);
        }
        if value == &root || value == &caller.account_id {
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
            // NotPrincipal: everyone but those named.
            (None, Some(np)) => principal_match(np, caller).is_none().then_some(TrustDecision::AllowedByAccount),
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
        assert_eq!(evaluate_identity(&[], "kms:Encrypt", "arn:k"), Decision::ImplicitDeny);
        let only_users = p(r#"{"Statement":{"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::1:user/*"}}"#);
        assert_eq!(evaluate_identity(std::slice::from_ref(&only_users), "iam:GetUser", "arn:aws:iam::1:user/dave"), Decision::Allow);
        assert_eq!(evaluate_identity(&[only_users], "iam:GetRole", "arn:aws:iam::1:role/r"), Decision::ImplicitDeny);
        let not_action = p(r#"{"Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#);
        assert_eq!(evaluate_identity(std::slice::from_ref(&not_action), "kms:Encrypt", "x"), Decision::Allow);
        assert_eq!(evaluate_identity(&[not_action], "iam:GetUser", "x"), Decision::ImplicitDeny);
    }

    #[test]
    fn conditions_fail_closed() {
        let cond_allow = p(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}}"#);
        let cond_deny = p(r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}}"#);
        let all = p(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#);
        assert_eq!(evaluate_identity(&[cond_allow], "kms:Encrypt", "x"), Decision::ImplicitDeny);
        assert_eq!(evaluate_identity(&[all, cond_deny], "kms:Encrypt", "x"), Decision::ExplicitDeny);
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
