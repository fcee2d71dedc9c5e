//! `trent xks-proxy rotate-root`: replaces the proxy's root key
//! (`DIR/root.key`) with a new one and reseals every key's material and
//! every credential's secret under it. Offline: it refuses while the proxy
//! runs on DIR (the proxy holds `DIR/lock` and loads the root key once).
//!
//! The order keeps a crash anywhere from losing anything, and a rerun
//! resumes:
//!
//! 1. The new key is written to `root.key.next` (fsynced, renamed into
//!    place, mode 0600). From here [`DataDir::root_key`] refuses, so no
//!    command seals under the key about to go and the proxy does not start
//!    half-rotated.
//! 2. Each key and credential file: skipped if the new key opens it (done
//!    by an earlier run); else opened with the old key, sealed under the
//!    new and written atomically. A file neither opens stops the rotation,
//!    naming it (both keys are still on disk).
//! 3. `root.key.next` is renamed over `root.key`, the directory fsynced.
//!
//! KMS sees nothing: key ids, key material and credentials stay the same.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use trent_crypto::RootKey;

use super::credentials::{self, CredentialFile};
use super::keys::{material_aad, KeyFile};
use super::store::{self, DataDir, CREDENTIALS_DIR, KEYS_DIR, ROOT_KEY_FILE, ROOT_KEY_NEXT_FILE};
use crate::seal::rotate::crash_point;

/// The [`crate::seal::rotate::TEST_CRASH_ENV`] step after which this
/// command kills itself: the first file resealed.
pub const CRASH_AFTER_FIRST_FILE: &str = "xks-first-file";

pub fn run(data_dir: &Path) -> Result<(), String> {
    // Before the locks below write their note into a `lock` file.
    store::refuse_serve_dir(data_dir)?;
    let old_path = data_dir.join(ROOT_KEY_FILE);
    if !old_path.is_file() {
        return Err(format!("{} has no {ROOT_KEY_FILE}: not an xks-proxy data directory, or nothing sealed yet", data_dir.display()));
    }
    // Refuses while the proxy serves DIR: it holds the key it loaded.
    let _serving = store::lock_serving(data_dir, "trent xks-proxy rotate-root")?;
    // Keeps out `key`/`credential` commands that would write under the old key.
    let _change = store::lock_change(data_dir, "trent xks-proxy rotate-root")?;
    let dir = DataDir::open(data_dir)?;
    let err = |e: trent_crypto::CryptoError| e.to_string();
    let old = RootKey::load(&old_path).map_err(err)?;
    let next_path = data_dir.join(ROOT_KEY_NEXT_FILE);
    let new = if next_path.exists() {
        println!("Resuming the unfinished rotation of {}.", old_path.display());
        RootKey::load(&next_path).map_err(err)?
    } else {
        let new = RootKey::generate().map_err(err)?;
        // Written beside, fsynced, renamed: never a torn root.key.next.
        new.replace_key_file(&next_path).map_err(err)?;
        new
    };
    let mut resealed = 0;
    let mut already = 0;
    let mut each = |done: bool| {
        if done {
            resealed += 1;
            if resealed == 1 {
                crash_point(CRASH_AFTER_FIRST_FILE);
            }
        } else {
            already += 1;
        }
    };
    for id in dir.list(KEYS_DIR)? {
        let done = reseal_file::<KeyFile>(&dir.key_file(&id), &old, &new, |f| (material_aad(&f.key_id), &mut f.material))?;
        each(done);
    }
    for id in dir.list(CREDENTIALS_DIR)? {
        let done = reseal_file::<CredentialFile>(&dir.credential_file(&id), &old, &new, |f| (credentials::secret_aad(&f.access_key_id), &mut f.secret))?;
        each(done);
    }
    std::fs::rename(&next_path, &old_path)
        .and_then(|()| std::fs::File::open(data_dir)?.sync_all())
        .map_err(|e| format!("cannot rename {} over {}: {e}", next_path.display(), old_path.display()))?;
    drop(old);
    println!(
        "Rotated the root key of {}: resealed {resealed} files, {already} already were. \
         The old key is gone; KMS sees no change (key ids, key material and credentials are the same).",
        data_dir.display()
    );
    Ok(())
}

/// Reseals the one sealed field of the JSON file at `path` (`field` gives
/// its AAD and base64 text) under `new`: false if `new` already opens it.
fn reseal_file<T: serde::Serialize + serde::de::DeserializeOwned>(
    path: &Path,
    old: &RootKey,
    new: &RootKey,
    field: impl FnOnce(&mut T) -> (Vec<u8>, &mut String),
) -> Result<bool, String> {
    let name = path.display();
    // Listed a moment ago; the change lock keeps it from going meanwhile.
    let bytes = store::read_optional(path)?.ok_or_else(|| format!("{name} went away while rotating: run rotate-root again"))?;
    let mut file: T = serde_json::from_slice(&bytes).map_err(|e| format!("{name} is malformed: {e}"))?;
    let (aad, sealed_b64) = field(&mut file);
    let sealed = B64.decode(sealed_b64.as_bytes()).map_err(|_| format!("{name} is malformed"))?;
    if new.unseal(&sealed, &aad).is_ok() {
        return Ok(false);
    }
    let plain = old.unseal(&sealed, &aad).map_err(|_| {
        format!("{name} opens under neither the old root key nor the new one: rotation stopped, nothing is lost (both keys are still in place); restore the file, then run rotate-root again")
    })?;
    *sealed_b64 = B64.encode(new.seal(plain.as_bytes(), &aad).map_err(|e| e.to_string())?);
    let json = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
    store::write_atomic(path, &json, true)?;
    Ok(true)
}
