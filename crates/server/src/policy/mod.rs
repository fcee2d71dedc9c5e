//! Policy documents: parsing, the checks an IAM document must pass to be
//! stored, and their evaluation.
//!
//! This is Trent's one policy evaluator. Today it answers what the identity
//! issue needs: may this principal call this IAM/STS action (its identity
//! policies), and does a role's trust policy let this caller assume it. The
//! authorization issue grows it into the full evaluator (key policies,
//! grants, conditions); nothing else in Trent evaluates a policy.
//!
//! What it does not do yet, and how it fails closed meanwhile: `Condition`
//! blocks are not evaluated, so an `Allow` statement with a condition never
//! allows and a `Deny` statement with one always denies.

mod document;
mod evaluate;

pub use document::{validate, DocumentKind};
pub use evaluate::{evaluate_identity, evaluate_trust, Caller, Decision, TrustDecision};

use serde_json::Value;

/// One statement, parsed.
#[derive(Debug, Clone)]
pub struct Statement {
    pub allow: bool,
    /// `None` when the statement has no `Principal` (identity policies).
    pub principal: Option<Principals>,
    pub not_principal: Option<Principals>,
    pub actions: Match,
    pub resources: Option<Match>,
    pub has_condition: bool,
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
}

/// A parsed policy document.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub statements: Vec<Statement>,
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
        statements.iter().map(parse_statement).collect::<Result<_, _>>().map(|statements| Policy { statements })
    }
}

fn parse_statement(s: &Value) -> Result<Statement, String> {
    let allow = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return Err("Effect must be Allow or Deny".to_owned()),
    };
    let actions = either(s, "Action", "NotAction")?.ok_or("no Action or NotAction")?;
    Ok(Statement {
        allow,
        principal: s.get("Principal").map(principals).transpose()?,
        not_principal: s.get("NotPrincipal").map(principals).transpose()?,
        actions,
        resources: either(s, "Resource", "NotResource")?,
        has_condition: s.get("Condition").is_some(),
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

fn principals(v: &Value) -> Result<Principals, String> {
    match v {
        Value::String(s) if s == "*" => Ok(Principals { everyone: true, aws: vec![] }),
        Value::Object(map) => {
            let mut p = Principals::default();
            for (kind, value) in map {
                let values = strings(value)?;
                if kind == "AWS" {
                    p.everyone |= values.iter().any(|x| x == "*");
                    p.aws.extend(values.into_iter().filter(|x| x != "*"));
                }
                // Service, Federated and CanonicalUser principals name no
                // caller Trent can have; they are kept out of `aws`.
            }
            Ok(p)
        }
        _ => Err("Principal must be \"*\" or an object".to_owned()),
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if ignore_case {
        (pattern.to_lowercase().chars().collect(), text.to_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Iterative matcher with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
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
    p[i..].iter().all(|c| *c == '*')
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
    }
}
