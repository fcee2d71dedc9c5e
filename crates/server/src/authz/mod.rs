//! Authorization, in one step: [`authorize`] runs between validation and
//! the handler, for every operation. It resolves what the operation's row
//! says it acts on (`dispatch::table`) — the account, a key, the key a
//! ciphertext names, both keys of ReEncrypt, an alias and the keys it
//! points to, a grant — decides each once with AWS's rules, and hands the
//! handler [`Authorized`] values, which only this module can make. So no
//! handler can forget the check or check the wrong thing.
//!
//! The rules are AWS's, evaluated by [`crate::policy::key`]: the key policy
//! is the root of trust, delegation to the account lets identity policies
//! count, explicit deny wins, another account's caller needs both sides,
//! and only operations AWS marks cross-account may name another account's
//! key. Conditions read the facts of the caller ([`facts`]), of the key,
//! and what the request supplies from its own typed members
//! ([`supplied`]). Every decision, with the statement or grant that made
//! it, is kept on the request's [`Ctx`] ([`trail`]) for the audit log.

pub mod explain;
pub mod facts;
pub mod supplied;
pub mod trail;
pub mod via;

mod ciphertext;
mod decide;
mod grant;
mod resolve;

use std::ops::Deref;

use trent_model::Request;
use trent_store::{AliasRecord, GrantRecord, KeyRecord};

use crate::dispatch::table::{self, Resource};
use crate::keys::grants::GrantDoc;
use crate::keys::reference::alias_arn;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;
use crate::state::Ctx;
use supplied::Side;

pub use ciphertext::{ignores_ciphertext, missing_ciphertext};
pub use decide::{lockout_check, verdict, Supply};
pub use trail::{Record, Trail};

/// A value the caller is allowed to use for the operation at hand.
#[derive(Debug)]
pub struct Authorized<T>(T);

impl<T> Authorized<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Authorized<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// `trent serve --seed FILE` only (`crate::seed`): the operator, who holds
/// the data directory and its root key, makes the keys and aliases the
/// seed file names in its account before any request is served. No
/// request reaches this: it is called at start-up, never from dispatch.
pub(crate) fn for_operator_seed<T>(value: T) -> Authorized<T> {
    Authorized(value)
}

/// What a request was allowed to act on, by the shape of its row.
// ReEncrypt's two key records make the enum ~1 KiB; it is moved once per
// request, which costs less than the allocation boxing would add.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Access {
    /// Account-level actions: the caller's account; ListAliases' KeyId key.
    Account { account: Authorized<String>, key: Option<Authorized<KeyRecord>> },
    /// The operation's key and, when a grant allowed it, that grant
    /// (CreateGrant through a grant may only make narrower grants).
    Key { key: Authorized<KeyRecord>, grant: Option<GrantDoc> },
    ReEncrypt { source: Authorized<KeyRecord>, destination: Authorized<KeyRecord> },
    /// The alias, the alias as it is now (UpdateAlias, DeleteAlias) and
    /// the key it is to point to (CreateAlias, UpdateAlias).
    Alias { alias: Authorized<AliasScope>, current: Option<AliasRecord>, target: Option<Authorized<KeyRecord>> },
    Grant(Authorized<GrantRecord>),
    /// UpdatePrimaryRegion: the primary and the replica to become primary.
    PrimaryAndReplica { primary: Authorized<KeyRecord>, replica: Authorized<KeyRecord> },
}

impl Access {
    fn wrong(what: &str) -> KmsError {
        KmsError::internal(format!("the operation table and dispatch disagree: no {what} was authorized"))
    }

    pub fn key(self) -> Result<Authorized<KeyRecord>, KmsError> {
        self.key_and_grant().map(|(key, _)| key)
    }

    pub fn key_and_grant(self) -> Result<(Authorized<KeyRecord>, Option<GrantDoc>), KmsError> {
        match self {
            Access::Key { key, grant } => Ok((key, grant)),
            _ => Err(Self::wrong("key")),
        }
    }

