//! Grants: what one allows (operations, encryption-context constraints),
//! their tokens, and the rules AWS gives them. The store keeps the record;
//! this is what its `doc` holds and how authorization reads it, and the
//! store's grants of a key authorization allowed (listed, made, revoked),
//! or of one grant it allowed to be retired.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use trent_crypto::keytypes::GrantOperation;
use trent_store::{GrantRecord, KeyRecord, StoreError};

use crate::authz::Authorized;
use crate::keys::{asymmetric, OpCtx};
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

/// Grants one key may have, as AWS's quota.
pub const MAX_GRANTS_PER_KEY: usize = 50_000;

/// Operations whose requests carry an encryption context, to which
/// encryption-context constraints apply; the others a constrained grant
/// may include (DescribeKey, RetireGrant, CreateGrant) ignore them.
const CONTEXT_OPERATIONS: &[&str] = &["Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Constraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
}

impl Constraints {
    /// Whether a request's encryption context satisfies the constraints.
    pub fn allow(&self, context: &BTreeMap<String, String>) -> bool {
        if let Some(eq) = &self.encryption_context_equals {
            if eq != context {
                return false;
            }
        }
        if let Some(sub) = &self.encryption_context_subset {
            if !sub.iter().all(|(k, v)| context.get(k) == Some(v)) {
                return false;
            }
        }
        true
    }

    /// Whether `child` is at least as strict as `self` (for a grant made
    /// through a grant's CreateGrant permission): every context `child`
    /// allows, `self` allows too.
    pub fn covers(&self, child: &Constraints) -> bool {
        let child_min: Option<&BTreeMap<String, String>> = child.encryption_context_equals.as_ref().or(child.encryption_context_subset.as_ref());
        if let Some(eq) = &self.encryption_context_equals {
            return child.encryption_context_equals.as_ref() == Some(eq);
        }
        if let Some(sub) = &self.encryption_context_subset {
            let Some(min) = child_min else { return false };
            return sub.iter().all(|(k, v)| min.get(k) == Some(v));
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.encryption_context_equals.is_none() && self.encryption_context_subset.is_none()
    }
}

/// What the store's `doc` column holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantDoc {
    pub operations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Constraints>,
    /// `arn:aws:iam::ACCOUNT:root` of the account the grant was made in.
    pub issuing_account: String,
}

impl GrantDoc {
    pub fn parse(g: &GrantRecord) -> Result<GrantDoc, KmsError> {
        serde_json::from_str(&g.doc).map_err(|e| KmsError::internal(format!("grant {} has a corrupt record: {e}", g.grant_id)))
    }

    pub fn to_json(&self) -> Result<String, KmsError> {
        serde_json::to_string(self).map_err(|e| KmsError::internal(format!("grant record: {e}")))
    }

    /// Whether the grant allows `operation` (e.g. `Decrypt`) for a request
    /// with this encryption context.
    pub fn allows(&self, operation: &str, context: &BTreeMap<String, String>) -> bool {
        if !self.operations.iter().any(|o| o == operation) {
            return false;
        }
        match &self.constraints {
            Some(c) if CONTEXT_OPERATIONS.contains(&operation) => c.allow(context),
            _ => true,
        }
    }
}

/// A new grant id: 64 hex digits, as AWS's.
pub fn new_grant_id() -> Result<String, KmsError> {
    let bytes = trent_crypto::random_secret(32)?;
    Ok(hex::encode(bytes.as_bytes()))
}

const TOKEN_PREFIX: &str = "trent-grant-token:";

/// A new grant token for a grant: unique per CreateGrant call, naming the grant.
pub fn new_token(grant_id: &str) -> Result<String, KmsError> {
    let nonce = trent_crypto::random_secret(16)?;
    Ok(URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{grant_id}:{}", hex::encode(nonce.as_bytes()))))
}

/// The grant id a token names, or AWS's InvalidGrantTokenException.
pub fn token_grant_id(token: &str) -> Result<String, KmsError> {
    let invalid = || KmsError::from(Error::InvalidGrantToken);
    let text = URL_SAFE_NO_PAD.decode(token.trim()).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(invalid)?;
    let rest = text.strip_prefix(TOKEN_PREFIX).ok_or_else(invalid)?;
    let (id, nonce) = rest.split_once(':').ok_or_else(invalid)?;
    let hex64 = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex64(id, 64) || !hex64(nonce, 32) {
        return Err(invalid());
    }
    Ok(id.to_owned())
}

/// Grant ids are 64 hex digits; anything else is InvalidGrantIdException.
pub fn check_grant_id(id: &str) -> Result<(), KmsError> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::InvalidGrantId { id: id.to_owned() }.into())
    }
}

/// Checks every token of a request is well formed (AWS refuses malformed ones).
pub fn check_tokens(tokens: &[String]) -> Result<(), KmsError> {
    tokens.iter().try_for_each(|t| token_grant_id(t).map(|_| ()))
}

/// ValidationException unless the key can do every operation a grant on it
/// would allow ([`GrantOperation::supported_by`]: no Sign grant on a
/// symmetric encryption key, no GenerateDataKey grant on an asymmetric one).
/// AWS does not publish its message; this one names the operations and the
/// key's spec and usage.
pub fn check_supported(key: &KeyRecord, operations: &[String]) -> Result<(), KmsError> {
    let (spec, usage) = (asymmetric::spec_of(key)?, asymmetric::usage_of(key)?);
    let unsupported: Vec<&str> = operations.iter().map(String::as_str).filter(|op| !GrantOperation::parse(op).is_some_and(|op| op.supported_by(spec, usage))).collect();
    if unsupported.is_empty() {
        return Ok(());
    }
    Err(Error::GrantOperationsUnsupported { operations: unsupported.join(", "), arn: key.arn.clone(), spec: spec.to_string(), usage: usage.to_string() }.into())
}

