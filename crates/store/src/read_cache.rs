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
//! On PostgreSQL, where several nodes commit to one database, the version
//! is a change counter that every write transaction moves at its commit (a
//! trigger on every table, `postgres/schema.rs`), read with a round trip:
//! at most once per [`POLL_WINDOW`], by one lookup while the others that
//! need it wait for its answer ([`ReadCache::epoch_polled`]). A reading
//! that fails serves nothing from the cache: those lookups go to the
//! database (or, if the poll timed out, fail: `postgres/mod.rs`). Validity is decided by epochs alone; the clock only bounds
//! how old a request's reading may be.
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

/// The same for other nodes' commits on PostgreSQL ([`ReadCache::epoch_polled`]):
/// a change acknowledged by any node holds for every request that begins
/// more than this after it, on every node. Asking costs a round trip
/// (0.1 to 0.3 ms on one machine, more under load): at 2 ms a node asks at
/// most about 500 times a second however busy it is (a few percent of a
/// core on each side), while the bound stays of the order of one client's
/// round trip through a load balancer.
pub const POLL_WINDOW: Duration = Duration::from_millis(2);

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

/// What the current request knows of the epoch (none outside a request).
fn current_request() -> Option<RequestEpoch> {
    REQUEST_EPOCH.try_with(|epoch| epoch.get()).ok()
}

/// Runs one request: its lookups share one reading of the epoch.
/// A plain function, not an `async fn`: an `async fn` would hold `request`
/// twice (as its argument and inside the scope it awaits), doubling the
/// size of every request's future, which is moved whole into a box
/// (docs/BENCHMARKS.md, "Fourth round").
pub fn request_scope<F: Future>(request: F) -> impl Future<Output = F::Output> {
    REQUEST_EPOCH.scope(Cell::new(RequestEpoch { since: Instant::now(), kept: None }), request)
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
    /// The database's version at its latest asking (`None`: it could not
    /// be read), and when that asking began.
    external: Mutex<Option<(Option<u64>, Instant)>>,
    /// Held while [`ReadCache::epoch_polled`] asks: one asking at a time.
    asking: tokio::sync::Mutex<()>,
}

impl Default for ReadCache {
    fn default() -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let entries = Entries { epoch: 0, hits: 0, misses: 0, young: HashMap::default(), old: HashMap::default() };
        ReadCache { id, entries: Mutex::new(entries), epoch: AtomicU64::new(1), external: Mutex::new(None), asking: tokio::sync::Mutex::new(()) }
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
        let request = current_request();
        if let Some(epoch) = self.kept(request) {
            return Some(epoch);
        }
        let fresh_from = request.and_then(|r| r.since.checked_sub(EXTERNAL_WINDOW));
        let answer = match self.recent(fresh_from) {
            Some(answer) => answer,
            None => {
                let began = Instant::now();
                let answer = version();
                self.record(answer, began);
                answer
            }
        };
        answer?;
        Some(self.keep(request))
    }

    /// As [`ReadCache::epoch`], for a database whose version costs a round
    /// trip (PostgreSQL, where other nodes commit): a request uses an asking
    /// begun at most `window` before it began, and concurrent lookups that
    /// need a new one wait for the one under way rather than each starting
    /// their own, so a node asks at most about once per `window` however
    /// many requests it serves. An asking that failed also answers for its
    /// window: those lookups go to the database, none waits on another try.
    pub async fn epoch_polled<F, Fut>(&self, window: Duration, poll: F) -> Option<u64>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<u64>>,
    {
        let request = current_request();
        if let Some(epoch) = self.kept(request) {
            return Some(epoch);
        }
        let fresh_from = request.and_then(|r| r.since.checked_sub(window));
        let answer = match self.recent(fresh_from) {
            Some(answer) => answer,
            None => {
                let _turn = self.asking.lock().await;
                // The asking we waited for may be recent enough for us.
                match self.recent(fresh_from) {
                    Some(answer) => answer,
                    None => {
                        let began = Instant::now();
                        let answer = poll().await;
                        // A failure serves nothing from the cache, so it may
                        // stand for its window from its end: the lookups that
                        // queued behind a poll that timed out do not each
                        // wait for another.
                        self.record(answer, if answer.is_some() { began } else { Instant::now() });
                        answer
                    }
                }
            }
        };
        answer?;
        Some(self.keep(request))
    }

    /// The epoch the current request already uses, if any.
    fn kept(&self, request: Option<RequestEpoch>) -> Option<u64> {
        match request {
            Some(RequestEpoch { kept: Some((id, epoch)), .. }) if id == self.id => Some(epoch),
            _ => None,
        }
    }

    /// The answer of the latest asking if it began at or after `fresh_from`
    /// (`None` outside a request: background work always asks).
    fn recent(&self, fresh_from: Option<Instant>) -> Option<Option<u64>> {
        let last = *self.external.lock().unwrap_or_else(|p| p.into_inner());
        match (last, fresh_from) {
            (Some((answer, began)), Some(from)) if began >= from => Some(answer),
            _ => None,
        }
    }

    /// Records an asking begun at `began`: a version unlike the last one
    /// seen moves the epoch on (before any lookup can use the new reading).
    fn record(&self, answer: Option<u64>, began: Instant) {
        let mut external = self.external.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(*external, Some((_, b)) if b >= began) {
            return; // A later asking was recorded meanwhile.
        }
        if answer.is_some() && answer != external.and_then(|(seen, _)| seen) {
            self.note_commit();
        }
        *external = Some((answer, began));
    }

    /// The counter, kept by the current request for its next lookups.
    fn keep(&self, request: Option<RequestEpoch>) -> u64 {
        let epoch = self.epoch.load(Ordering::SeqCst);
        if let Some(request) = request {
            let _ = REQUEST_EPOCH.try_with(|kept| kept.set(RequestEpoch { kept: Some((self.id, epoch)), ..request }));
        }
        epoch
    }

    /// The answer to `query`: from memory if it was read at `epoch` (the
    /// database's epoch now, read by the caller), else from `load`. Without
    /// an epoch (it could not be read) the cache is bypassed.
    pub async fn get<T, F>(&self, epoch: Option<u64>, query: Query, load: F) -> Result<T, StoreError>
    where
        T: Cacheable,
        F: Future<Output = Result<T, StoreError>>,
    {
        self.get_and_keep_also(epoch, query, async { Ok((load.await?, None)) }).await
    }

    /// As [`ReadCache::get`], for a load that read one more answer in the
    /// same go (a key's current material, with the key): it is kept under
    /// the same epoch, so the lookup that usually follows finds it.
    pub async fn get_and_keep_also<T, F>(&self, epoch: Option<u64>, query: Query, load: F) -> Result<T, StoreError>
    where
        T: Cacheable,
        F: Future<Output = Result<(T, Option<(Query, Answer)>), StoreError>>,
    {
        let Some(epoch) = epoch else { return Ok(load.await?.0) };
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
        let (answer, also) = load.await?;
        let mut entries = self.lock();
        // Only if nothing was committed since `epoch` was read (else the
        // cache has moved on, or will when the next lookup reads the epoch).
        if entries.epoch == epoch {
            entries.insert(query, answer.clone().into_answer());
            if let Some((query, answer)) = also {
                entries.insert(query, answer);
            }
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
