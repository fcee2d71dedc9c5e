//! Aliases: their names (`alias/` followed by letters, digits, `/_-`;
//! names under `alias/aws/` belong to AWS managed keys and cannot be made),
//! and the store's changes to an alias authorization allowed.

use trent_store::{AliasRecord, KeyRecord, StoreError};

use crate::authz::{AliasScope, Authorized};
use crate::keys::change::gone;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub fn check_name(name: &str) -> Result<(), KmsError> {
    let Some(rest) = name.strip_prefix("alias/") else {
        // AWS: ValidationException (not InvalidAliasNameException).
        return Err(Error::AliasPrefix.into());
    };
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b)) {
        return Err(Error::AliasNameInvalid { name: name.to_owned() }.into());
    }
    Ok(())
}

/// CreateAlias: names under `alias/aws/` are AWS managed keys' (the model:
/// "The alias name cannot begin with alias/aws/"). UpdateAlias and
/// DeleteAlias of such an alias are refused by its key instead, as in AWS
/// (its policy allows neither, `keys::managed`).
pub fn check_not_reserved(name: &str) -> Result<(), KmsError> {
    if name.starts_with(crate::keys::managed::ALIAS_PREFIX) {
        return Err(Error::AliasReserved { name: name.to_owned() }.into());
    }
    Ok(())
}

/// CreateAlias: the alias, pointing at the authorized key.
pub async fn create(ctx: &OpCtx<'_>, alias: &Authorized<AliasScope>, key: &Authorized<KeyRecord>) -> Result<(), KmsError> {
    let now = ctx.now();
    let record = AliasRecord {
        account_id: alias.account_id.clone(),
        region: alias.region.clone(),
        alias_name: alias.name.clone(),
        target_key_id: key.key_id.clone(),
        created_at: now,
        updated_at: now,
    };
    match ctx.store().insert_alias(&record).await {
        Ok(()) => Ok(()),
        Err(StoreError::AlreadyExists) => Err(Error::AliasExists { arn: alias.arn() }.into()),
        // The key was destroyed between its authorization and the insert.
        Err(StoreError::NotFound) => Err(gone(key)),
        Err(e) => Err(e.into()),
    }
}

/// UpdateAlias: `current` (the alias as authorization read it) pointed at
/// the authorized `key`, if the alias still points where it did then and
/// the key is of the same type and usage as the one it points to now.
pub async fn update(ctx: &OpCtx<'_>, alias: &Authorized<AliasScope>, mut current: AliasRecord, key: &Authorized<KeyRecord>) -> Result<(), KmsError> {
    // The record is saved as given: it must be the authorized alias.
    if current.account_id != alias.account_id || current.region != alias.region || current.alias_name != alias.name {
        return Err(KmsError::internal(format!("UpdateAlias was given another alias than {}", alias.arn())));
    }
    if let Some(target) = ctx.store().get_key(&current.target_key_id, &current.region).await? {
        if target.key_spec != key.key_spec || target.key_usage != key.key_usage {
            return Err(Error::AliasTypeMismatch { arn: key.arn.clone() }.into());
        }
    }
    let checked = std::mem::replace(&mut current.target_key_id, key.key_id.clone());
    current.updated_at = ctx.now();
    match ctx.store().update_alias(&current, &checked).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(alias.not_found()),
        Err(StoreError::Conflict) => Err(moved(alias)),
        Err(e) => Err(e.into()),
    }
}

/// DeleteAlias: the alias, if it still points where `current` (the alias
/// as authorization read it) says.
pub async fn delete(ctx: &OpCtx<'_>, alias: &Authorized<AliasScope>, current: &AliasRecord) -> Result<(), KmsError> {
    match ctx.store().delete_alias(&alias.account_id, &alias.region, &alias.name, &current.target_key_id).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(alias.not_found()),
        Err(StoreError::Conflict) => Err(moved(alias)),
        Err(e) => Err(e.into()),
    }
}

/// The answer when an alias was pointed elsewhere between its authorization
/// and the change: the request changed nothing and may be sent again.
fn moved(alias: &AliasScope) -> KmsError {
    Error::AliasMoved { arn: alias.arn() }.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::ErrorCode;

    #[test]
    fn names_follow_aws_rules() {
        check_name("alias/my-key_1/prod").unwrap();
        for bad in ["alias/", "alias/has:colon", "alias/sp ace"] {
            assert_eq!(check_name(bad).unwrap_err().code, ErrorCode::InvalidAliasName, "{bad}");
        }
        check_name("alias/aws/s3").unwrap();
        assert_eq!(check_not_reserved("alias/aws/s3").unwrap_err().code, ErrorCode::InvalidAliasName);
        check_not_reserved("alias/awsome").unwrap();
        // A name without the prefix: AWS's ValidationException and wording.
        let err = check_name("my-key").unwrap_err();
        assert_eq!((err.code, err.message.as_deref()), (ErrorCode::Validation, Error::AliasPrefix.message().as_deref()));
    }
}
