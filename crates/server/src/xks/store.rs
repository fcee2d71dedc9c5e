//! The proxy's data directory: a root key file and one small JSON file per
//! external key and per credential, each secret sealed under the root key.
//!
//! ```text
//! DIR/root.key              32 bytes, mode 0600 (trent_crypto::RootKey)
//! DIR/root.key.next         the next root key, while `rotate-root` runs
//! DIR/lock                  held by the running proxy (and rotate-root)
//! DIR/seal.lock             held by rotate-root and the key/credential
//!                           commands that write
//! DIR/keys/<keyId>.json     an external key (material sealed)
//! DIR/credentials/<akid>.json   a SigV4 credential (secret sealed)
//! DIR/token-keys/<keyId>.json   a PKCS#11 token key's status (no material)
//! ```
//!
//! The server reads these files on every request, so `key disable` or a new
//! credential takes effect at once, without a restart (the spec asks that
//! credentials can be rotated without disconnecting).

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use trent_crypto::RootKey;

use crate::serve::data_dir_lock::{DataDirLock, LOCK_FILE};

pub const ROOT_KEY_FILE: &str = "root.key";
/// The new root key while `rotate-root` runs (`super::rotate_root`).
pub const ROOT_KEY_NEXT_FILE: &str = "root.key.next";
pub const KEYS_DIR: &str = "keys";
pub const CREDENTIALS_DIR: &str = "credentials";
pub const TOKEN_KEYS_DIR: &str = "token-keys";

/// Refuses a `trent serve` data directory, which holds its SQLite
/// database or its audit log (see [`DataDir::open`]).
pub fn refuse_serve_dir(root: &Path) -> Result<(), String> {
    let serves = [root.join(crate::serve::DATABASE_FILE), crate::audit::audit_dir(root)];
    match serves.iter().find(|path| path.exists()).and_then(|path| path.file_name()) {
        Some(found) => Err(format!("{} is a `trent serve` data directory (it holds {}): give the XKS proxy a directory of its own", root.display(), found.to_string_lossy())),
        None => Ok(()),
    }
}

/// Whether `dir` is an XKS proxy's data directory, which `trent serve`
/// refuses (see [`DataDir::open`]).
pub fn is_proxy_dir(dir: &Path) -> bool {
    dir.join(KEYS_DIR).is_dir() || dir.join(TOKEN_KEYS_DIR).is_dir()
}

/// The data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens DIR, creating it and its subdirectories (mode 0700) if needed.
    /// A `trent serve` data directory is refused: both keep a `root.key`
    /// and a `lock` there, and would take each other's.
    pub fn open(root: &Path) -> Result<DataDir, String> {
        refuse_serve_dir(root)?;
        for dir in [root.to_path_buf(), root.join(KEYS_DIR), root.join(CREDENTIALS_DIR), root.join(TOKEN_KEYS_DIR)] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Ok(DataDir { root: root.to_path_buf() })
    }

    /// The root key, created on first use. Refused while a root key
    /// rotation is unfinished: nothing new is sealed under a key about to
    /// go, and the proxy does not start on half-resealed files.
    pub fn root_key(&self) -> Result<RootKey, String> {
        if self.root.join(ROOT_KEY_NEXT_FILE).exists() {
            return Err(format!(
                "{} holds an unfinished root key rotation: run `trent xks-proxy rotate-root --data-dir {}` again",
                self.root.display(),
                self.root.display()
            ));
        }
        RootKey::load_or_create(&self.root.join(ROOT_KEY_FILE))
            .map(|(key, _)| key)
            .map_err(|e| e.to_string())
    }

    pub fn key_file(&self, key_id: &str) -> PathBuf {
        self.root.join(KEYS_DIR).join(format!("{key_id}.json"))
    }

    pub fn token_key_file(&self, key_id: &str) -> PathBuf {
        self.root.join(TOKEN_KEYS_DIR).join(format!("{key_id}.json"))
    }

    pub fn credential_file(&self, access_key_id: &str) -> PathBuf {
        self.root.join(CREDENTIALS_DIR).join(format!("{access_key_id}.json"))
    }

    /// The ids of the `.json` files in `sub`, sorted.
    pub fn list(&self, sub: &str) -> Result<Vec<String>, String> {
        let dir = self.root.join(sub);
        let entries = fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
            if let Some(id) = entry.file_name().to_str().and_then(|n| n.strip_suffix(".json")) {
                // Temporary files end in `.tmp`, so they never get here.
                ids.push(id.to_string());
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// Takes `DIR/lock`, which the running proxy holds (and `rotate-root`, so
/// it cannot run under a proxy that keeps the old key in memory). `who`
/// is the command, for the file and the refusal.
pub fn lock_serving(root: &Path, who: &str) -> Result<DataDirLock, String> {
    DataDirLock::acquire_for(root, LOCK_FILE, who, |holder| {
        format!("{} is in use by a running trent xks-proxy ({holder}): stop it first, then run {who} again", root.display())
    })
}

/// Takes the change lock (`crate::seal::change_lock`) for a command that
/// writes a sealed file, so it cannot run beside `rotate-root` (a `key
/// disable` reading under the old key and writing after the reseal would
/// leave material the new key cannot open).
pub fn lock_change(root: &Path, who: &str) -> Result<DataDirLock, String> {
    crate::seal::change_lock::acquire(root, who)
}

/// Reads a file, `None` if it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Writes `bytes` to `path` durably and atomically: a temporary file in the
/// same directory, fsync, then rename (or, with `replace == false`, a hard
/// link, which fails rather than overwrite an existing file), then fsync the
/// directory.
pub fn write_atomic(path: &Path, bytes: &[u8], replace: bool) -> Result<(), String> {
    let dir = path.parent().ok_or_else(|| format!("{} has no directory", path.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", trent_crypto::new_uuid().simple()));
    let result = write_tmp(&tmp, bytes).and_then(|()| {
        if replace {
            fs::rename(&tmp, path)
        } else {
            fs::hard_link(&tmp, path)
        }
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => format!("{} already exists", path.display()),
            _ => format!("cannot write {}: {e}", path.display()),
        })
    });
    // The temporary name is gone after a rename; after a link (or a failure)
    // it is removed here.
    let _ = fs::remove_file(&tmp);
    result?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
}

fn write_tmp(tmp: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))
}

/// Seconds since the Unix epoch (the clock the SigV4 skew check uses).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
