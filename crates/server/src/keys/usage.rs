//! Each key's last successful cryptographic use, for GetKeyLastUsage,
//! kept without a database write per request: uses are noted in memory and
//! written in one batch every [`FLUSH_INTERVAL`] and at a graceful stop.
//! So GetKeyLastUsage lags by at most that interval for uses made through
//! another node, and a crash loses at most that interval's notes (the uses
//! themselves, and their audit events, are not lost: only this summary).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use trent_store::{KeyRecord, KeyUsageRecord, Millis, Store, StoreError};

use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub const FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// The setting that holds when this deployment started tracking uses.
const TRACKING_START: &str = "usage-tracking-start";

#[derive(Default)]
pub struct UsageTracker {
    /// By key id and Region (each member of a multi-Region key is used on its own).
    pending: Mutex<HashMap<(String, String), KeyUsageRecord>>,
}

impl UsageTracker {
    /// Notes a successful use of `key_id` in `region` (in memory only) by
    /// request `request_id`, whose audit event is `event_id`.
    pub fn note(&self, key_id: &str, region: &str, operation: &str, request_id: &str, event_id: &str, now: Millis) {
        let event_id = Some(event_id.to_owned());
        self.keep(KeyUsageRecord { key_id: key_id.to_owned(), region: region.to_owned(), used_at: now, operation: operation.to_owned(), request_id: request_id.to_owned(), event_id });
    }

    /// Keeps `record` unless a later use of its key is already noted.
    fn keep(&self, record: KeyUsageRecord) {
        let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match pending.get_mut(&(record.key_id.clone(), record.region.clone())) {
            Some(existing) if existing.used_at > record.used_at => {}
            Some(existing) => *existing = record,
            None => {
                pending.insert((record.key_id.clone(), record.region.clone()), record);
            }
        }
    }

    /// A use noted here and not yet written.
    pub fn pending(&self, key_id: &str, region: &str) -> Option<KeyUsageRecord> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&(key_id.to_owned(), region.to_owned())).cloned()
    }

    /// Writes every noted use; on failure they are kept for the next flush.
    pub async fn flush(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let mut batch: Vec<KeyUsageRecord> = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner())).into_values().collect();
        // One order for every node's batch, so concurrent flushes lock rows
        // in the same order and cannot deadlock each other (PostgreSQL).
        batch.sort_by(|a, b| (&a.key_id, &a.region).cmp(&(&b.key_id, &b.region)));
        if batch.is_empty() {
            return Ok(0);
        }
        if let Err(e) = store.record_key_usage(&batch).await {
            for record in batch {
                self.keep(record);
            }
            return Err(e);
        }
        Ok(batch.len())
    }
}

/// The latest of what the store holds and what this node noted.
pub async fn last_use(store: &dyn Store, tracker: &UsageTracker, key_id: &str, region: &str) -> Result<Option<KeyUsageRecord>, StoreError> {
    let stored = store.get_key_usage(key_id, region).await?;
    Ok(match (stored, tracker.pending(key_id, region)) {
        (Some(s), Some(p)) => Some(if p.used_at >= s.used_at { p } else { s }),
        (s, p) => s.or(p),
    })
}

/// Records when this deployment started tracking, once (at first start).
pub async fn start_tracking(store: &dyn Store, now: Millis) -> Result<(), StoreError> {
    match store.insert_setting(TRACKING_START, &now.to_be_bytes()).await {
        Ok(()) | Err(StoreError::AlreadyExists) => Ok(()),
        Err(e) => Err(e),
    }
}

/// GetKeyLastUsage: since when this deployment tracks uses (the key's
/// creation if the setting is missing).
pub async fn tracking_start(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>) -> Result<Millis, KmsError> {
    Ok(match ctx.store().get_setting(TRACKING_START).await? {
        Some(bytes) => bytes.try_into().map(Millis::from_be_bytes).map_err(|_| KmsError::internal("malformed usage-tracking-start setting"))?,
        None => key.created_at,
    })
}

/// GetKeyLastUsage: the key's last use, written or noted on this node.
pub async fn last_use_of(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>) -> Result<Option<KeyUsageRecord>, KmsError> {
    let state = ctx.state();
    Ok(last_use(state.store.as_ref(), &state.usage, &key.key_id, &key.region).await?)
}

pub fn spawn_flusher(store: Arc<dyn Store>, tracker: Arc<UsageTracker>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(FLUSH_INTERVAL).await;
            use crate::metrics::{Job, JobResult, METRICS};
            match tracker.flush(store.as_ref()).await {
                Ok(written) => METRICS.job(Job::UsageFlush, JobResult::Ok, written),
                Err(e) => {
                    METRICS.job(Job::UsageFlush, JobResult::Error, 0);
                    METRICS.store_error();
                    tracing::warn!(error = %e, "writing key last-use records failed; will retry");
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_latest_use_wins_in_memory_and_after_a_flush() {
        let store = trent_store::sqlite::SqliteStore::open_in_memory().unwrap();
        let key = "d0000000-0000-4000-8000-00000000000d";
        const E: &str = "us-east-1";
        let (record, material) = trent_store::conformance::sample_key("111122223333", key);
        store.insert_key(&record, &material).await.unwrap();
        let tracker = UsageTracker::default();
        tracker.note(key, E, "Encrypt", "r1", "e1", 10);
        tracker.note(key, E, "Decrypt", "r0", "e0", 5); // older, noted late
        assert_eq!(last_use(&store, &tracker, key, E).await.unwrap().unwrap().operation, "Encrypt");
        assert_eq!(store.get_key_usage(key, E).await.unwrap(), None, "noted, not yet written");
        assert_eq!(tracker.flush(&store).await.unwrap(), 1);
        let written = store.get_key_usage(key, E).await.unwrap().unwrap();
        assert_eq!((written.request_id.as_str(), written.event_id.as_deref()), ("r1", Some("e1")), "the use's request and its audit event");
        assert_eq!(tracker.flush(&store).await.unwrap(), 0);
        tracker.note(key, E, "Sign", "r2", "e2", 20);
        assert_eq!(last_use(&store, &tracker, key, E).await.unwrap().unwrap().operation, "Sign");
    }
}
