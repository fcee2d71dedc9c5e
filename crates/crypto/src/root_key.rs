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
//! sealed = 0x02 (version) || generation (u32, big-endian) || nonce || ciphertext || tag
//! ```
//!
//! `trent operator rotate-root` replaces the root key; each replacement is
//! a new *generation*. Generation 0 (the key `init` made) seals the 0x01
//! form, unchanged; later generations seal the 0x02 form, which names the
//! generation (and binds it: it is the first four bytes of the AAD), so
//! while a rotation runs a reader holding both keys picks the right one
//! with one comparison.
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
/// Version byte of blobs sealed by generation 0.
const SEAL_VERSION: u8 = 0x01;
/// Version byte of blobs naming their generation.
const SEAL_VERSION_GENERATION: u8 = 0x02;
const TAG_LEN: usize = 16;
const SEAL_HEADER_LEN: usize = 1 + NONCE_LEN;
const GENERATION_LEN: usize = 4;
/// The label of [`RootKey::keyed_digest`]'s one derived key that must
/// outlive a rotation (imported material ids).
pub const MATERIAL_ID_LABEL: &[u8] = b"trent/imported-material-id/v1";

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
    /// Which root key this is (0: the first; each rotation adds one).
    generation: u32,
    /// While a rotation runs: the key it replaces, to open what is still
    /// sealed under it. Never used to seal.
    previous: Option<Box<RootKey>>,
    /// HMAC key of the imported material ids, derived from generation 0
    /// and carried across rotations (a re-import must get the same id);
    /// `None`: derive it from this key.
    material_digest_key: Option<Zeroizing<[u8; ROOT_KEY_LEN]>>,
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

    /// Replaces the key file at `path` with this key (`trent operator
    /// rotate-root` in `file` mode): written to `path.new` and fsynced,
    /// then renamed over `path` and the directory fsynced, so a crash
    /// leaves the old key or the new one, never a torn file.
    pub fn replace_key_file(&self, path: &Path) -> Result<(), CryptoError> {
        let fresh = path.with_extension("key.new");
        // Left by a run that stopped before the rename: the same key again.
        let _ = std::fs::remove_file(&fresh);
        self.write_new(&fresh)?;
        std::fs::rename(&fresh, path)
            .and_then(|()| sync_parent_dir(path))
            .map_err(|e| CryptoError::RootKey(format!("cannot replace root key file {}: {e}", path.display())))
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
        Ok(RootKey { key, aead: LessSafeKey::new(unbound), locked, generation: 0, previous: None, material_digest_key: None })
    }

    /// Which generation this key is.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// This key as generation `generation` (read from the store).
    pub fn with_generation(mut self, generation: u32) -> RootKey {
        self.generation = generation;
        self
    }

    /// This key with `previous` (an older generation) kept to open what is
    /// still sealed under it, while a rotation runs.
    pub fn with_previous(mut self, previous: RootKey) -> RootKey {
        self.previous = Some(Box::new(previous.without_previous()));
        self
    }

    /// A second copy of this key (with its previous generation and its
    /// material-id key), zeroized on drop as this one is: a running server
    /// swapping its key (online `rotate-root`) builds the next key from the
    /// one requests still hold.
    pub fn duplicate(&self) -> Result<RootKey, CryptoError> {
        let mut copy = RootKey::new((*self.key).clone())?.with_generation(self.generation);
        copy.previous = match &self.previous {
            Some(previous) => Some(Box::new(previous.duplicate()?)),
            None => None,
        };
        copy.material_digest_key = self.material_digest_key.clone();
        Ok(copy)
    }

    /// This key alone, the previous generation dropped (zeroized).
    pub fn without_previous(mut self) -> RootKey {
        self.previous = None;
        self
    }

    /// The key of the previous generation kept for reading, if any.
    pub fn previous(&self) -> Option<&RootKey> {
        self.previous.as_deref()
    }

    /// The generation this key keeps for reading, if any.
    pub fn previous_generation(&self) -> Option<u32> {
        self.previous.as_ref().map(|p| p.generation)
    }

    /// This key's bytes sealed under `sealer` (the generation before it),
    /// for the rotation's record in the store.
    pub fn seal_under(&self, sealer: &RootKey, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        sealer.seal(&self.key[..], aad)
    }

    /// The imported-material-id key, for the store: sealed under this key.
    pub fn seal_material_digest_key(&self, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.seal(&self.material_digest_key()[..], aad)
    }

    /// Uses `key` (as [`RootKey::seal_material_digest_key`] stored it) for
    /// imported material ids.
    pub fn with_material_digest_key(mut self, key: &SecretBytes) -> Result<RootKey, CryptoError> {
        if key.len() != ROOT_KEY_LEN {
            return Err(CryptoError::RootKey("the stored material digest key has the wrong length".to_owned()));
        }
        let mut held = Zeroizing::new([0u8; ROOT_KEY_LEN]);
        held.copy_from_slice(key.as_bytes());
        self.material_digest_key = Some(held);
        Ok(self)
    }

    fn material_digest_key(&self) -> Zeroizing<[u8; ROOT_KEY_LEN]> {
        if let Some(key) = &self.material_digest_key {
            return key.clone();
        }
        let mut out = Zeroizing::new([0u8; ROOT_KEY_LEN]);
        out.copy_from_slice(derive(&self.key[..], MATERIAL_ID_LABEL).as_ref());
        out
    }

    /// Whether `sealed` is sealed under this generation (no crypto: its
    /// header only).
    pub fn sealed_by_this(&self, sealed: &[u8]) -> bool {
        matches!(blob_generation(sealed), Ok(g) if g == self.generation)
    }

    /// `sealed` opened (under this or the previous generation) and sealed
    /// again under this one; `None` if it already is.
    pub fn reseal(&self, sealed: &[u8], aad: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
        if self.sealed_by_this(sealed) {
            return Ok(None);
        }
        let plain = self.unseal(sealed, aad)?;
        self.seal(plain.as_bytes(), aad).map(Some)
    }

    /// Whether the key's memory is locked against swapping (mlock).
    pub fn memory_locked(&self) -> bool {
        self.locked.is_some()
    }

    /// Seals `plaintext` under the root key, bound to `aad` (pass the ids of
    /// the row the blob belongs to, so it cannot be moved to another row).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce = random_bytes(NONCE_LEN)?;
        let header_len = if self.generation == 0 { SEAL_HEADER_LEN } else { SEAL_HEADER_LEN + GENERATION_LEN };
        // Zeroizing while it still holds plaintext, in case sealing fails.
        let mut out = Zeroizing::new(Vec::with_capacity(header_len + plaintext.len() + TAG_LEN));
        if self.generation == 0 {
            out.push(SEAL_VERSION);
        } else {
            out.push(SEAL_VERSION_GENERATION);
            out.extend_from_slice(&self.generation.to_be_bytes());
        }
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let nonce = Nonce::try_assume_unique_for_key(&nonce)
            .map_err(|_| CryptoError::Internal("bad nonce length"))?;
        let aad = self.bound_aad(aad);
        let tag = self
            .aead
            .seal_in_place_separate_tag(nonce, Aad::from(&aad[..]), &mut out[header_len..])
            .map_err(|_| CryptoError::Internal("root key seal failed"))?;
        out.extend_from_slice(tag.as_ref());
        Ok(std::mem::take(&mut *out))
    }

    /// The AAD as sealed: generation 0's unchanged, later ones' prefixed
    /// with the generation, so a blob's header cannot be changed to
    /// another generation's.
    fn bound_aad<'a>(&self, aad: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        if self.generation == 0 {
            return std::borrow::Cow::Borrowed(aad);
        }
        let mut bound = Vec::with_capacity(GENERATION_LEN + aad.len());
        bound.extend_from_slice(&self.generation.to_be_bytes());
        bound.extend_from_slice(aad);
        std::borrow::Cow::Owned(bound)
    }

    /// A keyed digest of `data` under a key derived from the root key for
    /// `label` (HMAC-SHA256 twice: derive, then digest). Deterministic, so
    /// it can name secret data (e.g. imported key material) without
    /// revealing it, and differs between deployments. For
    /// [`MATERIAL_ID_LABEL`] the derived key is the one generation 0 gave,
    /// kept across rotations.
    pub fn keyed_digest(&self, label: &[u8], data: &[u8]) -> [u8; 32] {
        use aws_lc_rs::hmac;
        let derived = if label == MATERIAL_ID_LABEL {
            self.material_digest_key()
        } else {
            let mut d = Zeroizing::new([0u8; ROOT_KEY_LEN]);
            d.copy_from_slice(derive(&self.key[..], label).as_ref());
            d
        };
        let key = hmac::Key::new(hmac::HMAC_SHA256, &derived[..]);
        let mut out = [0u8; 32];
        out.copy_from_slice(hmac::sign(&key, data).as_ref());
        out
    }

    /// Opens a blob made by [`RootKey::seal`] with the same `aad`, by this
    /// generation or, during a rotation, the previous one.
    /// [`CryptoError::Malformed`] if it cannot be parsed or names a
    /// generation this key does not hold, [`CryptoError::Decrypt`] if
    /// authentication fails.
    pub fn unseal(&self, sealed: &[u8], aad: &[u8]) -> Result<SecretBytes, CryptoError> {
        let generation = blob_generation(sealed)?;
        let key = if generation == self.generation {
            self
        } else {
            match &self.previous {
                Some(previous) if previous.generation == generation => previous,
                _ => return Err(CryptoError::Malformed(UNKNOWN_GENERATION)),
            }
        };
        let start = if generation == 0 { 1 } else { 1 + GENERATION_LEN };
        if sealed.len() < start + NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed("sealed blob too short"));
        }
        let aad = key.bound_aad(aad);
        aes_gcm_open(&key.aead, &sealed[start..start + NONCE_LEN], &aad, &sealed[start + NONCE_LEN..])
    }
}

