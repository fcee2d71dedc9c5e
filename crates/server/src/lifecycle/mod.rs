//! Work that happens with time rather than on request: destroying keys
//! whose deletion waiting period has ended, automatic key rotation, and
//! deleting imported key material whose ValidTo has passed.
//!
//! Each job runs once at start-up (catching up on what fell due while Trent
//! was down) and then periodically on the one node that holds its lease;
//! each change it makes is a compare-and-set, so it happens exactly once
//! however many nodes race for it.

pub mod deletion;
pub mod events;
pub mod expiry;
pub mod rotation;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use trent_store::StoreError;

use crate::metrics::{Job, JobResult, METRICS};
use crate::state::AppState;

/// Runs `round` every `every` while this node (`node_id`) holds the lease
/// `lease`, for the life of the process. The lease outlives three missed
/// rounds, so a dead holder is replaced within about `3 * every`.
pub fn spawn_leased<F, Fut>(state: Arc<AppState>, node_id: String, lease: &'static str, every: Duration, round: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(Arc<AppState>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, StoreError>> + Send,
{
    let ttl = 3 * every.as_millis() as i64;
    let job = Job::of_lease(lease);
    tokio::spawn(async move {
        loop {
            let (result, leased) = match state.store.try_lease(lease, &node_id, state.clock.now_millis(), ttl).await {
                Ok(true) => (round(state.clone()).await, true),
                Ok(false) => (Ok(0), false),
                Err(e) => (Err(e), true),
            };
            let job_result = match &result {
                Ok(_) if !leased => JobResult::LeaseElsewhere,
                Ok(_) => JobResult::Ok,
                Err(_) => JobResult::Error,
            };
            if let Some(job) = job {
                METRICS.job(job, job_result, *result.as_ref().unwrap_or(&0));
            }
            match result {
                Ok(0) => {}
                Ok(n) => tracing::info!(job = lease, done = n, "background round"),
                Err(e) => {
                    if matches!(e, StoreError::Backend(_)) {
                        METRICS.store_error();
                    }
                    tracing::error!(job = lease, error = %e, "background round failed; will retry")
                }
            }
            tokio::time::sleep(every).await;
        }
    })
}
