//! Key policy documents: the default one AWS writes, and the structural
//! checks a policy must pass to be stored. Evaluation is the policy
//! engine's (a later issue); until then a policy is stored and returned.

use serde_json::Value;

use crate::protocol::error::{ErrorCode, KmsError};

/// AWS's default key policy: the account's root, and so IAM policies, may do everything.
pub fn default_policy(account_id: &str) -> String {
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:aws:iam::{account_id}:root") },
            "Action": "kms:*",
            "Resource": "*"
        }]
    });
    // Pretty, as AWS returns its default policy.
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Checks that `text` is a policy document a key can carry.
pub fn validate(text: &str) -> Result<(), KmsError> {
    let bad = |why: &str| KmsError::new(ErrorCode::MalformedPolicyDocument, format!("The new key policy will not allow you to update the key policy in the future, or is malformed: {why}"));
    let doc: Value = serde_json::from_str(text).map_err(|_| bad("the policy is not valid JSON"))?;
    let obj = doc.as_object().ok_or_else(|| bad("the policy must be a JSON object"))?;
    if let Some(version) = obj.get("Version") {
        if version != "2012-10-17" && version != "2008-10-17" {
            return Err(bad("Version must be 2012-10-17 or 2008-10-17"));
        }
    }
    let statements = match obj.get("Statement") {
        Some(Value::Array(list)) if !list.is_empty() => list.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => return Err(bad("the policy needs a Statement")),
    };
    for s in &statements {
        let s = s.as_object().ok_or_else(|| bad("each Statement must be an object"))?;
        match s.get("Effect").and_then(Value::as_str) {
            Some("Allow") | Some("Deny") => {}
            _ => return Err(bad("each Statement needs an Effect of Allow or Deny")),
        }
        if !s.contains_key("Principal") && !s.contains_key("NotPrincipal") {
            return Err(bad("each Statement of a key policy needs a Principal"));
        }
        if !s.contains_key("Action") && !s.contains_key("NotAction") {
            return Err(bad("each Statement needs an Action or NotAction"));
        }
        if !s.contains_key("Resource") && !s.contains_key("NotResource") {
            return Err(bad("each Statement needs a Resource or NotResource"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_valid_and_names_the_account_root() {
        let p = default_policy("111122223333");
        validate(&p).unwrap();
        assert!(p.contains("arn:aws:iam::111122223333:root"));
    }

    #[test]
    fn malformed_policies_are_refused() {
        for bad in [
            "not json",
            "[]",
            r#"{"Version":"2012-10-17"}"#,
            r#"{"Statement":[]}"#,
            r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Resource":"*"}]}"#,
            r#"{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#,
        ] {
            assert_eq!(validate(bad).unwrap_err().code, ErrorCode::MalformedPolicyDocument, "{bad}");
        }
        validate(r#"{"Statement":{"Effect":"Deny","Principal":{"AWS":"*"},"NotAction":"kms:Decrypt","Resource":"*"}}"#).unwrap();
    }
}
