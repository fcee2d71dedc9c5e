//! Authorization, in one place: the only code that can make an
//! [`Authorized`] value, which every operation on a key needs. So no handler
//! can forget the check.
//!
//! Until the policy engine lands (its own issue), the rule is the simplest
//! boundary that holds: a principal may act on the keys of its own account,
//! in the region it signed for. The key policy is stored but not evaluated yet.

use std::ops::Deref;

use trent_store::KeyRecord;
use uuid::Uuid;

use crate::keys::reference::{alias_arn, key_arn, KeyRef};
use crate::lifecycle::deletion;
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

/// The reason recorded in audit events (`trentAuthorizationReason`) until
/// the policy engine says which statement allowed a request.
const OWN_ACCOUNT: &str = "own account: the caller's account owns the resource (key policies are not evaluated yet)";

/// A value the caller is allowed to use for the named action.
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

/// Whether an operation accepts an alias where it takes a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aliases {
    Accepted,
    Rejected,
}

/// Resolves a key reference from a request and authorizes `action` on it.
pub async fn key(ctx: &Ctx, reference: &str, action: &'static str, aliases: Aliases) -> Result<Authorized<KeyRecord>, KmsError> {
    let parsed = KeyRef::parse(reference)?;
    if parsed.is_alias() && aliases == Aliases::Rejected {
        return Err(KmsError::not_found(format!("Invalid keyId '{reference}': this operation takes a key ID or key ARN, not an alias")));
    }
    let key_id = match parsed {
        KeyRef::Id(id) => id,
        KeyRef::KeyArn { region, account_id, key_id } => {
            check_arn_owner(ctx, &region, &account_id, reference, action)?;
            key_id
        }
        KeyRef::Alias(name) => alias_target(ctx, &name).await?,
        KeyRef::AliasArn { region, account_id, alias_name } => {
            check_arn_owner(ctx, &region, &account_id, reference, action)?;
            alias_target(ctx, &alias_name).await?
        }
    };
    own_key(ctx, key_id).await?.ok_or_else(|| not_found(ctx, key_id))
}

/// The key a ciphertext names, if it belongs to the caller: Decrypt and
/// ReEncrypt answer `InvalidCiphertextException` otherwise, so a ciphertext
/// never tells a caller anything about another account's keys.
pub async fn ciphertext_key(ctx: &Ctx, key_id: Uuid) -> Result<Authorized<KeyRecord>, KmsError> {
    own_key(ctx, key_id).await?.ok_or_else(|| {
        KmsError::new(ErrorCode::InvalidCiphertext, "The ciphertext refers to a KMS key that does not exist or that you cannot use.")
    })
}

/// Authorizes account-level actions that name no key (CreateKey, ListKeys,
/// ListAliases, GenerateRandom): any authenticated principal of the account.
pub fn account(ctx: &Ctx) -> Authorized<String> {
    ctx.audit.reason(OWN_ACCOUNT);
    Authorized(ctx.principal.account_id.clone())
}

/// An alias of the caller's account and region, for the alias operations:
/// aliases are always the caller's own, so naming one is the authorization.
pub fn alias(ctx: &Ctx, name: &str) -> Result<Authorized<AliasScope>, KmsError> {
    crate::keys::alias::check_name(name)?;
    let scope = AliasScope { account_id: ctx.principal.account_id.clone(), region: ctx.region.clone(), name: name.to_owned() };
    ctx.audit.alias(&scope.arn(), &scope.account_id, OWN_ACCOUNT);
    Ok(Authorized(scope))
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
        KmsError::not_found(format!("Alias {} is not found.", self.arn()))
    }
}

async fn own_key(ctx: &Ctx, key_id: Uuid) -> Result<Option<Authorized<KeyRecord>>, KmsError> {
    let Some(key) = ctx.state.store.get_key(&key_id.to_string()).await? else { return Ok(None) };
    if key.account_id != ctx.principal.account_id || key.region != ctx.region {
        return Ok(None);
    }
    // A key whose waiting period ended while nobody swept is already gone.
    if deletion::destroy_if_due(ctx.state.store.as_ref(), &key, ctx.now()).await? {
        return Ok(None);
    }
    // Imported material whose ValidTo passed is gone even if nobody swept.
    let key = crate::keys::import::expire_if_due(ctx.state.store.as_ref(), key, ctx.now()).await?;
    ctx.audit.key(&key.arn, &key.account_id, &key.current_material_id, OWN_ACCOUNT);
    Ok(Some(Authorized(key)))
}

async fn alias_target(ctx: &Ctx, alias_name: &str) -> Result<Uuid, KmsError> {
    let scope = AliasScope { account_id: ctx.principal.account_id.clone(), region: ctx.region.clone(), name: alias_name.to_owned() };
    let alias = ctx.state.store.get_alias(&scope.account_id, &scope.region, &scope.name).await?.ok_or_else(|| scope.not_found())?;
    Uuid::try_parse(&alias.target_key_id).map_err(|_| KmsError::internal(format!("alias {alias_name} has a malformed target")))
}

fn check_arn_owner(ctx: &Ctx, region: &str, account_id: &str, reference: &str, action: &str) -> Result<(), KmsError> {
    if account_id != ctx.principal.account_id {
        return Err(KmsError::new(
            ErrorCode::AccessDenied,
            format!(
                "User: {} is not authorized to perform: {} on resource: {} because no resource-based policy allows the {} action",
                ctx.principal.arn, action, reference, action
            ),
        ));
    }
    if region != ctx.region {
        return Err(KmsError::not_found(format!("Invalid arn {region}")));
    }
    Ok(())
}

fn not_found(ctx: &Ctx, key_id: Uuid) -> KmsError {
    KmsError::not_found(format!("Key '{}' does not exist", key_arn(&ctx.region, &ctx.principal.account_id, &key_id.to_string())))
}
