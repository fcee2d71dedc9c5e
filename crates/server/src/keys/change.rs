//! Changing an authorized key in the store: compare-and-set on its
//! `row_version`, re-reading and re-applying when another request changed
//! it first, so concurrent changes all take effect and none is lost.

use trent_store::{KeyRecord, StoreError};

use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

/// How often a change is re-applied when other requests keep changing the
/// same key first. Each round means another writer succeeded, so this is
/// only reached under extreme contention on one key.
pub const MAX_CHANGE_ATTEMPTS: usize = 32;

/// Applies `change` to an authorized key and saves it. If another request
/// changed the key since it was read, the key is read again and `change`
/// re-applied (re-checking states), so concurrent changes all take effect
/// and none is silently lost. Returns the key as saved (a plain record:
/// what was authorized is the key, not these contents).
pub async fn modify_key<F>(ctx: &OpCtx<'_>, key: Authorized<KeyRecord>, mut change: F) -> Result<KeyRecord, KmsError>
where
    F: FnMut(&mut KeyRecord) -> Result<(), KmsError>,
{
    let mut current = key.into_inner();
    for _ in 0..MAX_CHANGE_ATTEMPTS {
        let mut updated = current.clone();
        change(&mut updated)?;
        match ctx.store().update_key(&updated).await {
            Ok(row_version) => {
                updated.row_version = row_version;
                return Ok(updated);
            }
            Err(StoreError::Conflict) => {
                // Same key, authorized above; only its contents are re-read.
                current = reread(ctx, &current).await?;
            }
            Err(StoreError::NotFound) => return Err(gone(&current)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(KmsError::internal(format!("{} kept changing under {MAX_CHANGE_ATTEMPTS} attempts to update it", current.arn)))
}

/// The answer for a key that was destroyed while a request worked on it.
pub fn gone(key: &KeyRecord) -> KmsError {
    Error::KeyNotFound { arn: key.arn.clone() }.into()
}

/// The key as it is now, after a compare-and-set lost to another writer.
/// Only for `crate::keys`' own retry loops, on a key they were handed
/// authorized: only its contents are read again.
pub(in crate::keys) async fn reread(ctx: &OpCtx<'_>, key: &KeyRecord) -> Result<KeyRecord, KmsError> {
    ctx.store().get_key(&key.key_id, &key.region).await?.ok_or_else(|| gone(key))
}
