//! Key policy documents: the default one AWS writes, and the checks a
//! policy must pass to be stored (structure, conditions the evaluator can
//! read, principals that exist, not locking the caller out). Evaluation is
//! [`crate::policy::key`]'s.

use serde_json::Value;
use trent_store::KeyRecord;

use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

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
    let bad = |why: &str| KmsError::from(Error::MalformedPolicy { why: why.to_owned() });
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
        if let Some(c) = s.get("Condition") {
            crate::policy::condition::parse(c).map_err(|why| bad(&why))?;
        }
    }
    crate::policy::Policy::parse(text).map_err(|why| bad(&why))?;
    Ok(())
}

/// AWS's refusal of a principal it does not know.
fn invalid_principals() -> KmsError {
    Error::PolicyInvalidPrincipals.into()
}

/// Every `AWS` principal must be `*`, an account (id or root ARN), or a
/// user, role or assumed-role session that exists on this deployment.
/// `_for`: what the policy is for, as authorized (PutKeyPolicy's key,
/// CreateKey's account).
pub async fn check_principals<T>(ctx: &OpCtx<'_>, _for: &Authorized<T>, text: &str) -> Result<(), KmsError> {
    let store = ctx.store();
    let policy = crate::policy::cache::parsed(text).map_err(|_| invalid_principals())?;
    let account = |a: &str| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
    for s in &policy.statements {
        for p in s.principal.iter().chain(s.not_principal.iter()) {
            for value in &p.aws {
                if account(value) {
                    continue;
                }
                if let Some(rest) = value.strip_prefix("arn:aws:sts::") {
                    let ok = rest.split_once(':').is_some_and(|(a, r)| account(a) && r.strip_prefix("assumed-role/").is_some_and(|x| x.contains('/')));
                    if ok {
                        continue;
                    }
                    return Err(invalid_principals());
                }
                let Some((acct, resource)) = value.strip_prefix("arn:aws:iam::").and_then(|r| r.split_once(':')) else { return Err(invalid_principals()) };
                if !account(acct) {
                    return Err(invalid_principals());
                }
                let (kind, name) = match resource.split_once('/') {
                    None if resource == "root" => continue,
                    Some(("user", path)) => (trent_store::EntityKind::User, path.rsplit('/').next().unwrap_or(path)),
                    Some(("role", path)) => (trent_store::EntityKind::Role, path.rsplit('/').next().unwrap_or(path)),
                    _ => return Err(invalid_principals()),
                };
                let exists = store.get_entity(acct, kind, name).await?.is_some_and(|e| &e.arn == value)
                    // A first admin made before IAM users existed is a principal without an entity.
                    || (kind == trent_store::EntityKind::User && store.get_principal(value).await?.is_some());
                if !exists {
                    return Err(invalid_principals());
                }
            }
        }
    }
    Ok(())
}

/// Refuses a policy that would keep the caller from changing it later
/// (AWS's lockout safety check), unless the request bypasses the check.
/// `key`: the key as it would be with the policy; `_for` as above.
pub async fn lockout_check<T>(ctx: &OpCtx<'_>, _for: &Authorized<T>, key: &KeyRecord, bypass: bool) -> Result<(), KmsError> {
    crate::authz::lockout_check(ctx.ctx, key, bypass).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::ErrorCode;

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
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringSortOf":{"a":"b"}}}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"a":{"nested":1}}}}]}"#,
        ] {
            assert_eq!(validate(bad).unwrap_err().code, ErrorCode::MalformedPolicyDocument, "{bad}");
        }
        validate(r#"{"Statement":{"Effect":"Deny","Principal":{"AWS":"*"},"NotAction":"kms:Decrypt","Resource":"*"}}"#).unwrap();
    }
}
