//! Events of the offline commands (`trent operator rekey`, `rotate-root`), which cannot
//! append to the log themselves: its one writer is the server, which may
//! be running beside them. The command signs its event with the data
//! directory's audit signing key (the root key it holds opens that key)
//! and leaves it in `DATA_DIR/audit/pending/`; the server writes it to the
//! log the next time it opens the root key (at start in the modes that
//! open by themselves, else at unseal), then removes the file.
//!
//! Only a holder of the root key can sign: a file someone else put there
//! is not written, but renamed `*.rejected` and reported. The signature
//! covers a context string first, so it can never pass for a digest's.
//! An event whose `eventID` the log files hold already (a copy of a
//! written file put back, or a crash between the write and the removal)
//! is not written again, but renamed `*.replayed` and reported.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use trent_crypto::RootKey;

use super::signing::SigningKey;
use super::Audit;
use crate::serve::data_dir_lock::DataDirLock;

/// What the signature covers before the event's text.
const CONTEXT: &[u8] = b"trent/audit/pending-event/v1\n";

/// A pending file: the event's exact text and its signature.
#[derive(Serialize, Deserialize)]
struct Signed {
    event: String,
    signature: String,
}

pub fn pending_dir(data_dir: &Path) -> PathBuf {
    super::audit_dir(data_dir).join("pending")
}

/// The audit signing key for an offline command. A deployment that never
/// served has none yet: it is made here as the server would make it,
/// under the data directory's lock, so no server starting meanwhile makes
/// another.
pub fn signing_key(data_dir: &Path, root: &RootKey) -> Result<SigningKey, String> {
    let path = super::signing_key_path(data_dir);
    if path.exists() {
        return SigningKey::load(&path, root);
    }
    let lock = DataDirLock::acquire(data_dir)?;
    signing_key_locked(data_dir, root, &lock)
}

/// [`signing_key`] for a command that holds the data directory's lock
/// already (`rotate-root`).
pub fn signing_key_locked(data_dir: &Path, root: &RootKey, _held: &DataDirLock) -> Result<SigningKey, String> {
    super::create_audit_dir(data_dir)?;
    SigningKey::load_or_create(&super::signing_key_path(data_dir), root)
}

/// An event signed and written beside the pending ones, not yet among
/// them: [`Staged::publish`] once the change it records is made; dropped
/// unpublished, it is removed.
pub struct Staged {
    staged: PathBuf,
    published: PathBuf,
}

/// Signs `event` (made at `at`, milliseconds) with `key` and stages it.
pub fn stage(data_dir: &Path, key: &SigningKey, event: &serde_json::Value, at: i64) -> Result<Staged, String> {
    let dir = pending_dir(data_dir);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let text = event.to_string();
    let signature = BASE64.encode(key.sign(&[CONTEXT, text.as_bytes()].concat()));
    let id = event["eventID"].as_str().unwrap_or_default();
    // Named by time first: the server writes them in the order they were made.
    let name = format!("{at:020}-{id}");
    let staged = dir.join(format!("{name}.staged"));
    let json = serde_json::to_vec(&Signed { event: text, signature }).map_err(|e| e.to_string())?;
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&staged)?;
        file.write_all(&json)?;
        file.sync_all()
    };
    write().map_err(|e| format!("writing {}: {e}", staged.display()))?;
    Ok(Staged { published: dir.join(format!("{name}.json")), staged })
}

impl Staged {
    /// Puts the event among the pending ones, durably.
    pub fn publish(self) -> Result<(), String> {
        let done = std::fs::rename(&self.staged, &self.published).and_then(|()| sync_dir(&self.published));
        done.map_err(|e| format!("moving {} into place: {e}", self.staged.display()))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Gone already once published.
        let _ = std::fs::remove_file(&self.staged);
    }
}

