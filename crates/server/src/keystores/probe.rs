//! The key store probe, on every node: every few seconds it checks the
//! tokens this node is logged in to, so a token that went away (or whose
//! PIN changed) moves its key store to FAILED even when no request uses
//! it; and it tries again the key stores that failed here because their
//! token could not be reached, reconnecting them when the token is back.
//!
//! Only a key store that is still FAILED with NETWORK_ERRORS is
//! reconnected, by a compare-and-set on its record: a key store an
//! operator disconnected meanwhile stays disconnected. A failure of the
//! credentials (INVALID_CREDENTIALS, USER_LOCKED_OUT) needs the operator,
//! as in AWS: disconnect, UpdateCustomKeyStore with the new password,
//! connect.

use std::sync::Arc;
use std::time::Duration;

use trent_store::ConnectionState;

use crate::keys::key_stores;
use crate::state::AppState;

/// How often tokens are checked and failed key stores retried.
pub const EVERY: Duration = Duration::from_secs(2);
/// The error code a token that went away leaves; the one retried.
pub const RETRIED_CODE: &str = "NETWORK_ERRORS";

pub fn spawn(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(EVERY).await;
            round(&state).await;
        }
    })
}

/// One check of every token this node holds and one retry of every key
/// store that failed here.
pub async fn round(state: &AppState) {
    for id in state.key_stores.connected_ids() {
        let record = match state.store.get_custom_key_store(&id).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                state.key_stores.disconnect(&id);
                continue;
            }
            Err(e) => {
                tracing::warn!(key_store = %id, error = %e, "key store probe: cannot read the key store");
                continue;
            }
        };
        if record.state != ConnectionState::Connected || !state.key_stores.is_connected(&record) {
            // Disconnected or reconnected through another node: this login is stale.
            state.key_stores.disconnect(&id);
            continue;
        }
        let runtime = state.key_stores.clone();
        let r = record.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || runtime.check(&r)).await {
            key_stores::note_fault(state, &record, &e).await;
        }
    }
    for id in state.key_stores.failed_ids() {
        let record = match state.store.get_custom_key_store(&id).await {
            Ok(Some(r)) if r.state == ConnectionState::Failed && r.error_code.as_deref() == Some(RETRIED_CODE) => r,
            Ok(_) => {
                state.key_stores.forget_failure(&id);
                continue;
            }
            Err(_) => continue,
        };
        key_stores::reconnect(state, record).await;
    }
}
