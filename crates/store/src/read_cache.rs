//! A read cache for the lookups every request makes (access key, principal,
//! IAM entities, key, material, alias, grants), so that a request served
//! from memory does not wait for the database.
//!
//! Coherence rests on an *epoch*: a number the database changes whenever
//! anything is committed to it, by this process or any other (for SQLite,
//! `PRAGMA data_version` on a connection of its own). Each answer is tagged
//! with the epoch read *before* the database read that produced it, and is
//! served only to a lookup that reads the same epoch. So no answer is older
//! than the last commit before the lookup began: a change acknowledged to
//! one client holds on the very next request, exactly as without the cache.
//! Any commit empties the cache; under a steady load of reads it stays full.
//!
//! Reading the epoch costs a few microseconds (SQLite takes and releases a
//! file lock), so a request ([`request_scope`]) reads it at most once: at
//! its first lookup, unless another reading *began* after the request did
//! (it saw every commit acknowledged before the request), whose value it
//! then shares. After the request itself went to the database (a write of
//! its own, or a miss) its next lookup needs a reading begun after that.
//! Lookups thus answer as of the start of the request, or later.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Instant;

use crate::{AccessKeyRecord, AliasRecord, EntityKind, EntityRecord, GrantRecord, KeyRecord, MaterialRecord, PrincipalRecord, StoreError};

/// What a request knows of the epoch.
#[derive(Clone, Copy)]
struct RequestEpoch {
    /// A reading begun at or after this instant is fresh enough.
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
    Key(String),
    Material(String, String),
    Alias(String, String, String),
    Principal(String),
    AccessKey(String),
    Entity(String, EntityKind, String),
    GrantsFor(String, Vec<String>),
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
);

/// Two generations, a cheap stand-in for least-recently-used: when the
/// young one is full it becomes the old one (the previous old is dropped),
/// and an answer found in the old one moves back to the young. What every
/// request asks (its caller's access key) stays however many keys are used.
struct Entries {
    epoch: u64,
    young: HashMap<Query, Answer>,
    old: HashMap<Query, Answer>,
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

pub struct ReadCache {
    /// Tells apart the caches of several stores in one process (tests).
    id: u64,
    entries: Mutex<Entries>,
    /// The latest reading of the epoch and when it began.
    latest: Mutex<Option<(u64, Instant)>>,
}

impl Default for ReadCache {
    fn default() -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let entries = Entries { epoch: 0, young: HashMap::new(), old: HashMap::new() };
        ReadCache { id, entries: Mutex::new(entries), latest: Mutex::new(None) }
    }
}

impl ReadCache {
    /// The database's epoch for the current request: the one it kept, or
    /// a reading begun since it started, or `read()` now. Outside a request
    /// (background work), always `read()`.
    pub fn epoch(&self, read: impl FnOnce() -> Option<u64>) -> Option<u64> {
        let Ok(request) = REQUEST_EPOCH.try_with(|epoch| epoch.get()) else { return read() };
        match request.kept {
            Some((id, epoch)) if id == self.id => return Some(epoch),
            _ => {}
        }
        let shared = *self.latest.lock().unwrap_or_else(|p| p.into_inner());
        let epoch = match shared {
            Some((epoch, began)) if began >= request.since => epoch,
            _ => {
                let began = Instant::now();
                let epoch = read()?;
                let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
                if latest.is_none_or(|(_, b)| began > b) {
                    *latest = Some((epoch, began));
                }
                epoch
            }
        };
        let _ = REQUEST_EPOCH.try_with(|kept| kept.set(RequestEpoch { kept: Some((self.id, epoch)), ..request }));
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
                    return Ok(answer);
                }
            }
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
        let mut entries = Entries { epoch: 0, young: HashMap::new(), old: HashMap::new() };
        let hot = Query::AccessKey("AKIAHOT".into());
        entries.insert(hot.clone(), Answer::AccessKey(None));
        for i in 0..5 * GENERATION_SIZE {
            entries.insert(Query::Key(i.to_string()), Answer::Key(None));
            if i % 1000 == 0 {
                assert!(entries.get(&hot).is_some(), "the hot answer was dropped after {i} others");
            }
        }
        assert!(entries.get(&hot).is_some());
        assert!(entries.get(&Query::Key("0".into())).is_none(), "an answer asked once is dropped in time");
        assert!(entries.young.len() + entries.old.len() <= 2 * GENERATION_SIZE);
    }
}
