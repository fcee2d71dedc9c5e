//! Policy documents: parsing, the checks an IAM document must pass to be
//! stored, and their evaluation.
//!
//! This is Trent's one policy evaluator. Today it answers what the identity
//! issue needs: may this principal call this IAM/STS action (its identity
//! policies), and does a role's trust policy let this caller assume it. The
//! authorization issue grows it into the full evaluator (key policies,
//! grants, conditions); nothing else in Trent evaluates a policy.
//!
//! Conditions are evaluated against the request's facts ([`Facts`]). A
//! condition this evaluator cannot read (an operator it does not know, in a
//! policy stored before it existed) fails closed: such an `Allow` never
//! allows and such a `Deny` always denies. Key policies with one are refused
//! when stored. Trust policies still treat every condition that way.
//!
//! Policies are parsed once and cached by their text ([`cache`]), so the hot
//! path never parses JSON.

pub mod cache;
pub mod condition;
mod document;
mod evaluate;
pub mod key;

pub use condition::Facts;
pub use document::{validate, DocumentKind};
pub use evaluate::{evaluate_identity, evaluate_identity_with, evaluate_trust, Caller, Decision, Hit, TrustDecision};

use serde_json::Value;

/// One statement, parsed.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sid: Option<String>,
    pub allow: bool,
    /// `None` when the statement has no `Principal` (identity policies).
    pub principal: Option<Principals>,
    pub not_principal: Option<Principals>,
    pub actions: Match,
    pub resources: Option<Match>,
    pub has_condition: bool,
    pub conditions: Vec<condition::Clause>,
    /// A `Condition` block this evaluator cannot read: fails closed.
    pub unreadable_condition: bool,
}

impl Statement {
    /// Whether the statement's conditions hold for `facts` (failing closed
    /// on a condition it cannot read: false for an Allow, true for a Deny).
    pub fn condition_holds(&self, facts: &Facts, variables: bool) -> bool {
        if self.unreadable_condition {
            return !self.allow;
        }
        // A key the request gave under several case variants has no one value: fail closed.
        if facts.has_ambiguous() && self.conditions.iter().any(|c| c.keys.iter().any(|(k, _)| facts.is_ambiguous(k))) {
            return !self.allow;
        }
        condition::holds(&self.conditions, facts, variables)
    }

    /// A short name for reasons: the Sid, else the statement's position.
    pub fn label(&self, index: usize) -> String {
        match &self.sid {
            Some(sid) if !sid.is_empty() => format!("\"{sid}\""),
            _ => format!("#{}", index + 1),
        }
    }
}

/// `Action`/`NotAction` (or `Resource`/`NotResource`): the patterns and
/// whether they are negated.
#[derive(Debug, Clone)]
pub struct Match {
    pub patterns: Vec<String>,
    pub negated: bool,
}

/// The principals a statement names.
#[derive(Debug, Clone, Default)]
pub struct Principals {
    /// `"*"` or `{"AWS": "*"}`: everyone.
    pub everyone: bool,
    /// `AWS` values: ARNs or bare account ids.
    pub aws: Vec<String>,
    /// `Service` values (e.g. `dynamodb.amazonaws.com`).
    pub service: Vec<String>,
}

/// A parsed policy document.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub statements: Vec<Statement>,
    /// `${...}` policy variables are substituted (Version 2012-10-17 only).
    pub variables: bool,
    /// What reasons call it: an identity policy's name or ARN, a key policy's name.
    pub name: String,
    /// The condition keys its evaluation can read, lower-cased; `None`
    /// when that is not known before evaluating (policy variables, which
    /// may name any key), so every fact must be derived.
    pub keys_read: Option<Vec<String>>,
}

impl Policy {
    /// Whether any condition of the policy reads `key` (case-insensitive):
    /// facts that cost a store query are only looked up when one does.
    pub fn reads(&self, key: &str) -> bool {
        self.statements.iter().any(|s| s.unreadable_condition || s.conditions.iter().any(|c| c.keys.iter().any(|(k, _)| k.eq_ignore_ascii_case(key))))
    }
}

impl Policy {
    /// Parses a document that [`validate`] accepted (or any well-formed
    /// one); what it cannot read is an error, never skipped silently.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let statements = match doc.get("Statement") {
            Some(Value::Array(list)) => list.clone(),
            Some(single @ Value::Object(_)) => vec![single.clone()],
            _ => return Err("no Statement".to_owned()),
        };
        let variables = doc.get("Version").and_then(Value::as_str) == Some("2012-10-17");
        let statements: Vec<Statement> = statements.iter().map(parse_statement).collect::<Result<_, _>>()?;
        let keys_read = keys_read(&statements, variables);
        Ok(Policy { statements, variables, name: String::new(), keys_read })
    }
}

