//! RetireGrant's authorization: the grant, named by its token or by key
//! and grant id, may be retired by its retiring principal, by its grantee
//! when the grant allows RetireGrant, by the account it was made in, or by
//! whoever the key's policies allow `kms:RetireGrant` (AWS's rules).

use trent_model::Request;
use trent_store::GrantRecord;

use super::decide::{self, Supply};
use super::supplied::EncryptionContext;
use super::{Authorized, Record};
use crate::keys::grants::{self, GrantDoc};
use crate::keys::reference::KeyRef;
use crate::policy::Facts;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;
use crate::state::Ctx;

pub async fn retire(ctx: &Ctx, request: &Request) -> Result<Authorized<GrantRecord>, KmsError> {
    let Request::RetireGrant(req) = request else { return Err(KmsError::internal("retire on another operation")) };
    let (grant_id, key_ref) = match (&req.grant_token, &req.grant_id, &req.key_id) {
        (Some(token), _, _) => (grants::token_grant_id(token)?, req.key_id.clone()),
        (None, Some(id), Some(key)) => (id.clone(), Some(key.clone())),
        _ => return Err(Error::RetireGrantArguments.into()),
    };
    grants::check_grant_id(&grant_id)?;
    let not_found = || KmsError::from(Error::GrantNotFound { id: grant_id.clone() });
    let grant = ctx.state.store.get_grant(&grant_id).await?.ok_or_else(not_found)?;
    if let Some(reference) = key_ref {
        let named = match KeyRef::parse(&reference)? {
            KeyRef::Id(id) | KeyRef::KeyArn { key_id: id, .. } => id.to_string(),
            KeyRef::MultiRegion { key_id, .. } => key_id,
            _ => return Err(Error::InvalidKeyId { id: reference.clone() }.into()),
        };
        if named != grant.key_id {
            return Err(not_found());
        }
    }
    let doc = GrantDoc::parse(&grant)?;
    let caller = crate::iam::access::caller(&ctx.principal);
    let me = |p: &str| p == caller.arn || Some(p) == caller.role_arn.as_deref();
    let mut allowed = grant.retiring_principal.as_deref().is_some_and(me) || (me(&grant.grantee_principal) && doc.operations.iter().any(|o| o == "RetireGrant")) || caller.arn == doc.issuing_account;
    let mut reason = if allowed { format!("the caller may retire grant {grant_id}") } else { String::new() };
    if !allowed {
        // A key policy (or IAM, through it) may also allow kms:RetireGrant.
        if let Some(key) = ctx.state.store.get_key(&grant.key_id, &grant.region).await? {
            let (v, _) = decide::verdict(ctx, &key, "kms:RetireGrant", Supply::Given(&Facts::default(), &EncryptionContext::new())).await?;
            allowed = v.allowed();
            reason = v.reason;
        }
    }
    ctx.authz.record(Record {
        principal: ctx.principal.arn.clone(),
        action: "kms:RetireGrant".into(),
        resource: grant_id.clone(),
        allowed,
        reason: if allowed { reason } else { format!("not the retiring principal or a grantee allowed to retire grant {grant_id}") },
    });
    if !allowed {
        return Err(Error::RetireGrantDenied { principal: ctx.principal.arn.clone(), grant: grant_id }.into());
    }
    Ok(Authorized(grant))
}
