//! Parsed private keys, kept so that a request never parses key material.
//!
//! Entries are keyed by key id and material id, so a key's new material
//! (rotation, later) is a new entry and an entry can never answer for
//! another key. The cache holds only parsed keys: aws-lc wipes their
//! private parts when the last `Arc` drops (evicted and not in use). The
//! sealed form stays in the store; nothing here is written anywhere.
//!
//! Bounds: at most `capacity` keys, and a key unused for `idle` is dropped
//! (checked at most once a minute), so the material of a key destroyed on
//! this or another node does not stay in memory for long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::private::PrivateKey;
use super::spec::KeySpec;
use crate::ciphertext::MATERIAL_ID_LEN;
use crate::error::CryptoError;

type Entry = (Uuid, [u8; MATERIAL_ID_LEN]);

/// How often idle entries are looked for.
const IDLE_CHECK_EVERY: Duration = Duration::from_secs(60);

struct Cached {
    key: Arc<PrivateKey>,
    last_used: Instant,
}

struct Inner {
    entries: HashMap<Entry, Cached>,
    last_idle_check: Instant,
}

/// A bounded map from (key id, material id) to a parsed key.
pub struct KeyCache {
    inner: Mutex<Inner>,
    capacity: usize,
    idle: Duration,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyCache(<{} keys>)", self.len())
    }
}

impl KeyCache {
    /// A cache of at most `capacity` keys (at least 1), each dropped after
    /// `idle` without use.
    pub fn new(capacity: usize, idle: Duration) -> Self {
        KeyCache {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                last_idle_check: Instant::now(),
            }),
            capacity: capacity.max(1),
            idle,
        }
    }

    /// The parsed key for this material if it is cached (no parsing).
    pub fn get(
        &self,
        key_id: Uuid,
        material_id: &[u8; MATERIAL_ID_LEN],
        spec: KeySpec,
    ) -> Option<Arc<PrivateKey>> {
        self.get_at(key_id, material_id, spec, Instant::now())
    }

    /// [`KeyCache::get`] as of `now` (tests move time forward).
    pub fn get_at(
        &self,
        key_id: Uuid,
        material_id: &[u8; MATERIAL_ID_LEN],
        spec: KeySpec,
        now: Instant,
    ) -> Option<Arc<PrivateKey>> {
        let mut inner = self.lock();
        self.drop_idle(&mut inner, now);
        let cached = inner.entries.get_mut(&(key_id, *material_id))?;
        if cached.key.spec() != spec {
            return None;
        }
        cached.last_used = now;
        Some(cached.key.clone())
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
        let now = Instant::now();
        {
            let mut inner = self.lock();
            if let Some(cached) = inner.entries.get_mut(&(key_id, *material_id)) {
                if cached.key.spec() != spec {
                    return Err(CryptoError::Internal("cached key has another key spec"));
                }
                cached.last_used = now;
                return Ok(cached.key.clone());
            }
        }
        let key = Arc::new(parse()?);
        let mut inner = self.lock();
        self.drop_idle(&mut inner, now);
        if inner.entries.len() >= self.capacity {
            // Evict the least recently used; a key in use stays alive through its Arc.
            if let Some(victim) = inner
                .entries
                .iter()
                .min_by_key(|(_, c)| c.last_used)
                .map(|(e, _)| *e)
            {
                inner.entries.remove(&victim);
            }
        }
        inner.entries.insert(
            (key_id, *material_id),
            Cached {
                key: key.clone(),
                last_used: now,
            },
        );
        Ok(key)
    }

    /// Drops every cached material of `key_id` (its key was deleted).
    pub fn forget_key(&self, key_id: Uuid) {
        self.lock().entries.retain(|(id, _), _| *id != key_id);
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn drop_idle(&self, inner: &mut Inner, now: Instant) {
        if now.saturating_duration_since(inner.last_idle_check) < IDLE_CHECK_EVERY {
            return;
        }
        inner.last_idle_check = now;
        let idle = self.idle;
        inner
            .entries
            .retain(|_, c| now.saturating_duration_since(c.last_used) < idle);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the map half-updated
        // (each change is one insert, update or remove), so a poisoned lock is usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keytypes::{generate_material, KeySpec};

    fn parsed() -> Result<PrivateKey, CryptoError> {
        PrivateKey::parse(KeySpec::Hmac256, &generate_material(KeySpec::Hmac256)?)
    }

    #[test]
    fn idle_keys_are_dropped_and_the_least_recently_used_is_evicted() {
        let cache = KeyCache::new(2, Duration::from_secs(600));
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let m = [1u8; MATERIAL_ID_LEN];
        cache.get_or_parse(a, &m, KeySpec::Hmac256, parsed).unwrap();
        cache.get_or_parse(b, &m, KeySpec::Hmac256, parsed).unwrap();
        // Touch a, so b is the least recently used when c arrives.
        let soon = Instant::now() + Duration::from_millis(5);
        assert!(cache.get_at(a, &m, KeySpec::Hmac256, soon).is_some());
        std::thread::sleep(Duration::from_millis(10));
        cache.get_or_parse(c, &m, KeySpec::Hmac256, parsed).unwrap();
        assert_eq!(cache.len(), 2);
        let now = Instant::now();
        assert!(cache.get_at(b, &m, KeySpec::Hmac256, now).is_none());
        assert!(cache.get_at(a, &m, KeySpec::Hmac256, now).is_some());
        assert!(
            cache.get_at(a, &m, KeySpec::Hmac384, now).is_none(),
            "another spec never matches"
        );
        // Eleven minutes later, nothing used since is left.
        assert!(cache
            .get_at(c, &m, KeySpec::Hmac256, now + Duration::from_secs(660))
            .is_none());
        assert!(cache.is_empty());
    }
}
