//! Scheduled key deletion. When a key's waiting period ends its material,
//! metadata and aliases are destroyed. This happens in two places, so it
//! holds even if the server was down at that moment: a sweep at start-up and
//! then periodically, and a check whenever a request reaches the key.
//!
//! With several nodes on one database, the periodic sweep runs on the node
//! holding the `deletion-sweeper` lease (taken over when a holder dies), and
//! each destruction is a compare-and-set on the key's `row_version`: however
//! many nodes race for a key, it is destroyed exactly once.

use std::sync::Arc;
use std::time::Duration;

use trent_store::{KeyRecord, KeyState, Millis, Store, StoreError};

use super::events::JobEvents;
use crate::clock::Clock;
use crate::state::AppState;

/// Destroys `key` if its deletion date has passed; true if it is gone.
pub async fn destroy_if_due(store: &dyn Store, key: &KeyRecord, now: Millis, events: &dyn JobEvents) -> Result<bool, StoreError> {
    if !is_due(key, now) {
        return Ok(false);
    }
    match store.delete_key(&key.key_id, &key.region, key.row_version).await {
        Ok(()) => {
            tracing::info!(key_id = %key.key_id, region = %key.region, "key destroyed: its deletion waiting period ended");
            events.key_destroyed(key).await;
            crate::keys::multi_region::replica_destroyed(store, key, now).await?;
            Ok(true)
        }
        // Another request or node destroyed it first: it is gone all the same.
        Err(StoreError::NotFound) => Ok(true),
        Err(e) => Err(e),
    }
}

pub(crate) fn is_due(key: &KeyRecord, now: Millis) -> bool {
    key.state == KeyState::PendingDeletion && key.deletion_date.is_some_and(|d| d <= now)
}

/// Destroys every key that is due; returns how many.
pub async fn sweep(store: &dyn Store, clock: &dyn Clock, events: &dyn JobEvents) -> Result<usize, StoreError> {
    let now = clock.now_millis();
    let mut destroyed = 0;
    for due in store.keys_due_for_deletion(now).await? {
        // Re-read: the deletion may have been cancelled since the listing.
        if let Some(key) = store.get_key(&due.key_id, &due.region).await? {
            if destroy_if_due(store, &key, now, events).await? {
                destroyed += 1;
            }
        }
    }
    Ok(destroyed)
}

pub const SWEEPER_LEASE: &str = "deletion-sweeper";

/// Sweeps every `every` on the node holding the sweeper lease.
pub fn spawn_sweeper(state: Arc<AppState>, node_id: String, every: Duration) -> tokio::task::JoinHandle<()> {
    super::spawn_leased(state, node_id, SWEEPER_LEASE, every, |s| async move { sweep(s.store.as_ref(), s.clock.as_ref(), s.as_ref()).await })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::lifecycle::events::NoEvents;
    use trent_store::sqlite::SqliteStore;

    const DAY: i64 = 24 * 60 * 60 * 1000;

    async fn pending_key(store: &dyn Store, key_id: &str, deletion_date: Millis) {
        let (mut key, material) = trent_store::conformance::sample_key("111122223333", key_id);
        store.insert_key(&key, &material).await.unwrap();
        key = store.get_key(key_id, "us-east-1").await.unwrap().unwrap();
        key.state = KeyState::PendingDeletion;
        key.deletion_date = Some(deletion_date);
        store.update_key(&key).await.unwrap();
    }

    #[tokio::test]
    async fn the_sweep_destroys_only_keys_whose_waiting_period_ended() {
        let store = SqliteStore::open_in_memory().unwrap();
        let clock = ManualClock::new(0);
        pending_key(&store, "10000000-0000-4000-8000-000000000001", 7 * DAY).await;
        pending_key(&store, "20000000-0000-4000-8000-000000000002", 30 * DAY).await;

        clock.advance_millis(7 * DAY - 1);
        assert_eq!(sweep(&store, &clock, &NoEvents).await.unwrap(), 0);
        clock.advance_millis(1);
        assert_eq!(sweep(&store, &clock, &NoEvents).await.unwrap(), 1);
        assert!(store.get_key("10000000-0000-4000-8000-000000000001", "us-east-1").await.unwrap().is_none());
        assert!(store.get_material("10000000-0000-4000-8000-000000000001", &"ab".repeat(32)).await.unwrap().is_none());
        assert!(store.get_key("20000000-0000-4000-8000-000000000002", "us-east-1").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_key_whose_deletion_was_cancelled_is_not_destroyed() {
        let store = SqliteStore::open_in_memory().unwrap();
        let key_id = "30000000-0000-4000-8000-000000000003";
        pending_key(&store, key_id, DAY).await;
        let stale = store.get_key(key_id, "us-east-1").await.unwrap().unwrap();
        let mut cancelled = stale.clone();
        cancelled.state = KeyState::Disabled;
        cancelled.deletion_date = None;
        store.update_key(&cancelled).await.unwrap();
        // A destroyer that read the key before the cancellation must not win.
        assert!(matches!(destroy_if_due(&store, &stale, 2 * DAY, &NoEvents).await, Err(StoreError::Conflict)));
        assert!(store.get_key(key_id, "us-east-1").await.unwrap().is_some());
    }
}