fn sync_dir(file: &Path) -> std::io::Result<()> {
    match file.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// The server's side: writes every pending event `audit`'s key signed to
/// the log, in order, and removes each once written; sets aside (and
/// reports) any other. Errors are logged: what is left is tried again at
/// the next open.
pub async fn record_all(data_dir: &Path, audit: &Audit) {
    let dir = pending_dir(data_dir);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "json")).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => return tracing::error!(dir = %dir.display(), error = %e, "the pending audit events could not be listed"),
    };
    if files.is_empty() {
        return;
    }
    let Some(public_key) = audit.public_key() else { return };
    files.sort();
    let mut signed = Vec::new();
    for file in files {
        match std::fs::read(&file).map_err(|e| e.to_string()).and_then(|bytes| open(&bytes, &public_key)) {
            Ok(event) => signed.push((file, event)),
            Err(e) => set_aside(&file, "rejected", &format!("a pending audit event is not signed by this deployment: set aside, not written: {e}")),
        }
    }
    if signed.is_empty() {
        return;
    }
    let ids: Vec<&str> = signed.iter().filter_map(|(_, event)| event["eventID"].as_str()).collect();
    let written = match in_the_log(&super::audit_dir(data_dir), &ids) {
        Ok(written) => written,
        Err(e) => return tracing::error!(error = %e, "the audit log could not be read to check the pending events against it: tried again at the next unseal"),
    };
    for (file, event) in &signed {
        match event["eventID"].as_str() {
            None => set_aside(file, "rejected", "a pending audit event has no eventID: set aside, not written"),
            Some(id) if written.contains(id) => set_aside(file, "replayed", "a pending audit event is in the log already (a copy put back?): set aside, not written again"),
            Some(_) => {
                if let Err(e) = audit.record(event, true).await {
                    return tracing::error!(file = %file.display(), error = %e, "a pending audit event could not be written: tried again at the next unseal");
                }
                if let Err(e) = std::fs::remove_file(file).and_then(|()| sync_dir(file)) {
                    tracing::warn!(file = %file.display(), error = %e, "a pending audit event was written but its file not removed");
                }
            }
        }
    }
}

/// Renames a pending file `*.EXTENSION`, out of the server's way, and reports it.
fn set_aside(file: &Path, extension: &str, why: &str) {
    tracing::error!(file = %file.display(), "{why}");
    let _ = std::fs::rename(file, file.with_extension(extension));
}

/// Which of `ids` the log files in `dir` hold as an event's `eventID`: a
/// pending file copied back after it was written must not be written twice.
/// The log is signed and chained, so only it can tell. Read whole, but
/// only when signed pending files wait (after a rekey or a rotation); a
/// line is parsed only if it holds one of the ids. A log kept only on
/// stdout or syslog has no files here: there the event is written again.
fn in_the_log<'a>(dir: &Path, ids: &[&'a str]) -> Result<std::collections::HashSet<&'a str>, String> {
    use std::io::BufRead;
    let mut found = std::collections::HashSet::new();
    for path in super::writer::list_files(dir).map_err(|e| format!("listing {}: {e}", dir.display()))? {
        let file = std::fs::File::open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|e| format!("reading {}: {e}", path.display()))?;
            let Some(id) = ids.iter().find(|id| line.contains(**id)) else { continue };
            // A line cut by a crash does not parse: it holds no written event.
            let Ok(record) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
            if record["recordType"] == "event" && record["event"]["eventID"] == *id {
                found.insert(*id);
            }
        }
    }
    Ok(found)
}

/// The event a pending file holds, if `public_key` signed it.
fn open(bytes: &[u8], public_key: &[u8]) -> Result<serde_json::Value, String> {
    let signed: Signed = serde_json::from_slice(bytes).map_err(|e| format!("not a pending event: {e}"))?;
    let signature = BASE64.decode(&signed.signature).map_err(|_| "its signature is not base64")?;
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, public_key)
        .verify(&[CONTEXT, signed.event.as_bytes()].concat(), &signature)
        .map_err(|_| "its signature does not verify with the audit key")?;
    serde_json::from_str(&signed.event).map_err(|e| format!("its event does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_published_event_signed_by_the_audit_key_opens() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootKey::generate().unwrap();
        let key = signing_key(dir.path(), &root).unwrap();
        let listed = || std::fs::read_dir(pending_dir(dir.path())).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect::<Vec<_>>();
        let event = serde_json::json!({ "eventID": "e1", "eventName": "TrentRekey" });
        let staged = stage(dir.path(), &key, &event, 5).unwrap();
        assert_eq!(listed(), ["00000000000000000005-e1.staged"], "staged: not yet for the server");
        staged.publish().unwrap();
        assert_eq!(listed(), ["00000000000000000005-e1.json"]);
        let bytes = std::fs::read(pending_dir(dir.path()).join("00000000000000000005-e1.json")).unwrap();
        assert_eq!(open(&bytes, key.public_key()).unwrap(), event);
        // Another key's signature, or a changed event, does not open.
        let other = SigningKey::load_or_create(&dir.path().join("other.key"), &root).unwrap();
        assert!(open(&bytes, other.public_key()).is_err());
        let changed = String::from_utf8(bytes).unwrap().replace("TrentRekey", "TrentRekez");
        assert!(open(changed.as_bytes(), key.public_key()).is_err());
        // Dropped unpublished (the change failed): gone.
        drop(stage(dir.path(), &key, &serde_json::json!({ "eventID": "e2" }), 6).unwrap());
        assert_eq!(listed(), ["00000000000000000005-e1.json"]);
    }
}