    pub fn account(self) -> Result<(Authorized<String>, Option<Authorized<KeyRecord>>), KmsError> {
        match self {
            Access::Account { account, key } => Ok((account, key)),
            _ => Err(Self::wrong("account")),
        }
    }

    pub fn re_encrypt(self) -> Result<(Authorized<KeyRecord>, Authorized<KeyRecord>), KmsError> {
        match self {
            Access::ReEncrypt { source, destination } => Ok((source, destination)),
            _ => Err(Self::wrong("source and destination key")),
        }
    }

    #[allow(clippy::type_complexity)]
    pub fn alias(self) -> Result<(Authorized<AliasScope>, Option<AliasRecord>, Option<Authorized<KeyRecord>>), KmsError> {
        match self {
            Access::Alias { alias, current, target } => Ok((alias, current, target)),
            _ => Err(Self::wrong("alias")),
        }
    }

    pub fn primary_and_replica(self) -> Result<(Authorized<KeyRecord>, Authorized<KeyRecord>), KmsError> {
        match self {
            Access::PrimaryAndReplica { primary, replica } => Ok((primary, replica)),
            _ => Err(Self::wrong("primary and replica key")),
        }
    }

    pub fn grant(self) -> Result<Authorized<GrantRecord>, KmsError> {
        match self {
            Access::Grant(grant) => Ok(grant),
            _ => Err(Self::wrong("grant")),
        }
    }
}

/// The one authorization step of every KMS request.
pub async fn authorize(ctx: &Ctx, request: &Request) -> Result<Access, KmsError> {
    let row = table::describe(request.operation());
    match row.resource {
        Resource::Unsupported => Err(Error::TrentUnsupported { what: request.operation().name().to_owned() }.into()),
        Resource::Account => {
            decide::identity_only(ctx, row.action, "*", Supply::Request(request, Side::Key)).await?;
            ctx.audit.reason(&latest_reason(ctx));
            tagging(ctx, &row, request).await?;
            // ListAliases for one key: the key must be one the caller may list.
            let key = match request {
                Request::ListAliases(i) => match &i.key_id {
                    Some(reference) => Some(key(ctx, &row, request, reference, false, Side::Key).await?.0),
                    None => None,
                },
                _ => None,
            };
            Ok(Access::Account { account: Authorized(ctx.principal.account_id.clone()), key })
        }
        Resource::Key { aliases } => {
            let reference = supplied::key_member(request).ok_or_else(|| Access::wrong("key member"))?;
            let (key, grant) = key(ctx, &row, request, reference, aliases, Side::Key).await?;
            Ok(Access::Key { key, grant })
        }
        Resource::CiphertextKey => {
            let key = ciphertext::decrypt_key(ctx, &row, request).await?;
            let key = authorized(ctx, key, row.action, request, Side::Key).await?.0;
            Ok(Access::Key { key, grant: None })
        }
        Resource::ReEncrypt => {
            let Request::ReEncrypt(i) = request else { return Err(Access::wrong("ReEncrypt request")) };
            let ignore = ciphertext::ignores_ciphertext(i.dry_run, i.dry_run_modifiers.as_deref());
            // As AWS orders them: with IGNORE_CIPHERTEXT the destination first.
            let destination_first = if ignore { Some(key(ctx, &row, request, &i.destination_key_id, true, Side::Destination).await?.0) } else { None };
            let source = ciphertext::re_encrypt_source(ctx, &row, request).await?;
            let source = authorized(ctx, source, "kms:ReEncryptFrom", request, Side::Source).await?.0;
            let destination = match destination_first {
                Some(d) => d,
                None => key(ctx, &row, request, &i.destination_key_id, true, Side::Destination).await?.0,
            };
            Ok(Access::ReEncrypt { source, destination })
        }
        Resource::Replicate => replicate(ctx, &row, request).await,
        Resource::PrimaryAndReplica => primary_and_replica(ctx, &row, request).await,
        Resource::Alias => alias(ctx, &row, request).await,
        Resource::Grant => grant::retire(ctx, request).await.map(Access::Grant),
    }
}

