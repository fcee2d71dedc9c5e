//! The checks an IAM policy document must pass before it is stored,
//! answered as IAM does with `MalformedPolicyDocument` and its messages.

use serde_json::Value;

/// What a document is for: the checks differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// Inline or managed identity policies: no principal, resources required.
    Identity,
    /// A role's trust policy: principals required, no resources.
    Trust,
}

/// `Err(message)` with IAM's text for a document it would refuse.
pub fn validate(text: &str, kind: DocumentKind) -> Result<(), String> {
    let syntax = || "Syntax errors in policy.".to_owned();
    let doc: Value = serde_json::from_str(text).map_err(|_| syntax())?;
    let obj = doc.as_object().ok_or_else(syntax)?;
    for key in obj.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            return Err(syntax());
        }
    }
    match obj.get("Version").map(|v| v.as_str()) {
        None | Some(Some("2012-10-17")) | Some(Some("2008-10-17")) => {}
        _ => return Err("The policy failed legacy parsing".to_owned()),
    }
    let statements = match obj.get("Statement") {
        Some(Value::Array(list)) if !list.is_empty() => list.iter().collect::<Vec<_>>(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => return Err(syntax()),
    };
    for s in statements {
        let s = s.as_object().ok_or_else(syntax)?;
        for key in s.keys() {
            if !matches!(key.as_str(), "Sid" | "Effect" | "Principal" | "NotPrincipal" | "Action" | "NotAction" | "Resource" | "NotResource" | "Condition") {
                return Err(syntax());
            }
        }
        if !matches!(s.get("Effect").and_then(Value::as_str), Some("Allow") | Some("Deny")) {
            return Err(syntax());
        }
        let actions = match (s.get("Action"), s.get("NotAction")) {
            (Some(v), None) | (None, Some(v)) => list(v).ok_or_else(syntax)?,
            (None, None) => return Err("Policy statement must contain actions.".to_owned()),
            _ => return Err(syntax()),
        };
        for a in actions {
            if a != "*" && !a.split_once(':').is_some_and(|(vendor, name)| !vendor.is_empty() && !name.is_empty()) {
                return Err("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.".to_owned());
            }
        }
        let has_principal = s.contains_key("Principal") || s.contains_key("NotPrincipal");
        let has_resource = s.contains_key("Resource") || s.contains_key("NotResource");
        if s.contains_key("Resource") && s.contains_key("NotResource") {
            return Err(syntax());
        }
        match kind {
            DocumentKind::Identity => {
                if has_principal {
                    return Err("Policy document should not specify a principal.".to_owned());
                }
                if !has_resource {
                    return Err("Policy statement must contain resources.".to_owned());
                }
            }
            DocumentKind::Trust => {
                if has_resource {
                    return Err("Has prohibited field Resource".to_owned());
                }
                let principal = s.get("Principal").or(s.get("NotPrincipal")).ok_or_else(|| "AssumeRolepolicy contained an invalid principal: null.".to_owned())?;
                super::principals(principal).map_err(|_| "Invalid principal in policy".to_owned())?;
            }
        }
        if let Some(v) = s.get("Resource").or(s.get("NotResource")) {
            list(v).ok_or_else(syntax)?;
        }
        if let Some(c) = s.get("Condition") {
            if !c.is_object() {
                return Err(syntax());
            }
        }
    }
    Ok(())
}

fn list(v: &Value) -> Option<Vec<&str>> {
    match v {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_documents() {
        validate(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#, DocumentKind::Identity).unwrap();
        validate(r#"{"Statement":{"Effect":"Deny","NotAction":["iam:*","sts:*"],"NotResource":"arn:aws:kms:*"}}"#, DocumentKind::Identity).unwrap();
        for (bad, why) in [
            ("{", "Syntax errors in policy."),
            (r#"{"Statement":[]}"#, "Syntax errors in policy."),
            (r#"{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#, "The policy failed legacy parsing"),
            (r#"{"Statement":{"Effect":"Maybe","Action":"*","Resource":"*"}}"#, "Syntax errors in policy."),
            (r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#, "Policy statement must contain actions."),
            (r#"{"Statement":{"Effect":"Allow","Action":"Encrypt","Resource":"*"}}"#, "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
            (r#"{"Statement":{"Effect":"Allow","Action":"kms:Encrypt"}}"#, "Policy statement must contain resources."),
            (r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"}}"#, "Policy document should not specify a principal."),
            (r#"{"Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Bogus":1}}"#, "Syntax errors in policy."),
        ] {
            assert_eq!(validate(bad, DocumentKind::Identity).unwrap_err(), why, "{bad}");
        }
    }

    #[test]
    fn trust_documents() {
        validate(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#, DocumentKind::Trust).unwrap();
        assert_eq!(
            validate(r#"{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#, DocumentKind::Trust).unwrap_err(),
            "AssumeRolepolicy contained an invalid principal: null."
        );
        assert_eq!(
            validate(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}]}"#, DocumentKind::Trust).unwrap_err(),
            "Has prohibited field Resource"
        );
    }
}
