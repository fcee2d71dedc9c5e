//! A key as a request may see it: the store's record, unless its deletion
//! waiting period ended or its imported material expired while no sweep
//! ran, in which case that happens now (exactly as the sweep would do it)
//! and the request sees the result.

use trent_store::{KeyRecord, KeyState};
use crate::lifecycle::deletion;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

/// The key, if it exists in `account_id` and the caller's region and has
/// not been destroyed meanwhile.
pub async fn get(ctx: &Ctx, account_id: &str, key_id: &str) -> Result<Option<KeyRecord>, KmsError> {
    let Some(key) = ctx.state.store.get_key(key_id, &ctx.region).await? else { return Ok(None) };
    if key.account_id != account_id || key.region != ctx.region {
        return Ok(None);
    }
    still_live(ctx, key).await
}

/// A key record just read, unless it is due for destruction (then
/// destroyed now), with its imported material expired if that is due.
///
/// Almost every key has nothing due: then nothing is awaited. The work is
/// boxed, so its futures (several KiB: the destruction of a multi-Region
/// member, the expiry of imported material) take no room in the future of
/// every request that reads a key (docs/BENCHMARKS.md, "Fourth round").
pub async fn still_live(ctx: &Ctx, key: KeyRecord) -> Result<Option<KeyRecord>, KmsError> {
    if !anything_due(&key, ctx.now()) {
        return Ok(Some(key));
    }
    Box::pin(settle_due(ctx, key)).await
}

/// Whether [`settle_due`] would change anything: each of its steps
/// returns its key untouched unless its own condition holds.
fn anything_due(key: &KeyRecord, now: trent_store::Millis) -> bool {
    deletion::is_due(key, now)
        || !crate::keys::materials::expired(key, now).is_empty()
        || matches!(key.state, KeyState::Creating | KeyState::PendingReplicaDeletion)
}

async fn settle_due(ctx: &Ctx, key: KeyRecord) -> Result<Option<KeyRecord>, KmsError> {
    if deletion::destroy_if_due(ctx.state.store.as_ref(), &key, ctx.now(), ctx.state.as_ref()).await? {
        return Ok(None);
    }
    let key = crate::keys::import::expire_if_due(ctx.state.store.as_ref(), key, ctx.now(), ctx.state.as_ref()).await?;
    let store = ctx.state.store.as_ref();
    let settled = match crate::keys::multi_region::settle(store, key).await {
        Ok(key) => crate::keys::multi_region::release(store, key, ctx.now()).await,
        Err(e) => Err(e),
    };
    let key = match settled {
        Ok(key) => key,
        Err(trent_store::StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(key))
}
