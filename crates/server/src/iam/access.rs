//! Who may call IAM and STS actions: the caller's identity policies,
//! evaluated by [`crate::policy`]. The account's root may do everything in
//! its account, as in AWS. (KMS calls are authorized in [`crate::authz`].)
//!
//! A principal that has no IAM user behind it is an account root, or a first
//! admin made before IAM users existed in Trent: both act as the root.

use std::sync::Arc;

use trent_store::{EntityKind, Tag};

use super::entity::{find_doc, Doc};
use crate::policy::{self, Decision, Policy};
use crate::query::error::QueryError;
pub use crate::state::PrincipalKind as Kind;
use crate::state::{Ctx, Principal};

pub fn kind_of(principal: &Principal) -> &Kind {
    &principal.kind
}

/// The caller as a trust policy sees it.
pub fn caller(principal: &Principal) -> policy::Caller {
    let role_arn = match kind_of(principal) {
        Kind::Session { role, .. } => Some(format!("arn:aws:iam::{}:role/{role}", principal.account_id)),
        _ => None,
    };
    policy::Caller { account_id: principal.account_id.clone(), arn: principal.arn.clone(), role_arn }
}

/// What IAM knows about the caller, for authorization and condition keys.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    /// The identity policies; `None` for the root (unrestricted).
    pub policies: Option<Vec<Arc<Policy>>>,
    /// The user's or role's unique id (`AIDA...`, `AROA...`), for `aws:userid`.
    pub unique_id: Option<String>,
    /// The user's or role's tags, for `aws:PrincipalTag/...`.
    pub tags: Vec<Tag>,
}

/// The caller's identity policies; `None` for the root (unrestricted).
pub async fn identity_policies(ctx: &Ctx) -> Result<Option<Vec<Arc<Policy>>>, QueryError> {
    Ok(identity(ctx).await?.policies)
}

/// The caller's identity policies, unique id and tags.
pub async fn identity(ctx: &Ctx) -> Result<Identity, QueryError> {
    let holder = match kind_of(&ctx.principal) {
        Kind::Root => return Ok(Identity::default()),
        Kind::User(name) => match find_doc(ctx, EntityKind::User, name).await? {
            Some(user) => user,
            // A principal with no user behind it: see the module comment.
            None => return Ok(Identity::default()),
        },
        Kind::Session { role, .. } => match find_doc(ctx, EntityKind::Role, role).await? {
            Some(role) => role,
            None => return Ok(Identity { policies: Some(Vec::new()), ..Identity::default() }),
        },
    };
    let policies = policies_of(ctx, &holder).await?;
    Ok(Identity { policies: Some(policies), unique_id: Some(holder.id.clone()), tags: holder.tags.clone() })
}

/// The inline and attached managed policies of a user or role, parsed once
/// (cached by text) and named for reasons.
pub async fn policies_of(ctx: &Ctx, doc: &Doc) -> Result<Vec<Arc<Policy>>, QueryError> {
    let parse = |name: &str, text: &str| policy::cache::parsed_named(name, text).map_err(|e| QueryError::internal(format!("stored policy does not parse: {e}")));
    let mut policies = Vec::with_capacity(doc.inline.len() + doc.attached.len());
    for (name, text) in &doc.inline {
        policies.push(parse(&format!("inline policy \"{name}\""), text)?);
    }
    for arn in &doc.attached {
        let name = arn.rsplit('/').next().unwrap_or(arn);
        if let Some(managed) = find_doc(ctx, EntityKind::Policy, name).await? {
            if let Some(text) = managed.default_document() {
                policies.push(parse(&format!("managed policy {arn}"), text)?);
            }
        }
    }
    Ok(policies)
}

