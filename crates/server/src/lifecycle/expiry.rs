//! Expiry of imported key material: when its ValidTo passes the material is
//! deleted and the key waits in PendingImport. Done at start-up, then by
//! the node holding the `material-expiry` lease, and on access (authz);
//! each is a compare-and-set, so it happens once.

use std::sync::Arc;
use std::time::Duration;

use trent_store::{Store, StoreError};

use super::events::JobEvents;
use crate::clock::Clock;
use crate::state::AppState;
use crate::keys::import::expire_if_due;

pub const EXPIRY_LEASE: &str = "material-expiry";

/// Deletes every expired imported material; returns how many.
pub async fn sweep(store: &dyn Store, clock: &dyn Clock, events: &dyn JobEvents) -> Result<usize, StoreError> {
    let now = clock.now_millis();
    let mut expired = 0;
    for due in store.keys_with_expired_material(now).await? {
        let Some(key) = store.get_key(&due.key_id, &due.region).await? else { continue };
        let before = key.row_version;
        match expire_if_due(store, key, now, events).await {
            Ok(after) if after.row_version != before => expired += 1,
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(expired)
}

pub fn spawn_expirer(state: Arc<AppState>, node_id: String, every: Duration) -> tokio::task::JoinHandle<()> {
    super::spawn_leased(state, node_id, EXPIRY_LEASE, every, |s| async move { sweep(s.store.as_ref(), s.clock.as_ref(), s.as_ref()).await })
}
