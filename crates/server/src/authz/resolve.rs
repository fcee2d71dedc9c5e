//! From what a request names to the record it means: a key reference (key
//! id, key ARN, alias name, alias ARN) or a ciphertext's header, to the key
//! in the store. Only keys of the caller's region exist for a request; keys
//! of other accounts only for operations AWS allows across accounts.

use trent_store::KeyRecord;
use uuid::Uuid;

use super::AliasScope;
use crate::dispatch::table::Descriptor;
use crate::keys::reference::{key_arn, key_id_bytes, multi_region_id, KeyRef};
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;
use crate::state::Ctx;

/// The key `reference` names, for an operation of row `row`.
/// `aliases`: whether this member may name the key by an alias.
pub async fn key(ctx: &Ctx, row: &Descriptor, reference: &str, aliases: bool) -> Result<KeyRecord, KmsError> {
    let parsed = KeyRef::parse(reference)?;
    if parsed.is_alias() && !aliases {
        return Err(Error::InvalidKeyId { id: reference.to_owned() }.into());
    }
    let own = ctx.principal.account_id.as_str();
    let (account_id, key_id) = match parsed {
        KeyRef::Id(id) => (own.to_owned(), id.to_string()),
        KeyRef::KeyArn { region, account_id, key_id } => {
            check_region(ctx, &region)?;
            check_account(ctx, row, &account_id, reference)?;
            (account_id, key_id.to_string())
        }
        KeyRef::Alias(name) => (own.to_owned(), alias_target(ctx, own, &name).await?),
        KeyRef::AliasArn { region, account_id, alias_name } => {
            check_region(ctx, &region)?;
            check_account(ctx, row, &account_id, reference)?;
            let target = alias_target(ctx, &account_id, &alias_name).await?;
            (account_id, target)
        }
        KeyRef::MultiRegion { region, account_id, key_id } => match (region, account_id) {
            (Some(region), Some(account_id)) => {
                check_region(ctx, &region)?;
                check_account(ctx, row, &account_id, reference)?;
                (account_id, key_id)
            }
            _ => (own.to_owned(), key_id),
        },
    };
    crate::keys::live::get(ctx, &account_id, &key_id).await?.ok_or_else(|| not_found(ctx, &account_id, &key_id))
}

/// The key a ciphertext's header names: a key of the caller's region in
/// any account (Decrypt and ReEncrypt are cross-account operations). A key
/// that does not exist answers `InvalidCiphertextException`, so a
/// ciphertext never tells a caller about keys it cannot see.
pub async fn ciphertext_key(ctx: &Ctx, key_id: Uuid) -> Result<KeyRecord, KmsError> {
    // The header carries 16 bytes: a key id's, or a multi-Region key id's
    // hex digits (`keys::reference::key_id_bytes`).
    let found = match ctx.state.store.get_key(&key_id.to_string(), &ctx.region).await? {
        Some(k) => Some(k),
        None => ctx.state.store.get_key(&multi_region_id(&key_id), &ctx.region).await?,
    };
    let key = match found {
        Some(k) if k.region == ctx.region => crate::keys::live::still_live(ctx, k).await?,
        _ => None,
    };
    key.ok_or_else(|| Error::InvalidCiphertext.into())
}

/// The key an alias of `account_id` in the caller's region points to.
/// A trusted service's `alias/aws/<service>` that does not exist yet is
/// made, with its AWS managed key, when the service uses it on behalf of a
/// principal of the account (`keys::managed`).
pub async fn alias_target(ctx: &Ctx, account_id: &str, alias_name: &str) -> Result<String, KmsError> {
    let scope = AliasScope { account_id: account_id.to_owned(), region: ctx.region.clone(), name: alias_name.to_owned() };
    let Some(alias) = ctx.state.store.get_alias(&scope.account_id, &scope.region, &scope.name).await? else {
        return crate::keys::managed::get_or_create(ctx, account_id, alias_name).await?.map(|id| id.to_string()).ok_or_else(|| scope.not_found());
    };
    key_id_bytes(&alias.target_key_id).map(|_| alias.target_key_id).ok_or_else(|| KmsError::internal(format!("alias {alias_name} has a malformed target")))
}

/// Another account's key (named by its key or alias ARN), for an operation
/// AWS does not allow across accounts, is refused before it is looked up:
/// no key policy can allow it.
fn check_account(ctx: &Ctx, row: &Descriptor, account_id: &str, arn: &str) -> Result<(), KmsError> {
    if row.cross_account || account_id == ctx.principal.account_id {
        return Ok(());
    }
    let resource = arn.to_owned();
    ctx.authz.record(super::Record {
        principal: ctx.principal.arn.clone(),
        action: row.action.to_owned(),
        resource: resource.clone(),
        allowed: false,
        reason: format!("{} cannot be used on a resource of another account", row.action),
    });
    Err(Error::NoResourcePolicyAllows { principal: ctx.principal.arn.clone(), action: row.action.to_owned(), resource }.into())
}

fn check_region(ctx: &Ctx, region: &str) -> Result<(), KmsError> {
    if region != ctx.region {
        return Err(Error::InvalidArnRegion { region: region.to_owned() }.into());
    }
    Ok(())
}

fn not_found(ctx: &Ctx, account_id: &str, key_id: &str) -> KmsError {
    Error::KeyNotFound { arn: key_arn(&ctx.region, account_id, key_id) }.into()
}