/// For Trent's own admin calls (not KMS operations): the key `arn` names,
/// if the caller may do `like`'s action on it.
pub async fn admin_key(ctx: &Ctx, arn: &str, like: trent_model::Operation) -> Result<Authorized<KeyRecord>, KmsError> {
    let row = table::describe(like);
    let key = resolve::key(ctx, &row, arn, false).await?;
    decide::key_with(ctx, &key, row.action, Supply::Given(&crate::policy::Facts::default(), &supplied::EncryptionContext::new())).await?;
    Ok(Authorized(key))
}

/// Resolves the key `reference` names and decides `row`'s action on it
/// (ReEncrypt's destination: `kms:ReEncryptTo`).
async fn key(ctx: &Ctx, row: &table::Descriptor, request: &Request, reference: &str, aliases: bool, side: Side) -> Result<(Authorized<KeyRecord>, Option<GrantDoc>), KmsError> {
    let record = resolve::key(ctx, row, reference, aliases).await?;
    let action = if side == Side::Destination { "kms:ReEncryptTo" } else { row.action };
    authorized(ctx, record, action, request, side).await
}

async fn authorized(ctx: &Ctx, key: KeyRecord, action: &str, request: &Request, side: Side) -> Result<(Authorized<KeyRecord>, Option<GrantDoc>), KmsError> {
    let grant = decide::key(ctx, &key, action, request, side).await?;
    // Whatever the policies said: nobody changes an AWS managed key.
    crate::keys::managed::check(ctx, &key, request.operation(), action)?;
    Ok((Authorized(key), grant))
}

/// ReplicateKey, as AWS documents its permissions: `kms:ReplicateKey` on
/// the primary key (its key policy, in the primary's Region) and
/// `kms:CreateKey` in an IAM policy in the replica Region (identity
/// policies, resource `*`). Both see the request's `kms:ReplicaRegion`.
/// Key ids only: AWS takes no alias for the primary.
async fn replicate(ctx: &Ctx, row: &table::Descriptor, request: &Request) -> Result<Access, KmsError> {
    let reference = supplied::key_member(request).ok_or_else(|| Access::wrong("key member"))?;
    let (key, grant) = key(ctx, row, request, reference, false, Side::Key).await?;
    decide::identity_only(ctx, "kms:CreateKey", "*", Supply::Request(request, Side::Key)).await?;
    // The reason of the CreateKey event the replica's Region gets (audit::event::replica_created).
    ctx.audit.create_reason(&latest_reason(ctx));
    tagging(ctx, row, request).await?;
    Ok(Access::Key { key, grant })
}

/// CreateKey and ReplicateKey with tags: AWS also requires `kms:TagResource`
/// in an IAM policy ("To use the Tags parameter"), with the request's
/// `aws:RequestTag/...` and `aws:TagKeys`. Decided before anything is made.
async fn tagging(ctx: &Ctx, row: &table::Descriptor, request: &Request) -> Result<(), KmsError> {
    if row.tags_key_it_makes && supplied::has_request_tags(request) {
        decide::identity_only(ctx, "kms:TagResource", "*", Supply::Request(request, Side::Key)).await?;
    }
    Ok(())
}

