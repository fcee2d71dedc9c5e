//! Which root key generation the store is sealed under, and the rotation
//! in progress if any (docs/root-of-trust.md, `trent operator
//! rotate-root`). Every path that opens the root key (start, unseal, the
//! operator commands) passes it through [`adopt`] before using it.
//!
//! Nothing new records the generation: the root key check value is sealed
//! under the current key, so its header names the generation (and the
//! tag, binding it, proves it). While a rotation runs, the store's
//! `root_rotation` setting holds the new key sealed under the old one:
//! whoever opens the old key (the seal configuration still wraps it)
//! takes the new key from there and keeps the old one to read what is not
//! resealed yet. Once the configuration wraps the new key, the record is
//! stale (the new key cannot open it) and is ignored until it is removed.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use trent_crypto::root_key::blob_generation;
use trent_crypto::{RootKey, SecretBytes};
use trent_store::Store;

/// The setting of the rotation in progress.
pub const ROTATION_SETTING: &str = "root_rotation";
/// The AAD of the new key sealed under the old in [`ROTATION_SETTING`].
pub const ROTATION_AAD: &[u8] = b"trent/root-rotation/v1";
/// The setting holding the imported-material-id key, sealed under the
/// root key (absent until the first rotation: generation 0 derives it).
pub const DIGEST_SETTING: &str = "material_digest_key";
pub const DIGEST_AAD: &[u8] = b"trent/material-digest-key/v1";

/// A rotation in progress, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// The generation being replaced.
    pub from: u32,
    /// The new generation.
    pub to: u32,
    /// base64 of the new key sealed under the old ([`ROTATION_AAD`]).
    pub root: String,
}

/// The rotation record and its exact bytes, if any.
pub async fn load_rotation(store: &dyn Store) -> Result<Option<(Rotation, Vec<u8>)>, String> {
    let Some(bytes) = store.get_setting(ROTATION_SETTING).await.map_err(|e| format!("reading the root rotation: {e}"))? else {
        return Ok(None);
    };
    let rotation = serde_json::from_slice(&bytes).map_err(|e| format!("the stored root rotation cannot be read: {e}"))?;
    Ok(Some((rotation, bytes)))
}

impl Rotation {
    /// The new key, if `old` (as generation `from`) opens it.
    pub fn open(&self, old: &RootKey) -> Option<RootKey> {
        let sealed = B64.decode(&self.root).ok()?;
        let bytes = old.unseal(&sealed, ROTATION_AAD).ok()?;
        RootKey::from_bytes(bytes).ok().map(|k| k.with_generation(self.to))
    }
}

/// `root` (opened from the seal configuration) made ready to use: its
/// generation, the rotation in progress (then the new key, keeping `root`
/// to read with) and the imported-material-id key; then checked against
/// the store's root key check.
pub async fn adopt(store: &dyn Store, root: RootKey) -> Result<RootKey, String> {
    let check = store.get_setting(crate::auth::root_check::SETTING).await.map_err(|e| format!("reading the root key check: {e}"))?;
    let generation = match &check {
        Some(sealed) => blob_generation(sealed).map_err(|e| format!("the root key check: {e}"))?,
        None => 0,
    };
    let mut root = root.with_generation(generation);
    if let Some((rotation, _)) = load_rotation(store).await? {
        let old = root.with_generation(rotation.from);
        root = match rotation.open(&old) {
            Some(new) => new.with_previous(old),
            // Stale: the configuration wraps the new key already.
            None => old.with_generation(generation),
        };
    }
    if let Some(sealed) = store.get_setting(DIGEST_SETTING).await.map_err(|e| format!("reading the material digest key: {e}"))? {
        let key: SecretBytes = root.unseal(&sealed, DIGEST_AAD).map_err(|_| "this root key does not open this store's data: start every node with the root key the store was created with".to_owned())?;
        root = root.with_material_digest_key(&key).map_err(|e| e.to_string())?;
    }
    crate::auth::root_check::verify_or_record(store, &root).await.map_err(|e| format!("root key: {e}"))?;
    Ok(root)
}
