//! A read cache for the lookups every request makes (access key, principal,
//! IAM entities, key, material, alias, grants, a key's custom key store), so that a request served
//! from memory does not wait for the database.
//!
//! Coherence rests on an *epoch*: a number that changes whenever anything
//! is committed to the database. Each answer is tagged with the epoch read
//! *before* the database read that produced it, and is served only to a
//! lookup that reads the same epoch. Any change of the epoch empties the
//! cache; under a steady load of reads it stays full.
//!
//! The epoch is a counter in memory ([`ReadCache::note_commit`]), moved on
//! by the store after every commit of its own, before that commit is
//! acknowledged: a change made through this process holds on the very next
//! request, exactly as without the cache. Commits by other processes on the
//! same file (`trent account create` beside a running server) are found by
//! asking the database (for SQLite, `PRAGMA data_version`), which costs a
//! few microseconds (a read transaction on SQLite's shared WAL index), so
//! it is asked at most once per [`EXTERNAL_WINDOW`] by requests: a request
//! sees every other process's commit made more than that before it began.
//! Background work (outside any request) asks every time.
//!
//! A request ([`request_scope`]) reads the epoch once, at its first lookup,
//! and keeps it; after the request itself went to the database (a write of
//! its own, or a miss) its next lookup reads it again.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{AccessKeyRecord, AliasRecord, CustomKeyStoreRecord, EntityKind, EntityRecord, GrantRecord, KeyRecord, MaterialRecord, PrincipalRecord, StoreError};

/// How stale, at most, a request's view of other processes' commits is.
pub const EXTERNAL_WINDOW: Duration = Duration::from_millis(1);

/// What a request knows of the epoch.
#[derive(Clone, Copy)]
struct RequestEpoch {
    /// When it began (or last went to the database itself).
    since: Instant,
    /// The epoch it uses, and of which store (its [`ReadCache`]'s id).
    kept: Option<(u64, u64)>,
}

tokio::task_local! {
    static REQUEST_EPOCH: Cell<RequestEpoch>;
}

/// Runs one request: its lookups share one reading of the epoch.
pub async fn request_scope<F: Future>(request: F) -> F::Output {
    REQUEST_EPOCH.scope(Cell::new(RequestEpoch { since: Instant::now(), kept: None }), request).await
}

/// After a database call of the current request: its next lookup uses a
/// reading begun after it, so it sees what that call wrote.
pub fn forget_request_epoch() {
    let _ = REQUEST_EPOCH.try_with(|epoch| epoch.set(RequestEpoch { since: Instant::now(), kept: None }));
}

/// Answers kept in each of the two generations: a bound on memory, since
/// a lookup of something that does not exist is cached too.
const GENERATION_SIZE: usize = 10_000;

/// A lookup, by the arguments of the store call that answers it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Query {
    /// A key's id and Region.
    Key(String, String),
    Material(String, String),
    Alias(String, String, String),
    Principal(String),
    AccessKey(String),
    Entity(String, EntityKind, String),
    /// A key's id and Region, and the grantees.
    GrantsFor(String, String, Vec<String>),
    CustomKeyStore(String),
}

/// The store's answer to a [`Query`].
// Unboxed: a hit clones the answer out whole, and a box would add an allocation to every hit.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Answer {
    Key(Option<KeyRecord>),
    Material(Option<MaterialRecord>),
    Alias(Option<AliasRecord>),
    Principal(Option<PrincipalRecord>),
    AccessKey(Option<AccessKeyRecord>),
    Entity(Option<EntityRecord>),
    Grants(Vec<GrantRecord>),
    CustomKeyStore(Option<CustomKeyStoreRecord>),
}

/// What a cached store call returns, and its [`Answer`] form.
pub trait Cacheable: Clone + Sized {
    fn into_answer(self) -> Answer;
    fn from_answer(answer: Answer) -> Option<Self>;
}

macro_rules! cacheable {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl Cacheable for $t {
            fn into_answer(self) -> Answer {
                Answer::$variant(self)
            }
            fn from_answer(answer: Answer) -> Option<Self> {
                match answer {
                    Answer::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    )*};
}

cacheable!(
    Option<KeyRecord> => Key,
    Option<MaterialRecord> => Material,
    Option<AliasRecord> => Alias,
    Option<PrincipalRecord> => Principal,
    Option<AccessKeyRecord> => AccessKey,
    Option<EntityRecord> => Entity,
    Vec<GrantRecord> => Grants,
    Option<CustomKeyStoreRecord> => CustomKeyStore,
);

/// Two generations, a cheap stand-in for least-recently-used: when the
/// young one is full it becomes the old one (the previous old is dropped),
/// and an answer found in the old one moves back to the young. What every
/// request asks (its caller's access key) stays however many keys are used.
struct Entries {
    epoch: u64,
    /// Counted under the lock a lookup takes anyway: no extra atomics.
    hits: u64,
    misses: u64,
    // foldhash: every request hashes a few queries; SipHash showed in the profile.
    young: HashMap<Query, Answer, foldhash::fast::RandomState>,
    old: HashMap<Query, Answer, foldhash::fast::RandomState>,
}

impl Entries {
    fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
    }

    fn get(&mut self, query: &Query) -> Option<Answer> {
        if let Some(answer) = self.young.get(query) {
            return Some(answer.clone());
        }
        let answer = self.old.remove(query)?;
        self.insert(query.clone(), answer.clone());
        Some(answer)
    }

    fn insert(&mut self, query: Query, answer: Answer) {
        if self.young.len() >= GENERATION_SIZE {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(query, answer);
    }
}

/// How a [`ReadCache`] has done (lookups that bypassed it are not counted).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

pub struct ReadCache {
    /// Tells apart the caches of several stores in one process (tests).
    id: u64,
    entries: Mutex<Entries>,
    /// The epoch: moved on by every commit of this process and by every
    /// change found in the database's own version (other processes').
    epoch: AtomicU64,
    /// The database's version at its latest asking, and when that began.
    external: Mutex<Option<(u64, Instant)>>,
}

impl Default for ReadCache {
    fn default() -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let entries = Entries { epoch: 0, hits: 0, misses: 0, young: HashMap::default(), old: HashMap::default() };
        ReadCache { id, entries: Mutex::new(entries), epoch: AtomicU64::new(1), external: Mutex::new(None) }
    }
}

