//! The root key: the one key every stored secret (key material) is sealed
//! under before it reaches the store.
//!
//! In the `file` seal mode it lives in a 32-byte file with mode 0600 next to
//! the database; the sealed modes keep it wrapped ([`crate::seal`]) and
//! only in memory, locked against swapping where the OS allows. Losing it
//! loses every key; leaking it leaks every key. This module creates the
//! file once, refuses to use it when group or others may access it, and
//! seals with AES-256-GCM:
//!
//! ```text
//! sealed = 0x01 (version) || nonce (12 random bytes) || ciphertext || tag (16)
//! ```
//!
//! Random nonces are fine here: the root key seals one blob per key created
//! or rotated, far below the 2^32 messages a random 96-bit nonce allows.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::secret::{aes_gcm_open, random_bytes, random_secret, SecretBytes};

/// Length of the root key in bytes (AES-256).
pub const ROOT_KEY_LEN: usize = 32;
/// Version byte that opens every sealed blob.
const SEAL_VERSION: u8 = 0x01;
const TAG_LEN: usize = 16;
const SEAL_HEADER_LEN: usize = 1 + NONCE_LEN;

/// The root key. Zeroed on drop; `Debug` is redacted; not `Clone`, not
/// `Serialize`.
pub struct RootKey {
    /// Boxed: a fixed address, so its page can be locked in memory.
    key: Box<Zeroizing<[u8; ROOT_KEY_LEN]>>,
    /// The AES-256-GCM key built once: every request unseals key material
    /// with it, and expanding the key each time showed in the profile.
    aead: LessSafeKey,
    /// Keeps the key's page out of swap (mlock) while it lives, where the
    /// OS allows (`None` past RLIMIT_MEMLOCK). Declared after `key`, so the
    /// key is zeroed before the page is unlocked. Best effort: aws-lc's
    /// expanded AES key in `aead` is not locked.
    locked: Option<region::LockGuard>,
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

impl RootKey {
    /// Wraps 32 bytes as a root key (tests, or keys from elsewhere).
    pub fn from_bytes(bytes: SecretBytes) -> Result<RootKey, CryptoError> {
        if bytes.len() != ROOT_KEY_LEN {
            return Err(CryptoError::RootKey(format!(
                "root key must be {ROOT_KEY_LEN} bytes, got {}",
                bytes.len()
            )));
        }
        let mut key = Zeroizing::new([0u8; ROOT_KEY_LEN]);
        key.copy_from_slice(bytes.as_bytes());
        RootKey::new(key)
    }

    /// A new random root key, held only in memory (the sealed modes wrap it
    /// with [`crate::seal`] and never write it out in the clear).
    pub fn generate() -> Result<RootKey, CryptoError> {
        RootKey::from_bytes(random_secret(ROOT_KEY_LEN)?)
    }

    /// The key's bytes, for [`crate::seal`] to wrap; nothing outside this
    /// crate sees them.
    pub(crate) fn expose(&self) -> &[u8; ROOT_KEY_LEN] {
        &self.key
    }

    /// Loads the root key from `path`, or creates it there with 32 random
    /// bytes and mode 0600 if no file exists. Returns `true` when it created
    /// the file.
    ///
    /// An existing file must be a regular file of exactly 32 bytes that
    /// group and others cannot access at all (mode `0o077` bits clear);
    /// otherwise this returns [`CryptoError::RootKey`] and does not touch it.
    pub fn load_or_create(path: &Path) -> Result<(RootKey, bool), CryptoError> {
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(file) => Self::create(path, file).map(|k| (k, true)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Self::load(path).map(|k| (k, false)),
            Err(e) => Err(CryptoError::RootKey(format!(
                "cannot create root key file {}: {e}",
                path.display()
            ))),
        }
    }

    fn create(path: &Path, file: File) -> Result<RootKey, CryptoError> {
        let secret = random_secret(ROOT_KEY_LEN)?;
        Self::write_to(path, file, secret.as_bytes())?;
        RootKey::from_bytes(secret)
    }

