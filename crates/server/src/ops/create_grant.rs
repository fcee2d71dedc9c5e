//! CreateGrant: lets a grantee principal use a key for some operations it
//! supports, optionally only with certain encryption contexts. A grant made
//! through another grant's CreateGrant permission may only be narrower. A
//! `Name` makes retries idempotent: the same name and parameters return the
//! same grant id (with a new token).

use serde_json::{json, Value};
use trent_model::input::{CreateGrantRequest, GrantConstraints};
use trent_store::KeyRecord;

use super::{dry_run_check, validation_unsupported};
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keys::grants::{self, Constraints, GrantDoc};
use crate::keys::state;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

/// `parent`: the grant that allowed this CreateGrant, if a grant did.
pub async fn handle(ctx: &OpCtx<'_>, req: CreateGrantRequest, key: Authorized<KeyRecord>, parent: Option<GrantDoc>) -> Result<Value, KmsError> {
    if req.grantee_service_principal.is_some() || req.retiring_service_principal.is_some() {
        return Err(validation_unsupported("Service principals in grants".into()));
    }
    let grantee = req.grantee_principal.clone().ok_or_else(|| KmsError::from(Error::GranteeRequired))?;
    check_principal(&grantee, "GranteePrincipal")?;
    if let Some(r) = &req.retiring_principal {
        check_principal(r, "RetiringPrincipal")?;
    }
    let constraints = parse_constraints(req.constraints.as_ref())?;
    if req.operations.is_empty() {
        return Err(Error::GrantOperationsEmpty.into());
    }
    let mut operations = req.operations.clone();
    operations.sort();
    operations.dedup();
    // Only operations the key can do (checked before anything is stored).
    grants::check_supported(&key, &operations)?;
    // A grant with CreateGrant can only make narrower grants.
    if let Some(parent) = &parent {
        let wider = operations.iter().any(|o| !parent.operations.contains(o));
        let looser = !parent.constraints.clone().unwrap_or_default().covers(&constraints.clone().unwrap_or_default());
        if wider || looser {
            return Err(Error::GrantBeyondParent { principal: ctx.principal().arn.clone(), arn: key.arn.clone() }.into());
        }
    }
    state::grantable(&key)?;
    dry_run_check(req.dry_run)?;
    let doc = GrantDoc { operations, constraints, issuing_account: format!("arn:aws:iam::{}:root", key.account_id) };
    // Name: the same name and parameters on the same key give the same grant.
    if let Some(name) = &req.name {
        let mut after: Option<String> = None;
        loop {
            let page = grants::list(ctx, &key, after.as_deref(), 1000).await?;
            for g in &page {
                if g.name.as_deref() == Some(name) && g.grantee_principal == grantee && g.retiring_principal == req.retiring_principal && GrantDoc::parse(g)? == doc {
                    return Ok(json!({ "GrantId": g.grant_id, "GrantToken": grants::new_token(&g.grant_id)? }));
                }
            }
            match page.last() {
                Some(last) if page.len() == 1000 => after = Some(last.grant_id.clone()),
                _ => break,
            }
        }
    }
    let grant_id = grants::create(ctx, &key, grantee, req.retiring_principal.clone(), req.name.clone(), &doc).await?;
    Ok(json!({ "GrantId": grant_id, "GrantToken": grants::new_token(&grant_id)? }))
}

/// A principal a grant can name: an IAM user, role or account root, an
/// assumed-role session, or an account id.
fn check_principal(p: &str, member: &str) -> Result<(), KmsError> {
    let account = |a: &str| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
    let ok = account(p)
        || p.strip_prefix("arn:aws:iam::").and_then(|r| r.split_once(':')).is_some_and(|(a, rest)| account(a) && (rest == "root" || rest.strip_prefix("user/").or(rest.strip_prefix("role/")).is_some_and(|n| !n.is_empty())))
        || p.strip_prefix("arn:aws:sts::").and_then(|r| r.split_once(':')).is_some_and(|(a, rest)| account(a) && rest.starts_with("assumed-role/"));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidPrincipal { member: member.to_owned(), principal: p.to_owned() }.into())
    }
}

fn parse_constraints(c: Option<&GrantConstraints>) -> Result<Option<Constraints>, KmsError> {
    let Some(c) = c else { return Ok(None) };
    if c.source_arn.is_some() {
        return Err(validation_unsupported("The SourceArn grant constraint".into()));
    }
    let c = Constraints { encryption_context_subset: c.encryption_context_subset.clone(), encryption_context_equals: c.encryption_context_equals.clone() };
    Ok((!c.is_empty()).then_some(c))
}
