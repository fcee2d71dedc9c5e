//! Time comes from an injected clock, so tests can move it (deletion after
//! the waiting period, signature skew) without waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use trent_store::Millis;

pub trait Clock: Send + Sync {
    fn now_millis(&self) -> Millis;
    fn now_secs(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }
}

/// The system clock, optionally shifted. The shift exists for end-to-end
/// tests that restart the server "days later" (`--clock-offset-secs`).
pub struct SystemClock {
    pub offset_millis: i64,
}

impl Clock for SystemClock {
    fn now_millis(&self) -> Millis {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        since_epoch + self.offset_millis
    }
}

/// A clock that only moves when told to, for tests.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Millis) -> Self {
        ManualClock(AtomicI64::new(start))
    }
    pub fn advance_millis(&self, by: i64) {
        self.0.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// Seconds with milliseconds, as the JSON protocol writes timestamps.
/// `2026-11-30T13:35:51Z` (UTC, whole seconds): CloudTrail's, IAM's and
/// the policy language's way of writing a time.
pub fn iso8601(millis: Millis) -> String {
    trent_sigv4::format_iso_extended(millis.div_euclid(1000))
}

pub fn epoch_seconds(millis: Millis) -> serde_json::Value {
    if millis % 1000 == 0 {
        serde_json::Value::from(millis / 1000)
    } else {
        serde_json::Value::from(millis as f64 / 1000.0)
    }
}
