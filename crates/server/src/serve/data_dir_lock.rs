//! One server per data directory: `DATA_DIR/lock`, held with an exclusive
//! advisory lock (`flock`) for as long as `trent serve` runs.
//!
//! Two servers on one directory would each continue the audit chain from
//! the same head and break it (and race to make the root key and the first
//! admin). The kernel drops the lock when the process ends, however it ends
//! (kill -9 too), so a restart after a crash takes it at once: there is no
//! stale lock to clean up. The file names its holder (pid, start time,
//! address) for the message a second server prints. Commands that only
//! read the directory (`trent audit verify`/`query`, `trent explain`) and
//! `trent account create`, which writes only the store (whose own locking
//! serves concurrent writers), do not take it. With PostgreSQL each node
//! has its own data directory, so nodes do not meet here.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::clock::{Clock, SystemClock};

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "lock";

/// The lock of a data directory, held while this value lives.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    /// The line the file holds: who holds the lock.
    holder: String,
}

impl DataDirLock {
    /// Takes the lock of `data_dir`, or says which server holds it.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, String> {
        Self::acquire_file(data_dir, LOCK_FILE, |holder| {
            format!("the data directory {} is in use by another Trent server ({holder}); stop it first, or give this server its own --data-dir", data_dir.display())
        })
    }

    /// Takes another lock of `data_dir`, the file `name` (e.g. the root of
    /// trust's, [`crate::seal::change_lock`]); `refused` words the refusal
    /// from what the file says of its holder.
    pub fn acquire_file(data_dir: &Path, name: &str, refused: impl FnOnce(&str) -> String) -> Result<DataDirLock, String> {
        let path = data_dir.join(name);
        // Not truncated on open: until the lock is ours, what it says is the holder's.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("opening {}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(refused(&holder_of(&mut file))),
            Err(std::fs::TryLockError::Error(e)) => return Err(format!("cannot lock {} (the file system must support flock): {e}", path.display())),
        }
        let started = crate::clock::iso8601(SystemClock { offset_millis: 0 }.now_millis());
        let mut lock = DataDirLock { file, holder: format!("pid {}, started {started}", std::process::id()) };
        lock.write().map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(lock)
    }

    /// [`Self::acquire_file`] for the command `who`, which the file then names.
    pub fn acquire_for(data_dir: &Path, name: &str, who: &str, refused: impl FnOnce(&str) -> String) -> Result<DataDirLock, String> {
        let mut lock = Self::acquire_file(data_dir, name, refused)?;
        lock.note(who).map_err(|e| format!("writing {}: {e}", data_dir.join(name).display()))?;
        Ok(lock)
    }

    /// Adds `what` the holder is doing to what the file says of it.
    pub fn note(&mut self, what: &str) -> std::io::Result<()> {
        self.holder.push_str(", ");
        self.holder.push_str(what);
        self.write()
    }

    /// Adds where this server listens, once it does.
    pub fn note_listening(&mut self, addr: SocketAddr) -> std::io::Result<()> {
        self.note(&format!("listening on http://{addr}"))
    }

    fn write(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(format!("{}\n", self.holder).as_bytes())
    }
}

impl Drop for DataDirLock {
    /// A clean stop leaves no holder named; the lock itself goes with the file.
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

/// What the lock file says of its holder, for the message (one line, printable).
fn holder_of(file: &mut File) -> String {
    let mut text = String::new();
    let _ = Read::by_ref(file).take(1024).read_to_string(&mut text);
    let line: String = text.lines().next().unwrap_or("").chars().filter(|c| !c.is_control()).collect();
    if line.trim().is_empty() {
        "which has not yet written its pid".to_owned()
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = DataDirLock::acquire(dir.path()).unwrap();
        first.note_listening("127.0.0.1:4600".parse().unwrap()).unwrap();
        let refused = DataDirLock::acquire(dir.path()).unwrap_err();
        assert!(refused.contains("in use by another Trent server"), "{refused}");
        assert!(refused.contains(&format!("(pid {}, started ", std::process::id())), "{refused}");
        assert!(refused.contains("listening on http://127.0.0.1:4600)"), "{refused}");
        drop(first);
        assert_eq!(std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap(), "", "a clean stop names no holder");
        DataDirLock::acquire(dir.path()).expect("free again once the holder is gone");
    }
}