    /// Writes this key to a new file at `path` (mode 0600, fsynced with its
    /// directory entry), for `trent operator rekey` moving to the `file`
    /// mode. Refuses to replace an existing file.
    pub fn write_new(&self, path: &Path) -> Result<(), CryptoError> {
        let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
            CryptoError::RootKey(format!("cannot create root key file {}: {e}", path.display()))
        })?;
        Self::write_to(path, file, &self.key[..])
    }

    fn write_to(path: &Path, mut file: File, secret: &[u8]) -> Result<(), CryptoError> {
        let written = file
            .write_all(secret)
            .and_then(|()| file.sync_all())
            .and_then(|()| sync_parent_dir(path));
        if let Err(e) = written {
            drop(file);
            // Best effort: leave no partial key file behind to be refused
            // (or worse, trusted) on the next start.
            let _ = std::fs::remove_file(path);
            return Err(CryptoError::RootKey(format!(
                "cannot write root key file {}: {e}",
                path.display()
            )));
        }
        Ok(())
    }

    /// Whether `other` is the same key (compared in constant time).
    pub fn same_as(&self, other: &RootKey) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.key[..], &other.key[..]).is_ok()
    }

    /// Loads an existing root key file (for operator commands, which must
    /// never create one), with the same checks as [`RootKey::load_or_create`].
    pub fn load(path: &Path) -> Result<RootKey, CryptoError> {
        let err = |what: String| CryptoError::RootKey(format!("{}: {what}", path.display()));
        let mut file = File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| err(format!("cannot stat: {e}")))?;
        if !meta.is_file() {
            return Err(err("not a regular file".to_string()));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(err(format!(
                "mode {mode:04o} lets group or others access the root key; \
                 refusing to use it (chmod 600 it if it was never exposed)"
            )));
        }
        if meta.len() != ROOT_KEY_LEN as u64 {
            return Err(err(format!(
                "root key file must be exactly {ROOT_KEY_LEN} bytes, found {}",
                meta.len()
            )));
        }
        // Read into a fixed zeroizing buffer one byte larger than the key, so
        // a file that grew after the stat is still caught.
        let mut buf = Zeroizing::new([0u8; ROOT_KEY_LEN + 1]);
        let mut n = 0;
        while n < buf.len() {
            match file.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(err(format!("cannot read: {e}"))),
            }
        }
        if n != ROOT_KEY_LEN {
            return Err(err(format!(
                "root key file must be exactly {ROOT_KEY_LEN} bytes"
            )));
        }
        let mut key = Zeroizing::new([0u8; ROOT_KEY_LEN]);
        key.copy_from_slice(&buf[..ROOT_KEY_LEN]);
        RootKey::new(key)
    }

    fn new(key: Zeroizing<[u8; ROOT_KEY_LEN]>) -> Result<RootKey, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, &key[..])
            .map_err(|_| CryptoError::Internal("cannot build root AES key"))?;
        let key = Box::new(key);
        // `region::lock` is a safe wrapper of mlock(2): it only pins pages.
        let locked = region::lock(key.as_ptr(), ROOT_KEY_LEN).ok();
        Ok(RootKey { key, aead: LessSafeKey::new(unbound), locked })
    }

    /// Whether the key's memory is locked against swapping (mlock).
    pub fn memory_locked(&self) -> bool {
        self.locked.is_some()
    }

    fn aead_key(&self) -> Result<&LessSafeKey, CryptoError> {
        Ok(&self.aead)
    }

    /// Seals `plaintext` under the root key, bound to `aad` (pass the ids of
    /// the row the blob belongs to, so it cannot be moved to another row).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self.aead_key()?;
        let nonce = random_bytes(NONCE_LEN)?;
        // Zeroizing while it still holds plaintext, in case sealing fails.
        let mut out = Zeroizing::new(Vec::with_capacity(
            SEAL_HEADER_LEN + plaintext.len() + TAG_LEN,
        ));
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let nonce = Nonce::try_assume_unique_for_key(&nonce)
            .map_err(|_| CryptoError::Internal("bad nonce length"))?;
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut out[SEAL_HEADER_LEN..])
            .map_err(|_| CryptoError::Internal("root key seal failed"))?;
        out.extend_from_slice(tag.as_ref());
        Ok(std::mem::take(&mut *out))
    }

    /// A keyed digest of `data` under a key derived from the root key for
    /// `label` (HMAC-SHA256 twice: derive, then digest). Deterministic, so
    /// it can name secret data (e.g. imported key material) without
    /// revealing it, and differs between deployments.
    pub fn keyed_digest(&self, label: &[u8], data: &[u8]) -> [u8; 32] {
        use aws_lc_rs::hmac;
        let root = hmac::Key::new(hmac::HMAC_SHA256, &self.key[..]);
        let derived = Zeroizing::new(hmac::sign(&root, label).as_ref().to_vec());
        let key = hmac::Key::new(hmac::HMAC_SHA256, &derived);
        let mut out = [0u8; 32];
        out.copy_from_slice(hmac::sign(&key, data).as_ref());
        out
    }

    /// Opens a blob made by [`RootKey::seal`] with the same `aad`.
    /// [`CryptoError::Malformed`] if it cannot be parsed,
    /// [`CryptoError::Decrypt`] if authentication fails.
    pub fn unseal(&self, sealed: &[u8], aad: &[u8]) -> Result<SecretBytes, CryptoError> {
        if sealed.len() < SEAL_HEADER_LEN + TAG_LEN {
            return Err(CryptoError::Malformed("sealed blob too short"));
        }
        if sealed[0] != SEAL_VERSION {
            return Err(CryptoError::Malformed("unknown sealed blob version"));
        }
        aes_gcm_open(self.aead_key()?, &sealed[1..SEAL_HEADER_LEN], aad, &sealed[SEAL_HEADER_LEN..])
    }
}

/// fsyncs the directory holding `path`, so the new file's entry is durable.
fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Removes a root key file and fsyncs its directory, so the removal is
/// durable before the caller reports it (`trent operator rekey` leaving the
/// `file` mode). The blocks may survive on the disk: see docs/root-of-trust.md.
pub fn remove_key_file(path: &Path) -> std::io::Result<()> {
    std::fs::remove_file(path)?;
    sync_parent_dir(path)
}
