//! Scheduled key deletion. When a key's waiting period ends its material,
//! metadata and aliases are destroyed. This happens in two places, so it
//! holds even if the server was down at that moment: a sweep at start-up and
//! then periodically, and a check whenever a request reaches the key.

use std::sync::Arc;
use std::time::Duration;

use trent_store::{KeyRecord, KeyState, Millis, Store, StoreError};

use crate::clock::Clock;

/// Destroys `key` if its deletion date has passed; true if it is gone.
pub async fn destroy_if_due(store: &dyn Store, key: &KeyRecord, now: Millis) -> Result<bool, StoreError> {
    if !is_due(key, now) {
        return Ok(false);
    }
    match store.delete_key(&key.key_id, key.row_version).await {
        // Another request or node destroyed it first: it is gone all the same.
        Ok(()) | Err(StoreError::NotFound) => {
            tracing::info!(key_id = %key.key_id, "key destroyed: its deletion waiting period ended");
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

fn is_due(key: &KeyRecord, now: Millis) -> bool {
    key.state == KeyState::PendingDeletion && key.deletion_date.is_some_and(|d| d <= now)
}

/// Destroys every key that is due; returns how many.
pub async fn sweep(store: &dyn Store, clock: &dyn Clock) -> Result<usize, StoreError> {
    let now = clock.now_millis();
    let mut destroyed = 0;
    for key_id in store.keys_due_for_deletion(now).await? {
        // Re-read: the deletion may have been cancelled since the listing.
        if let Some(key) = store.get_key(&key_id).await? {
            if destroy_if_due(store, &key, now).await? {
                destroyed += 1;
            }
        }
    }
    Ok(destroyed)
}

/// Sweeps now and then every `every`, for the life of the process.
pub fn spawn_sweeper(store: Arc<dyn Store>, clock: Arc<dyn Clock>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match sweep(store.as_ref(), clock.as_ref()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(destroyed = n, "deletion sweep"),
                Err(e) => tracing::error!(error = %e, "deletion sweep failed; will retry"),
            }
            tokio::time::sleep(every).await;
        }
    })
}