/// UpdatePrimaryRegion: the action on the primary (named by `KeyId`, in
/// the caller's Region) and on the member in `PrimaryRegion`, each by its
/// own key policy and grants, both with `kms:PrimaryRegion`. A Region
/// without a member of the set is NotFoundException (its ARN there).
async fn primary_and_replica(ctx: &Ctx, row: &table::Descriptor, request: &Request) -> Result<Access, KmsError> {
    let Request::UpdatePrimaryRegion(i) = request else { return Err(Access::wrong("UpdatePrimaryRegion request")) };
    let (primary, _) = key(ctx, row, request, &i.key_id, false, Side::Key).await?;
    // Allowed on it: then a key that is no primary is told so before any Region is looked at.
    crate::keys::multi_region::check_is_primary(&primary)?;
    let arn = crate::keys::reference::key_arn(&i.primary_region, &primary.account_id, &primary.key_id);
    let member = match ctx.state.store.get_key(&primary.key_id, &i.primary_region).await? {
        Some(m) if m.account_id == primary.account_id => crate::keys::live::still_live(ctx, m).await?,
        _ => None,
    };
    let member = member.ok_or_else(|| KmsError::from(Error::KeyNotFound { arn }))?;
    let (replica, _) = authorized(ctx, member, row.action, request, Side::Key).await?;
    Ok(Access::PrimaryAndReplica { primary, replica })
}

/// The alias operations. AWS: CreateAlias needs the action on the alias
/// (identity policies) and on the target key; UpdateAlias on the alias,
/// the key it points to now and the new key; DeleteAlias on the alias and
/// the key it points to.
async fn alias(ctx: &Ctx, row: &table::Descriptor, request: &Request) -> Result<Access, KmsError> {
    let (name, target) = match request {
        Request::CreateAlias(i) => (&i.alias_name, Some(&i.target_key_id)),
        Request::UpdateAlias(i) => (&i.alias_name, Some(&i.target_key_id)),
        Request::DeleteAlias(i) => (&i.alias_name, None),
        _ => return Err(Access::wrong("alias request")),
    };
    let scope = AliasScope { account_id: ctx.principal.account_id.clone(), region: ctx.region.clone(), name: name.clone() };
    decide::identity_only(ctx, row.action, &scope.arn(), Supply::Request(request, Side::Key)).await?;
    crate::keys::alias::check_name(name)?;
    if matches!(request, Request::CreateAlias(_)) {
        crate::keys::alias::check_not_reserved(name)?;
    }
    ctx.audit.alias(&scope.arn(), &scope.account_id, &latest_reason(ctx));
    // The key the alias points to now: UpdateAlias and DeleteAlias change what it names.
    let current = if matches!(request, Request::CreateAlias(_)) {
        None
    } else {
        let record = ctx.state.store.get_alias(&scope.account_id, &scope.region, &scope.name).await?.ok_or_else(|| scope.not_found())?;
        // A target destroyed meanwhile has no policy left to ask.
        if let Some(key) = crate::keys::live::get(ctx, &scope.account_id, &record.target_key_id).await? {
            decide::key(ctx, &key, row.action, request, Side::Key).await?;
            crate::keys::managed::check(ctx, &key, request.operation(), row.action)?;
        }
        Some(record)
    };
    let target = match target {
        Some(reference) => Some(key(ctx, row, request, reference, false, Side::Key).await?.0),
        None => None,
    };
    Ok(Access::Alias { alias: Authorized(scope), current, target })
}

/// The request's latest authorization decision, for its audit event
/// (`trentAuthorizationReason`).
fn latest_reason(ctx: &Ctx) -> String {
    ctx.authz.with_latest(|latest| match latest {
        Some(r) => format!("{} {} on {}: {}", if r.allowed { "allowed" } else { "denied" }, r.action, r.resource, r.reason),
        None => "no policy decides this action".to_owned(),
    })
}

/// Where an alias lives and what it is called.
#[derive(Debug, Clone)]
pub struct AliasScope {
    pub account_id: String,
    pub region: String,
    pub name: String,
}

impl AliasScope {
    pub fn arn(&self) -> String {
        alias_arn(&self.region, &self.account_id, &self.name)
    }

    pub fn not_found(&self) -> KmsError {
        Error::AliasNotFound { arn: self.arn() }.into()
    }
}
