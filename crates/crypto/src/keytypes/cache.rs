//! Parsed private keys, kept so that a request never parses key material.
//!
//! Entries are keyed by key id and material id, so a key's new material
//! (rotation, later) is a new entry and an entry can never answer for
//! another key. The cache holds only parsed keys: aws-lc wipes their
//! private parts when the last `Arc` drops (evicted and not in use). The
//! sealed form stays in the store; nothing here is written anywhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::private::PrivateKey;
use super::spec::KeySpec;
use crate::ciphertext::MATERIAL_ID_LEN;
use crate::error::CryptoError;

type Entry = (Uuid, [u8; MATERIAL_ID_LEN]);

/// A bounded map from (key id, material id) to a parsed key.
#[derive(Debug)]
pub struct KeyCache {
    entries: Mutex<HashMap<Entry, Arc<PrivateKey>>>,
    capacity: usize,
}

impl KeyCache {
    /// A cache of at most `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> Self {
        KeyCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The parsed key for this material, parsing it with `parse` on a miss
    /// (outside the lock: RSA parsing takes milliseconds).
    pub fn get_or_parse(
        &self,
        key_id: Uuid,
        material_id: &[u8; MATERIAL_ID_LEN],
        spec: KeySpec,
        parse: impl FnOnce() -> Result<PrivateKey, CryptoError>,
    ) -> Result<Arc<PrivateKey>, CryptoError> {
        let entry = (key_id, *material_id);
        if let Some(key) = self.lock().get(&entry) {
            if key.spec() != spec {
                return Err(CryptoError::Internal("cached key has another key spec"));
            }
            return Ok(key.clone());
        }
        let key = Arc::new(parse()?);
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            // Evict an arbitrary entry; a key in use stays alive through its Arc.
            if let Some(victim) = entries.keys().next().copied() {
                entries.remove(&victim);
            }
        }
        entries.insert(entry, key.clone());
        Ok(key)
    }

    /// The parsed key for this material if it is cached (no parsing).
    pub fn get(
        &self,
        key_id: Uuid,
        material_id: &[u8; MATERIAL_ID_LEN],
        spec: KeySpec,
    ) -> Option<Arc<PrivateKey>> {
        self.lock()
            .get(&(key_id, *material_id))
            .filter(|k| k.spec() == spec)
            .cloned()
    }

    /// Drops every cached material of `key_id` (its key was deleted).
    pub fn forget_key(&self, key_id: Uuid) {
        self.lock().retain(|(id, _), _| *id != key_id);
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Entry, Arc<PrivateKey>>> {
        // A panic while holding this lock cannot leave the map half-updated
        // (each change is one insert or remove), so a poisoned lock is usable.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
