//! Tamper response: after `--unseal-failures-allowed` failed unseal
//! attempts in a row, each further attempt waits for a delay that doubles
//! with every failure (from `--unseal-delay-secs`, up to an hour), so
//! guessing shares or a passphrase through the endpoint is slow.
//!
//! The count and the time the next attempt may come are kept in the
//! store (the `unseal_failures` setting, changed by compare-and-set), not
//! in memory: a restart does not reset them, and every node of a
//! PostgreSQL deployment shares them, so an attacker gains nothing by
//! crashing a node or spreading guesses over nodes. The time is the
//! server clock's (milliseconds since the epoch), as nodes share it. A
//! count that cannot be read refuses the attempt (fail closed).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trent_store::{Millis, Store, StoreError};

use crate::clock::Clock;

/// The longest delay between attempts.
const MAX_DELAY: Duration = Duration::from_secs(3600);
/// The setting that holds the count.
const SETTING: &str = "unseal_failures";
/// Compare-and-set rounds before giving up (each lost round means another
/// node counted a failure at the same moment).
const ROUNDS: usize = 32;

#[derive(clap::Args, Debug, Clone)]
pub struct TamperOptions {
    /// Failed unseal attempts allowed in a row before each further one
    /// must wait (a wrong passphrase, a malformed share, or shares that
    /// do not open the root key). Counted in the store: shared by every
    /// node and kept across restarts.
    #[arg(long, default_value_t = 5)]
    pub unseal_failures_allowed: u32,
    /// The first wait after those, in seconds; it doubles with each
    /// further failure, up to an hour.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub unseal_delay_secs: u64,
}

/// The stored count.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Counts {
    failures: u32,
    /// No attempt before this (server clock, ms); `None`: no wait.
    not_before: Option<Millis>,
}

pub struct Tamper {
    allowed: u32,
    first_delay: Duration,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Set when a failure could not be counted in the store: this node
    /// then waits the first delay anyway, so a store that refuses writes
    /// does not make guessing free.
    uncounted_until: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Tamper {
    pub fn new(options: &TamperOptions, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Tamper {
        let first_delay = Duration::from_secs(options.unseal_delay_secs);
        Tamper { allowed: options.unseal_failures_allowed, first_delay, store, clock, uncounted_until: std::sync::Mutex::new(None) }
    }

    /// The stored counts and their exact bytes (`None`: never written).
    async fn read(&self) -> Result<(Counts, Option<Vec<u8>>), String> {
        let bytes = self.store.get_setting(SETTING).await.map_err(|e| format!("reading the failed unseal attempts: {e}"))?;
        let counts = match &bytes {
            Some(b) => serde_json::from_slice(b).map_err(|e| format!("the stored failed unseal attempts cannot be read: {e}"))?,
            None => Counts::default(),
        };
        Ok((counts, bytes))
    }

    /// Writes `new` if the store still holds `old`; `Ok(false)` if another
    /// node changed it first.
    async fn swap(&self, old: Option<&[u8]>, new: &Counts) -> Result<bool, String> {
        let json = serde_json::to_vec(new).map_err(|e| e.to_string())?;
        let written = match old {
            Some(old) => self.store.replace_setting(SETTING, old, &json).await,
            None => match self.store.insert_setting(SETTING, &json).await {
                Ok(()) => Ok(true),
                Err(StoreError::AlreadyExists) => Ok(false),
                Err(e) => Err(e),
            },
        };
        written.map_err(|e| format!("recording the failed unseal attempts: {e}"))
    }

    /// How long an attempt made now must still wait; `None`: it may go on.
    pub async fn delay(&self) -> Result<Option<Duration>, String> {
        let uncounted = *self.uncounted_until.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(wait) = uncounted.and_then(|until| until.checked_duration_since(std::time::Instant::now())) {
            return Ok(Some(wait));
        }
        let (counts, _) = self.read().await?;
        let wait = counts.not_before.map_or(0, |at| at.saturating_sub(self.clock.now_millis()));
        Ok((wait > 0).then(|| Duration::from_millis(u64::try_from(wait).unwrap_or(u64::MAX))))
    }

    /// Counts a failure; returns the failures in a row so far.
    pub async fn failed(&self) -> Result<u32, String> {
        let counted = self.count_failure().await;
        if counted.is_err() {
            *self.uncounted_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(std::time::Instant::now() + self.first_delay);
        }
        counted
    }

    async fn count_failure(&self) -> Result<u32, String> {
        for _ in 0..ROUNDS {
            let (counts, bytes) = self.read().await?;
            let failures = counts.failures.saturating_add(1);
            let mut not_before = counts.not_before;
            if failures > self.allowed {
                let doublings = (failures - self.allowed - 1).min(20);
                let delay = self.first_delay.saturating_mul(1 << doublings).min(MAX_DELAY);
                not_before = Some(self.clock.now_millis().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)));
            }
            if self.swap(bytes.as_deref(), &Counts { failures, not_before }).await? {
                return Ok(failures);
            }
        }
        Err("the failed unseal attempts changed too often to be counted".to_owned())
    }

    /// Clears the count after an unseal; returns the failures before it.
    pub async fn succeeded(&self) -> Result<u32, String> {
        for _ in 0..ROUNDS {
            let (counts, bytes) = self.read().await?;
            if counts == Counts::default() {
                return Ok(0);
            }
            if self.swap(bytes.as_deref(), &Counts::default()).await? {
                return Ok(counts.failures);
            }
        }
        Err("the failed unseal attempts changed too often to be cleared".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn tamper(store: &Arc<dyn Store>, clock: &Arc<ManualClock>) -> Tamper {
        let clock: Arc<dyn Clock> = clock.clone();
        Tamper::new(&TamperOptions { unseal_failures_allowed: 2, unseal_delay_secs: 10 }, store.clone(), clock)
    }

    #[tokio::test]
    async fn failures_past_the_allowance_wait_longer_each_time_and_are_shared() {
        let store: Arc<dyn Store> = Arc::new(trent_store::sqlite::SqliteStore::open_in_memory().unwrap());
        let clock = Arc::new(ManualClock::new(1_000_000));
        let (one, other) = (tamper(&store, &clock), tamper(&store, &clock));
        assert_eq!(one.failed().await.unwrap(), 1);
        // Another node (or this one after a restart) goes on from the same count.
        assert_eq!(other.failed().await.unwrap(), 2);
        assert!(one.delay().await.unwrap().is_none());
        one.failed().await.unwrap();
        assert_eq!(other.delay().await.unwrap(), Some(Duration::from_secs(10)));
        clock.advance_millis(4_000);
        assert_eq!(one.delay().await.unwrap(), Some(Duration::from_secs(6)));
        other.failed().await.unwrap();
        assert_eq!(one.delay().await.unwrap(), Some(Duration::from_secs(20)));
        for _ in 0..30 {
            one.failed().await.unwrap();
        }
        assert_eq!(other.delay().await.unwrap(), Some(MAX_DELAY));
        clock.advance_millis(3_600_000);
        assert!(one.delay().await.unwrap().is_none());
        assert_eq!(other.succeeded().await.unwrap(), 34);
        assert!(one.delay().await.unwrap().is_none());
        assert_eq!(one.succeeded().await.unwrap(), 0);
    }
}