/// HMAC-SHA256 of `label` under `key`: a key derived for one use.
fn derive(key: &[u8], label: &[u8]) -> aws_lc_rs::hmac::Tag {
    use aws_lc_rs::hmac;
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), label)
}

/// What [`RootKey::unseal`] says of a value sealed under a generation it
/// does not hold (a node of a shared store that has not followed a root
/// key rotation yet).
pub const UNKNOWN_GENERATION: &str = "sealed under a root key generation this server does not hold";

/// The generation a sealed blob names (0 for the 0x01 form).
pub fn blob_generation(sealed: &[u8]) -> Result<u32, CryptoError> {
    match sealed.first() {
        Some(&SEAL_VERSION) => Ok(0),
        Some(&SEAL_VERSION_GENERATION) => {
            let bytes: [u8; GENERATION_LEN] = sealed
                .get(1..1 + GENERATION_LEN)
                .and_then(|b| b.try_into().ok())
                .ok_or(CryptoError::Malformed("sealed blob too short"))?;
            Ok(u32::from_be_bytes(bytes))
        }
        Some(_) => Err(CryptoError::Malformed("unknown sealed blob version")),
        None => Err(CryptoError::Malformed("sealed blob too short")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_zero_seals_the_first_form_and_later_ones_name_their_generation() {
        let old = RootKey::generate().unwrap();
        let sealed_old = old.seal(b"secret", b"row").unwrap();
        assert_eq!(sealed_old[0], SEAL_VERSION);
        let new = RootKey::generate().unwrap().with_generation(7);
        let sealed_new = new.seal(b"secret", b"row").unwrap();
        assert_eq!(sealed_new[0], SEAL_VERSION_GENERATION);
        assert_eq!(blob_generation(&sealed_new).unwrap(), 7);
        // The new key alone cannot read the old generation's blob...
        assert!(matches!(new.unseal(&sealed_old, b"row"), Err(CryptoError::Malformed(_))));
        // ...with the old one kept during a rotation, it reads both.
        let both = new.with_previous(old);
        assert_eq!(both.unseal(&sealed_old, b"row").unwrap().as_bytes(), b"secret");
        assert_eq!(both.unseal(&sealed_new, b"row").unwrap().as_bytes(), b"secret");
        assert_eq!(both.unseal(&sealed_new, b"other row").err(), Some(CryptoError::Decrypt));
        // A blob resealed is under the new generation; resealing it again does nothing.
        let moved = both.reseal(&sealed_old, b"row").unwrap().unwrap();
        assert!(both.sealed_by_this(&moved));
        assert!(both.reseal(&moved, b"row").unwrap().is_none());
        let alone = both.without_previous();
        assert_eq!(alone.unseal(&moved, b"row").unwrap().as_bytes(), b"secret");
        assert!(alone.unseal(&sealed_old, b"row").is_err());
    }

    #[test]
    fn the_generation_in_the_header_is_authenticated() {
        let old = RootKey::from_bytes(SecretBytes::new(vec![1; 32])).unwrap().with_generation(1);
        // The same key bytes as generation 2: only the header tells them apart.
        let new = RootKey::from_bytes(SecretBytes::new(vec![1; 32])).unwrap().with_generation(2).with_previous(old);
        let mut sealed = new.seal(b"secret", b"row").unwrap();
        sealed[4] = 1;
        assert_eq!(new.unseal(&sealed, b"row").err(), Some(CryptoError::Decrypt));
    }

    #[test]
    fn imported_material_ids_survive_a_rotation() {
        let old = RootKey::generate().unwrap();
        let id = old.keyed_digest(MATERIAL_ID_LABEL, b"material");
        let carried = old.seal_material_digest_key(b"digest").unwrap();
        let new = RootKey::generate().unwrap().with_generation(1);
        let digest_key = old.unseal(&carried, b"digest").unwrap();
        assert_ne!(new.keyed_digest(MATERIAL_ID_LABEL, b"material"), id);
        let new = new.with_material_digest_key(&digest_key).unwrap();
        assert_eq!(new.keyed_digest(MATERIAL_ID_LABEL, b"material"), id);
        // Other labels follow the current key.
        assert_ne!(new.keyed_digest(b"other", b"x"), old.keyed_digest(b"other", b"x"));
    }
}
