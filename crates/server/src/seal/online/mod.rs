//! Online root key rotation: the running server replaces its root key
//! while serving (`TrentAdmin.RotateRoot`, `trent operator rotate-root
//! --endpoint URL`), with the offline command's durable steps
//! ([`super::rotate`]) and these in memory:
//!
//! - after step 2 the server switches its [`trent_crypto::LiveRootKey`] to
//!   the new generation, which still reads the old: every request from then
//!   on seals under the new key. The resealing waits until no request
//!   holds the old key alone any more, and passes again over what a request
//!   in flight wrote under it meanwhile;
//! - after step 5 it switches to the new key alone; the old one goes
//!   (zeroized) with the last request holding it.
//!
//! On PostgreSQL the other nodes follow ([`follow`]), and before the reseal
//! passes the rotating node raises the database's fence to the new
//! generation ([`trent_store::Store::raise_root_fence`]): from then on no
//! node can store a value sealed under the old key, and every one stored
//! before is committed, where the passes find it. A server killed midway
//! starts reading both generations (it adopts the rotation record, as
//! every opener does); calling `rotate-root` again (on any node) resumes.

pub mod call;
pub mod client;
pub mod follow;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use trent_crypto::RootKey;

use super::generation;
use super::rotate::{self, crash_point, Rewrap};
use crate::state::AppState;

/// Reseal passes before giving up (each after a short pause): only
/// requests in flight at the switch can leave values behind.
const PASSES: u32 = 20;
/// On a shared store, how long after the rotation begins the new key is
/// committed at the earliest: every running node has looked for the
/// record ([`follow::EVERY`]) by then, so none is left holding the old
/// key alone when it goes.
const FOLLOW_GRACE: Duration = Duration::from_secs(3);
/// How often to say the rotation still waits for requests begun before it.
const DRAIN_WARNING: Duration = Duration::from_secs(30);

/// Where this server's online rotation stands (kept by the gate, across
/// seals; `TrentAdmin.RotateRootStatus`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Status {
    /// `IDLE`, `RUNNING`, `DONE` or `FAILED`.
    pub state: &'static str,
    /// The generation rotated to (or being).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resealed: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Status {
    pub const IDLE: Status = Status { state: "IDLE", generation: None, resealed: None, error: None };
    fn running(generation: Option<u32>) -> Status {
        Status { state: "RUNNING", generation, resealed: None, error: None }
    }
}

pub type SharedStatus = Arc<Mutex<Status>>;

fn set(status: &SharedStatus, value: Status) {
    *status.lock().unwrap_or_else(|e| e.into_inner()) = value;
}

/// What a rotation needs besides the unsealed state.
pub(in crate::seal) struct Job {
    pub(in crate::seal) dir: PathBuf,
    pub(in crate::seal) rewrap: Rewrap,
    /// The seal configuration as stored when the call was made (step 4
    /// replaces exactly it); `None` in file mode.
    pub(in crate::seal) config: Option<Vec<u8>>,
    pub(in crate::seal) batch: usize,
    /// Other nodes share the store (PostgreSQL): they follow, and the
    /// fence makes one reseal pass final.
    pub(in crate::seal) shared: bool,
    /// The root of trust's lock ([`super::change_lock`]), for as long as the rotation runs.
    pub(in crate::seal) _change: crate::serve::data_dir_lock::DataDirLock,
}

/// Runs a rotation (or resumes one) to its end, noting its progress in
/// `status` and its steps in the audit log.
pub(in crate::seal) async fn run(state: Arc<AppState>, job: Job, status: SharedStatus) {
    let outcome = rotate_online(&state, job, &status).await;
    let now = state.clock.now_millis();
    let (value, event) = match outcome {
        Ok((generation, resealed)) => {
            tracing::info!(generation, resealed, "rotated the root key online");
            let event = super::events::rotation("TrentRootRotationFinished", json!({ "rootKeyGeneration": generation, "resealed": resealed }), now);
            (Status { state: "DONE", generation: Some(generation), resealed: Some(resealed), error: None }, event)
        }
        Err(error) => {
            tracing::error!(%error, "the online root key rotation failed");
            let event = super::events::rotation("TrentRootRotationFailed", json!({ "error": error }), now);
            (Status { state: "FAILED", generation: None, resealed: None, error: Some(error) }, event)
        }
    };
    if let Err(e) = state.audit.record(&event, true).await {
        tracing::error!(error = %e, "the rotation's audit event could not be written");
    }
    set(&status, value);
}

async fn rotate_online(state: &Arc<AppState>, job: Job, status: &SharedStatus) -> Result<(u32, usize), String> {
    let store = state.store.as_ref();
    let began = Instant::now();
    let held = state.root_key.load_full();
    let resumed = match (held.previous_generation(), generation::load_rotation(store).await?) {
        (Some(_), _) => true,
        (None, Some((stale, bytes))) => {
            // Stopped between steps 4 and 5: only the record is left.
            rotate::finish(store, &bytes).await?;
            return Ok((stale.to, 0));
        }
        (None, None) => {
            let next = rotate::start(store, &held).await?;
            let old = state.root_key.switch(next);
            drop(held);
            drain(old).await;
            false
        }
    };
    let current = state.root_key.load_full();
    let (from, to) = (current.previous_generation(), current.generation());
    drop(current);
    // Every node's writes: after the drain, which covers this node's own.
    store.raise_root_fence(to).await.map_err(|e| format!("raising the root key fence: {e}"))?;
    set(status, Status::running(Some(to)));
    let event = super::events::rotation("TrentRootRotationStarted", json!({ "fromGeneration": from, "rootKeyGeneration": to, "resumed": resumed }), state.clock.now_millis());
    state.audit.record(&event, true).await.map_err(|e| format!("the audit log: {e}"))?;
    crash_point("started");
    // After the fence, nothing can store a value under the old key: one
    // pass must leave nothing behind.
    let passes = if job.shared { 1 } else { PASSES };
    let resealed = rotate::reseal_all(store, &job.dir, &state.root_key, job.batch, passes).await?;
    if job.shared {
        tokio::time::sleep_until((began + FOLLOW_GRACE).into()).await;
    }
    crash_point("resealed");
    let root = state.root_key.load().duplicate().map_err(|e| e.to_string())?;
    let root = rotate::commit(store, &job.dir.join("root.key"), root, job.rewrap, job.config.as_deref()).await?;
    drop(root);
    crash_point("committed");
    if let Some((_, bytes)) = generation::load_rotation(store).await? {
        rotate::finish(store, &bytes).await?;
    }
    // Nothing stored is under the old key now: it goes.
    let alone: RootKey = state.root_key.load().duplicate().map_err(|e| e.to_string())?.without_previous();
    drop(state.root_key.switch(alone));
    Ok((to, resealed))
}

/// Waits until no request holds `old`, the key before the switch. Every
/// request holds the key it began under until it ends (`http::answer`,
/// the rotation sweep), so once none holds `old`, nothing can still write
/// a value sealed under it: what those requests wrote is in the store,
/// where the reseal passes find it. No deadline: going on while one still
/// runs could leave a value only the old key opens.
async fn drain(old: Arc<RootKey>) {
    let mut warned = Instant::now();
    while Arc::strong_count(&old) > 1 {
        if warned.elapsed() >= DRAIN_WARNING {
            tracing::warn!(requests = Arc::strong_count(&old) - 1, "the root key rotation waits for requests begun before it to end");
            warned = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