/// Every key `condition::holds` and variable substitution can look up in
/// these statements (see [`Policy::keys_read`]).
fn keys_read(statements: &[Statement], variables: bool) -> Option<Vec<String>> {
    let has_variable = |v: &String| v.contains("${");
    let mut keys = Vec::new();
    for s in statements {
        if variables && (s.resources.as_ref().is_some_and(|r| r.patterns.iter().any(has_variable)) || s.conditions.iter().any(|c| c.keys.iter().any(|(_, values)| values.iter().any(has_variable)))) {
            return None;
        }
        keys.extend(s.conditions.iter().flat_map(|c| c.keys.iter().map(|(k, _)| k.to_lowercase())));
    }
    keys.sort();
    keys.dedup();
    Some(keys)
}

fn parse_statement(s: &Value) -> Result<Statement, String> {
    let allow = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return Err("Effect must be Allow or Deny".to_owned()),
    };
    let actions = either(s, "Action", "NotAction")?.ok_or("no Action or NotAction")?;
    let (conditions, unreadable_condition) = match s.get("Condition") {
        None => (Vec::new(), false),
        Some(block) => match condition::parse(block) {
            Ok(c) => (c, false),
            Err(_) => (Vec::new(), true),
        },
    };
    Ok(Statement {
        sid: s.get("Sid").and_then(Value::as_str).map(str::to_owned),
        allow,
        principal: s.get("Principal").map(principals).transpose()?,
        not_principal: s.get("NotPrincipal").map(principals).transpose()?,
        actions,
        resources: either(s, "Resource", "NotResource")?,
        has_condition: s.get("Condition").is_some(),
        conditions,
        unreadable_condition,
    })
}

fn either(s: &Value, name: &str, not_name: &str) -> Result<Option<Match>, String> {
    match (s.get(name), s.get(not_name)) {
        (Some(v), None) => Ok(Some(Match { patterns: strings(v)?, negated: false })),
        (None, Some(v)) => Ok(Some(Match { patterns: strings(v)?, negated: true })),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(format!("both {name} and {not_name}")),
    }
}

/// A string or a list of strings.
fn strings(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(list) => list.iter().map(|x| x.as_str().map(str::to_owned).ok_or_else(|| "a list of strings was expected".to_owned())).collect(),
        _ => Err("a string or a list of strings was expected".to_owned()),
    }
}

pub(crate) fn principals(v: &Value) -> Result<Principals, String> {
    match v {
        Value::String(s) if s == "*" => Ok(Principals { everyone: true, ..Principals::default() }),
        Value::Object(map) => {
            let mut p = Principals::default();
            for (kind, value) in map {
                let values = strings(value)?;
                if kind == "AWS" {
                    p.everyone |= values.iter().any(|x| x == "*");
                    p.aws.extend(values.into_iter().filter(|x| x != "*"));
                } else if kind == "Service" {
                    p.service.extend(values);
                }
                // Federated and CanonicalUser principals name no caller
                // Trent can have; they are kept out of `aws`.
            }
            Ok(p)
        }
        _ => Err("Principal must be \"*\" or an object".to_owned()),
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` one character.
/// Runs on every statement of every request: ASCII (nearly every ARN,
/// action and condition value) is matched in place, without allocating.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    if pattern == "*" {
        return true;
    }
    if pattern.is_ascii() && text.is_ascii() {
        return if ignore_case { wildcard(pattern.as_bytes(), text.as_bytes(), |a, b| a.eq_ignore_ascii_case(&b)) } else { wildcard(pattern.as_bytes(), text.as_bytes(), |a, b| a == b) };
    }
    let (p, t): (Vec<char>, Vec<char>) = if ignore_case {
        (pattern.to_lowercase().chars().collect(), text.to_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    wildcard(&p, &t, |a, b| a == b)
}

/// Iterative matcher with backtracking to the last `*`, over bytes or chars.
fn wildcard<C: Copy + From<u8> + PartialEq>(p: &[C], t: &[C], same: impl Fn(C, C) -> bool) -> bool {
    let (star_c, any_c) = (C::from(b'*'), C::from(b'?'));
    let (mut i, mut j, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while j < t.len() {
        if i < p.len() && (p[i] == any_c || same(p[i], t[j])) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == star_c {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == star_c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_iam() {
        assert!(glob("kms:*", "kms:Encrypt", false));
        assert!(glob("KMS:encrypt", "kms:Encrypt", true));
        assert!(!glob("KMS:encrypt", "kms:Encrypt", false));
        assert!(glob("arn:aws:iam::1:user/*", "arn:aws:iam::1:user/dave", false));
        assert!(glob("iam:*User*", "iam:ListUserPolicies", true));
        assert!(glob("iam:Get?ser", "iam:GetUser", true));
        assert!(!glob("iam:Get?ser", "iam:GetUsers", true));
        assert!(glob("*", "", false));
        assert!(!glob("a*b", "acbd", false));
        assert!(glob("a*b*", "acbd", false));
        // Outside ASCII, case folding is Unicode's.
        assert!(glob("arn:aws:iam::1:user/\u{c9}*", "arn:aws:iam::1:user/\u{e9}mile", true));
        assert!(!glob("arn:aws:iam::1:user/\u{c9}*", "arn:aws:iam::1:user/\u{e9}mile", false));
        assert!(glob("?mile", "\u{e9}mile", false));
    }
}