impl ReadCache {
    /// Called by the store after each commit of its own, before it is acknowledged.
    pub fn note_commit(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// The epoch for the current lookup: the one its request kept, else
    /// the counter, after asking the database for other processes' commits
    /// (`version()`) unless an asking began less than [`EXTERNAL_WINDOW`]
    /// before the request. `None` (the version could not be read): no cache.
    pub fn epoch(&self, version: impl FnOnce() -> Option<u64>) -> Option<u64> {
        let request = REQUEST_EPOCH.try_with(|epoch| epoch.get()).ok();
        if let Some(RequestEpoch { kept: Some((id, epoch)), .. }) = request {
            if id == self.id {
                return Some(epoch);
            }
        }
        let fresh_from = request.and_then(|r| r.since.checked_sub(EXTERNAL_WINDOW));
        let last = *self.external.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = matches!((last, fresh_from), (Some((_, began)), Some(from)) if began >= from);
        if !fresh {
            let began = Instant::now();
            let version = version()?;
            let mut external = self.external.lock().unwrap_or_else(|p| p.into_inner());
            match *external {
                // A later asking was recorded meanwhile.
                Some((_, b)) if b >= began => {}
                Some((seen, _)) if seen == version => *external = Some((version, began)),
                _ => {
                    self.note_commit();
                    *external = Some((version, began));
                }
            }
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        if let Some(request) = request {
            let _ = REQUEST_EPOCH.try_with(|kept| kept.set(RequestEpoch { kept: Some((self.id, epoch)), ..request }));
        }
        Some(epoch)
    }

    /// The answer to `query`: from memory if it was read at `epoch` (the
    /// database's epoch now, read by the caller), else from `load`. Without
    /// an epoch (it could not be read) the cache is bypassed.
    pub async fn get<T, F>(&self, epoch: Option<u64>, query: Query, load: F) -> Result<T, StoreError>
    where
        T: Cacheable,
        F: Future<Output = Result<T, StoreError>>,
    {
        let Some(epoch) = epoch else { return load.await };
        {
            let mut entries = self.lock();
            if epoch > entries.epoch {
                entries.clear();
                entries.epoch = epoch;
            } else if epoch == entries.epoch {
                if let Some(answer) = entries.get(&query).and_then(T::from_answer) {
                    entries.hits += 1;
                    return Ok(answer);
                }
            }
            entries.misses += 1;
        }
        let answer = load.await?;
        let mut entries = self.lock();
        // Only if nothing was committed since `epoch` was read (else the
        // cache has moved on, or will when the next lookup reads the epoch).
        if entries.epoch == epoch {
            entries.insert(query, answer.clone().into_answer());
        }
        Ok(answer)
    }

    /// Lookups answered from memory and from the database since the start.
    pub fn stats(&self) -> CacheStats {
        let entries = self.lock();
        CacheStats { hits: entries.hits, misses: entries.misses }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Entries are plain data: a panic mid-update cannot leave them unsound.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_asked_often_outlives_many_asked_once_and_memory_stays_bounded() {
        let mut entries = Entries { epoch: 0, hits: 0, misses: 0, young: HashMap::default(), old: HashMap::default() };
        let hot = Query::AccessKey("AKIAHOT".into());
        entries.insert(hot.clone(), Answer::AccessKey(None));
        for i in 0..5 * GENERATION_SIZE {
            entries.insert(Query::Key(i.to_string(), "us-east-1".into()), Answer::Key(None));
            if i % 1000 == 0 {
                assert!(entries.get(&hot).is_some(), "the hot answer was dropped after {i} others");
            }
        }
        assert!(entries.get(&hot).is_some());
        assert!(entries.get(&Query::Key("0".into(), "us-east-1".into())).is_none(), "an answer asked once is dropped in time");
        assert!(entries.young.len() + entries.old.len() <= 2 * GENERATION_SIZE);
    }
}
