//! Automatic key rotation on schedule. Due keys are rotated at start-up
//! (catching up on rotations missed while Trent was down) and then by the
//! node holding the `key-rotation` lease. A key that is disabled or pending
//! deletion is not rotated; once enabled again it rotates at the next round
//! if its date has passed, as AWS does. Each rotation is a compare-and-set,
//! so a key due once is rotated once.

use std::sync::Arc;
use std::time::Duration;

use trent_crypto::KeyProvider;
use trent_store::{RotationType, Store, StoreError};

use super::events::JobEvents;
use crate::clock::Clock;
use crate::state::AppState;
use crate::keys::rotation::{rotate, RotateError};

pub const ROTATION_LEASE: &str = "key-rotation";

/// Rotates every key whose automatic rotation is due; returns how many.
pub async fn sweep(store: &dyn Store, provider: &Arc<dyn KeyProvider>, clock: &dyn Clock, events: &dyn JobEvents) -> Result<usize, StoreError> {
    let now = clock.now_millis();
    let mut rotated = 0;
    for due in store.keys_due_for_rotation(now).await? {
        let key_id = &due.key_id;
        // Re-read: it may have been rotated, disabled or changed since the listing.
        let Some(key) = store.get_key(key_id, &due.region).await? else { continue };
        if key.state != trent_store::KeyState::Enabled || key.rotation.next_at.is_none_or(|at| at > now) {
            continue;
        }
        match rotate(store, provider, &key, RotationType::Automatic, now).await {
            Ok(rotated_key) => {
                tracing::info!(key_id = %key_id, "key rotated: its automatic rotation was due");
                events.key_rotated(&rotated_key).await;
                rotated += 1;
            }
            // Another node or request changed the key first: the next round sees it afresh.
            Err(RotateError::Store(StoreError::Conflict | StoreError::NotFound)) => {}
            Err(RotateError::Store(e)) => return Err(e),
            Err(RotateError::Internal(detail)) => return Err(StoreError::Backend(detail)),
        }
    }
    Ok(rotated)
}

pub fn spawn_rotator(state: Arc<AppState>, node_id: String, every: Duration) -> tokio::task::JoinHandle<()> {
    super::spawn_leased(state, node_id, ROTATION_LEASE, every, |s| async move {
        // Held as a request holds it (http::answer): an online root rotation waits for a sweep begun before its switch.
        let _in_flight = s.root_key.load_full();
        sweep(s.store.as_ref(), &s.provider, s.clock.as_ref(), s.as_ref()).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::lifecycle::events::NoEvents;
    use crate::keys::rotation::{next_rotation, DAY_MILLIS};
    use trent_crypto::{RootKey, SoftwareProvider};
    use trent_store::sqlite::SqliteStore;
    use trent_store::KeyState;

    const KEY: &str = "c0000000-0000-4000-8000-00000000000c";

    async fn setup(period_days: i32) -> (SqliteStore, Arc<dyn KeyProvider>, ManualClock) {
        let store = SqliteStore::open_in_memory().unwrap();
        let provider: Arc<dyn KeyProvider> = Arc::new(SoftwareProvider::new(Arc::new(RootKey::from_bytes(trent_crypto::random_secret(32).unwrap()).unwrap().into())));
        let (key, material) = trent_store::conformance::sample_key("111122223333", KEY);
        store.insert_key(&key, &material).await.unwrap();
        let mut key = store.get_key(KEY, "us-east-1").await.unwrap().unwrap();
        key.rotation.period_days = Some(period_days);
        key.rotation.base = Some(0);
        key.rotation.next_at = Some(next_rotation(0, period_days));
        store.update_key(&key).await.unwrap();
        (store, provider, ManualClock::new(0))
    }

    #[tokio::test]
    async fn a_key_rotates_when_due_and_once() {
        let (store, provider, clock) = setup(90).await;
        clock.advance_millis(90 * DAY_MILLIS - 1);
        assert_eq!(sweep(&store, &provider, &clock, &NoEvents).await.unwrap(), 0);
        clock.advance_millis(1);
        assert_eq!(sweep(&store, &provider, &clock, &NoEvents).await.unwrap(), 1);
        assert_eq!(sweep(&store, &provider, &clock, &NoEvents).await.unwrap(), 0, "rotated twice for one due date");
        let key = store.get_key(KEY, "us-east-1").await.unwrap().unwrap();
        assert_eq!(key.rotation.history.len(), 1);
        assert_ne!(key.current_material_id, "ab".repeat(32));
        assert_eq!(key.rotation.initial_material_id.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(key.rotation.next_at, Some(180 * DAY_MILLIS));
        assert!(store.get_material(KEY, &"ab".repeat(32)).await.unwrap().is_some(), "old material kept");
    }

    #[tokio::test]
    async fn after_downtime_a_key_catches_up_with_one_rotation() {
        let (store, provider, clock) = setup(90).await;
        clock.advance_millis(400 * DAY_MILLIS); // four periods missed
        assert_eq!(sweep(&store, &provider, &clock, &NoEvents).await.unwrap(), 1);
        let key = store.get_key(KEY, "us-east-1").await.unwrap().unwrap();
        assert_eq!(key.rotation.history.len(), 1);
        assert_eq!(key.rotation.next_at, Some(490 * DAY_MILLIS), "the schedule continues from the late rotation");
    }

    #[tokio::test]
    async fn a_disabled_key_waits_and_rotates_once_enabled() {
        let (store, provider, clock) = setup(90).await;
        let mut key = store.get_key(KEY, "us-east-1").await.unwrap().unwrap();
        key.state = KeyState::Disabled;
        store.update_key(&key).await.unwrap();
        clock.advance_millis(100 * DAY_MILLIS);
        assert_eq!(sweep(&store, &provider, &clock, &NoEvents).await.unwrap(), 0);
        let mut key = store.get_key(KEY, "us-east-1").await.unwrap().unwrap();
        key.state = KeyState::Enabled;
        store.update_key(&key).await.unwrap();
        assert_eq!(sweep(&store, &provider, &clock, &NoEvents).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn racing_sweeps_rotate_a_due_key_once() {
        let (store, provider, clock) = setup(90).await;
        clock.advance_millis(90 * DAY_MILLIS);
        let (a, b) = tokio::join!(sweep(&store, &provider, &clock, &NoEvents), sweep(&store, &provider, &clock, &NoEvents));
        assert_eq!(a.unwrap() + b.unwrap(), 1);
        assert_eq!(store.get_key(KEY, "us-east-1").await.unwrap().unwrap().rotation.history.len(), 1);
    }
}
