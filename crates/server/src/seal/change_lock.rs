//! One change of the root of trust at a time: `trent operator rekey` and
//! `trent operator rotate-root` each hold `DATA_DIR/seal.lock` (`flock`,
//! dropped by the kernel however the command ends) for as long as they run.
//!
//! Both are offline, and rekey works beside a running server, so the
//! server's own lock (`DATA_DIR/lock`) cannot keep them apart. Run
//! together they could lose the deployment: a rotation in `file` mode
//! replaces `root.key` with no compare-and-set on the seal configuration,
//! so a rekey out of `file` mode meanwhile would record the *old* root key
//! wrapped in the new mode, and the rotation then seals everything under a
//! key that mode never opens. Offline rotation is on SQLite only, whose
//! store is in this data directory; rekeys from several PostgreSQL nodes
//! are kept apart by the seal configuration's compare-and-set, but an
//! online rotation on one node and a rekey on another are not (this lock
//! is each node's own): docs/several-nodes.md says not to run them together.

use std::path::Path;

use crate::serve::data_dir_lock::DataDirLock;

/// The lock file's name in the data directory (left out of backups).
pub const LOCK_FILE: &str = "seal.lock";

/// Takes the lock for `command` (e.g. `trent operator rekey`), or says
/// which command holds it.
pub fn acquire(data_dir: &Path, command: &str) -> Result<DataDirLock, String> {
    DataDirLock::acquire_for(data_dir, LOCK_FILE, command, |holder| {
        format!("another change of the root of trust is running on {} ({holder}): let it finish, then run {command} again", data_dir.display())
    })
}