/// Allows `action` on `resource` for the caller, or answers AccessDenied.
pub async fn authorize(ctx: &Ctx, action: &str, resource: &str) -> Result<(), QueryError> {
    let who = identity(ctx).await?;
    let Some(policies) = &who.policies else { return Ok(()) };
    let facts = crate::authz::facts::principal_facts(ctx, &who);
    match policy::evaluate_identity_with(policies, action, resource, &facts).0 {
        Decision::Allow => Ok(()),
        Decision::ExplicitDeny => Err(QueryError::access_denied(format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} with an explicit deny in an identity-based policy",
            ctx.principal.arn
        ))),
        Decision::ImplicitDeny => Err(QueryError::access_denied(format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action",
            ctx.principal.arn
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use trent_crypto::{RootKey, SoftwareProvider};
    use trent_store::sqlite::SqliteStore;
    use trent_store::{AccessKeyRecord, EntityRecord, PrincipalRecord, Store};

    use crate::clock::ManualClock;
    use crate::state::{AppState, AuthMode};

    fn ctx(store: Arc<SqliteStore>, arn: &str) -> Ctx {
        let root_key = Arc::new(trent_crypto::LiveRootKey::new(RootKey::from_bytes(trent_crypto::random_secret(32).unwrap()).unwrap()));
        let clock: Arc<ManualClock> = Arc::new(ManualClock::new(0));
        let audit = Arc::new(crate::audit::Audit::in_temp_dir(&root_key.load(), clock.clone()));
        let state = AppState { store, provider: Arc::new(SoftwareProvider::new(root_key.clone())), root_key, clock, auth: AuthMode::Secure, usage: Default::default(), audit, trusted_services: Vec::new(), key_stores: Arc::new(crate::keystores::runtime::KeyStoreRuntime::new(std::path::Path::new("/nonexistent"))), regions: Default::default(), sealer: std::sync::Weak::new(), throttle: None };
        Ctx { state: Arc::new(state), principal: Principal::from_arn(arn).unwrap(), region: "us-east-1".into(), request_id: "test".into(), event_id: "test".into(), audit: Default::default(), authz: Default::default() }
    }

    #[tokio::test]
    async fn users_need_a_policy_and_principals_without_a_user_act_as_the_root() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        // A first admin from before IAM users existed: a principal and a key, no user.
        let legacy = PrincipalRecord { arn: "arn:aws:iam::111122223333:user/admin".into(), account_id: "111122223333".into(), created_at: 0 };
        let key = AccessKeyRecord { access_key_id: "AKIALEGACY0000000001".into(), principal_arn: legacy.arn.clone(), sealed_secret: vec![1], created_at: 0, active: true };
        store.insert_principal(&legacy, &key).await.unwrap();
        let admin = ctx(store.clone(), &legacy.arn);
        assert!(identity_policies(&admin).await.unwrap().is_none());
        authorize(&admin, "iam:CreateUser", "arn:aws:iam::111122223333:user/x").await.unwrap();

        let dave = EntityRecord {
            account_id: "111122223333".into(),
            kind: EntityKind::User,
            name: "dave".into(),
            arn: "arn:aws:iam::111122223333:user/dave".into(),
            created_at: 0,
            doc: Doc { id: "AIDADAVE".into(), path: "/".into(), ..Doc::default() }.to_json().unwrap(),
            row_version: 1,
        };
        store.insert_entity(&dave, None).await.unwrap();
        let as_dave = ctx(store.clone(), &dave.arn);
        let denied = authorize(&as_dave, "iam:CreateUser", "arn:aws:iam::111122223333:user/x").await.unwrap_err();
        assert_eq!((denied.code, denied.status()), (crate::query::error::QueryCode::AccessDenied, 403));
        let mut record = store.get_entity("111122223333", EntityKind::User, "dave").await.unwrap().unwrap();
        let mut doc = Doc::parse(&record.doc).unwrap();
        doc.inline.insert("users".into(), r#"{"Statement":{"Effect":"Allow","Action":"iam:*User","Resource":"arn:aws:iam::111122223333:user/*"}}"#.into());
        record.doc = doc.to_json().unwrap();
        store.update_entity(&record).await.unwrap();
        authorize(&as_dave, "iam:CreateUser", "arn:aws:iam::111122223333:user/x").await.unwrap();
        assert!(authorize(&as_dave, "iam:CreateRole", "arn:aws:iam::111122223333:role/x").await.is_err());
        // The root is never restricted.
        authorize(&ctx(store, "arn:aws:iam::111122223333:root"), "iam:DeleteRole", "arn:aws:iam::111122223333:role/x").await.unwrap();
    }

    #[test]
    fn principal_kinds() {
        let p = |arn: &str| Principal::from_arn(arn).unwrap();
        assert_eq!(kind_of(&p("arn:aws:iam::111122223333:root")), &Kind::Root);
        assert_eq!(kind_of(&p("arn:aws:iam::111122223333:user/dave")), &Kind::User("dave".into()));
        assert_eq!(kind_of(&p("arn:aws:iam::111122223333:user/team/dave")), &Kind::User("dave".into()));
        assert_eq!(kind_of(&p("arn:aws:sts::111122223333:assumed-role/ops/me")), &Kind::Session { role: "ops".into(), session: "me".into() });
        assert_eq!(caller(&p("arn:aws:sts::111122223333:assumed-role/ops/me")).role_arn.as_deref(), Some("arn:aws:iam::111122223333:role/ops"));
    }
}
