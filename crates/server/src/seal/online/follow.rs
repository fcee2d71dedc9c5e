//! Every node of a PostgreSQL deployment follows a root key rotation that
//! another node runs (docs/several-nodes.md, "Rotating the root key"):
//!
//! - while the store holds a rotation record, a node holding the old key
//!   alone takes the new one from it ([`generation::adopt`], as a start
//!   does) and switches its [`trent_crypto::LiveRootKey`] to it, still
//!   reading the old; then reseals its own audit signing key, which no
//!   other node can reach;
//! - once the record is gone (the seal configuration wraps the new key),
//!   a node still holding both switches to the new key alone (in `file`
//!   mode writing it to its own `root.key` first); the old key goes,
//!   zeroized, with the last request holding it.
//!
//! A watcher does it every [`EVERY`], and at once when a request meets the
//! rotation (a write refused by the fence, a value under a generation the
//! node does not hold: [`nudge`]). Availability only: what keeps a value
//! sealed under the old key from being stored after the last reseal pass
//! is the database's fence ([`trent_store::Store::raise_root_fence`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::seal::{config, generation, rotate};
use crate::state::AppState;

/// How often an idle node looks for a rotation (one setting read).
pub const EVERY: Duration = Duration::from_secs(1);

static NUDGED: Notify = Notify::const_new();

/// A request met a rotation this node has not followed yet: look now.
pub fn nudge() {
    NUDGED.notify_one();
}

/// The watcher of a node on a shared store, for the life of the unsealed run.
pub fn spawn(state: Arc<AppState>, dir: PathBuf) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(EVERY) => {}
                () = NUDGED.notified() => {}
            }
            if let Err(error) = follow(&state, &dir).await {
                tracing::warn!(%error, "following the root key rotation; will retry");
            }
        }
    })
}

/// One look: brings this node's root key in line with the store.
pub async fn follow(state: &AppState, dir: &Path) -> Result<(), String> {
    let store = state.store.as_ref();
    let held = state.root_key.load_full();
    let rotation = generation::load_rotation(store).await?;
    match rotation {
        Some((rotation, _)) if rotation.from == held.generation() => {
            if held_back() {
                return Ok(());
            }
            // Under this generation first, in case the end of the last
            // rotation went unseen: its old key is about to go.
            rotate::reseal_audit_key(dir, &held)?;
            let current = held.duplicate().map_err(|e| e.to_string())?.without_previous();
            let next = generation::adopt(store, current).await?;
            if next.generation() != rotation.to {
                // The record is stale: this key is the new one already.
                return Ok(());
            }
            let (from, to) = (held.generation(), next.generation());
            drop(held);
            state.root_key.switch(next);
            tracing::info!(from, to, "following the root key rotation: sealing under the new key, reading both");
            rotate::reseal_audit_key(dir, &state.root_key.load())
        }
        // Following (or rotating): the audit key again until it is resealed.
        Some(_) if held.previous_generation().is_some() => rotate::reseal_audit_key(dir, &held),
        None if held.previous_generation().is_some() => {
            // Done: nothing stored is under the old key any more.
            rotate::reseal_audit_key(dir, &held)?;
            let alone = held.duplicate().map_err(|e| e.to_string())?.without_previous();
            if config::load_exact(store).await?.is_none_or(|(mode, _)| matches!(mode, config::SealConfig::File)) {
                replace_key_file(dir, &held, &alone)?;
            }
            let to = alone.generation();
            drop(held);
            drop(state.root_key.switch(alone));
            tracing::info!(generation = to, "the root key rotation is done: the old key is gone");
            Ok(())
        }
        _ => Ok(()),
    }
}

/// TEST ONLY: how long (ms) a node waits after it first sees a rotation
/// record before it follows, to show what the fence stops meanwhile.
pub const TEST_DELAY_ENV: &str = "TRENT_TEST_FOLLOW_DELAY_MS";

fn held_back() -> bool {
    static FIRST_SEEN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let Some(delay) = std::env::var(TEST_DELAY_ENV).ok().and_then(|ms| ms.parse().ok()).map(Duration::from_millis) else { return false };
    FIRST_SEEN.get_or_init(std::time::Instant::now).elapsed() < delay
}

/// `file` mode: this node's own `root.key` gets the new key, as the
/// rotating node's did, if it still holds the old one.
fn replace_key_file(dir: &Path, held: &trent_crypto::RootKey, alone: &trent_crypto::RootKey) -> Result<(), String> {
    let path = dir.join("root.key");
    let on_disk = trent_crypto::RootKey::load(&path).map_err(|e| e.to_string())?;
    match held.previous() {
        Some(old) if on_disk.same_as(old) => alone.replace_key_file(&path).map_err(|e| format!("writing {}: {e}", path.display())),
        _ => Ok(()),
    }
}