/// The grant operation an action names (`kms:Decrypt` -> `Decrypt`).
pub fn operation_of(action: &str) -> Option<&str> {
    let op = action.strip_prefix("kms:")?;
    GrantOperation::parse(op).map(GrantOperation::as_str)
}

/// A page of the key's grants, in grant id order, after `after`.
pub async fn list(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>, after: Option<&str>, limit: usize) -> Result<Vec<GrantRecord>, KmsError> {
    Ok(ctx.store().list_grants(&key.key_id, &key.region, after, limit).await?)
}

/// CreateGrant: a new grant of the key; its id, or AWS's LimitExceeded
/// when the key has [`MAX_GRANTS_PER_KEY`] already.
pub async fn create(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>, grantee: String, retiring: Option<String>, name: Option<String>, doc: &GrantDoc) -> Result<String, KmsError> {
    let record = GrantRecord {
        grant_id: new_grant_id()?,
        key_id: key.key_id.clone(),
        region: key.region.clone(),
        grantee_principal: grantee,
        retiring_principal: retiring,
        name,
        created_at: ctx.now(),
        doc: doc.to_json()?,
    };
    if !ctx.store().insert_grant(&record, MAX_GRANTS_PER_KEY).await? {
        return Err(Error::GrantLimit { max: MAX_GRANTS_PER_KEY.to_string(), arn: key.arn.clone() }.into());
    }
    Ok(record.grant_id)
}

/// The grant `grant_id` names, if it is a grant of the key.
pub async fn find(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>, grant_id: &str) -> Result<Option<GrantRecord>, KmsError> {
    Ok(ctx.store().get_grant(grant_id).await?.filter(|g| g.key_id == key.key_id && g.region == key.region))
}

/// RevokeGrant: deletes a grant of the key (one [`find`] returned).
pub async fn revoke(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>, grant: &GrantRecord) -> Result<(), KmsError> {
    if grant.key_id != key.key_id || grant.region != key.region {
        return Err(KmsError::internal(format!("grant {} is not a grant of {}", grant.grant_id, key.arn)));
    }
    delete(ctx, &grant.grant_id).await
}

/// RetireGrant: deletes the grant authorization found and allowed.
pub async fn retire(ctx: &OpCtx<'_>, grant: &Authorized<GrantRecord>) -> Result<(), KmsError> {
    delete(ctx, &grant.grant_id).await
}

async fn delete(ctx: &OpCtx<'_>, grant_id: &str) -> Result<(), KmsError> {
    match ctx.store().delete_grant(grant_id).await {
        // Deleted by another request meanwhile: the outcome the caller asked for.
        Ok(()) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::ErrorCode;

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn constraints_match_like_aws() {
        let eq = Constraints { encryption_context_equals: Some(ctx(&[("a", "1")])), ..Default::default() };
        let sub = Constraints { encryption_context_subset: Some(ctx(&[("a", "1")])), ..Default::default() };
        assert!(eq.allow(&ctx(&[("a", "1")])));
        assert!(!eq.allow(&ctx(&[("a", "1"), ("b", "2")])));
        assert!(!eq.allow(&ctx(&[])));
        assert!(sub.allow(&ctx(&[("a", "1"), ("b", "2")])));
        assert!(!sub.allow(&ctx(&[("a", "2")])));
        assert!(!sub.allow(&ctx(&[])));
        let doc = GrantDoc { operations: vec!["Decrypt".into(), "DescribeKey".into()], constraints: Some(eq.clone()), issuing_account: "x".into() };
        assert!(doc.allows("Decrypt", &ctx(&[("a", "1")])));
        assert!(!doc.allows("Decrypt", &ctx(&[])));
        assert!(doc.allows("DescribeKey", &ctx(&[])), "constraints do not apply to DescribeKey");
        assert!(!doc.allows("Encrypt", &ctx(&[("a", "1")])));
        // Narrower grants only.
        assert!(sub.covers(&eq));
        assert!(sub.covers(&Constraints { encryption_context_subset: Some(ctx(&[("a", "1"), ("b", "2")])), ..Default::default() }));
        assert!(!sub.covers(&Constraints::default()));
        assert!(!eq.covers(&sub));
        assert!(Constraints::default().covers(&sub));
    }

    /// The grant operations the key-type rule knows are the model's, so a
    /// model update that adds one fails here until the rule decides it.
    #[test]
    fn grant_operations_are_the_models() {
        let model: serde_json::Value = serde_json::from_str(include_str!("../../../../model/service-2.json")).unwrap();
        let names: Vec<&str> = model["shapes"]["GrantOperation"]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(names, GrantOperation::ALL.iter().map(|op| op.as_str()).collect::<Vec<_>>());
    }

    #[test]
    fn tokens_name_their_grant() {
        let id = new_grant_id().unwrap();
        let (a, b) = (new_token(&id).unwrap(), new_token(&id).unwrap());
        assert_ne!(a, b);
        assert_eq!(token_grant_id(&a).unwrap(), id);
        assert_eq!(token_grant_id("nonsense").unwrap_err().code, ErrorCode::InvalidGrantToken);
        assert_eq!(operation_of("kms:ReEncryptFrom"), Some("ReEncryptFrom"));
        assert_eq!(operation_of("kms:PutKeyPolicy"), None);
        // Every operation the model lets a grant allow is one a grant allows.
        for op in GrantOperation::ALL {
            assert_eq!(operation_of(&format!("kms:{op}")), Some(op.as_str()));
        }
    }
}
