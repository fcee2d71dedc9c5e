//! Tamper response: after `--unseal-failures-allowed` failed unseal
//! attempts in a row, each further attempt waits for a delay that doubles
//! with every failure (from `--unseal-delay-secs`, up to an hour), so
//! guessing shares or a passphrase through the endpoint is slow. Kept in
//! this node's memory: a restart resets it, and each node of a PostgreSQL
//! deployment counts its own attempts (docs/root-of-trust.md).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest delay between attempts.
const MAX_DELAY: Duration = Duration::from_secs(3600);

#[derive(clap::Args, Debug, Clone)]
pub struct TamperOptions {
    /// Failed unseal attempts allowed in a row before each further one
    /// must wait (a wrong passphrase, a malformed share, or shares that
    /// do not open the root key).
    #[arg(long, default_value_t = 5)]
    pub unseal_failures_allowed: u32,
    /// The first wait after those, in seconds; it doubles with each
    /// further failure, up to an hour.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub unseal_delay_secs: u64,
}

struct Counts {
    failures: u32,
    not_before: Option<Instant>,
}

pub struct Tamper {
    allowed: u32,
    first_delay: Duration,
    counts: Mutex<Counts>,
}

impl Tamper {
    pub fn new(options: &TamperOptions) -> Tamper {
        Tamper { allowed: options.unseal_failures_allowed, first_delay: Duration::from_secs(options.unseal_delay_secs), counts: Mutex::new(Counts { failures: 0, not_before: None }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long an attempt made now must still wait; `None`: it may go on.
    pub fn delay(&self) -> Option<Duration> {
        let counts = self.lock();
        let wait = counts.not_before?.checked_duration_since(Instant::now())?;
        (!wait.is_zero()).then_some(wait)
    }

    /// Counts a failure; returns the failures in a row so far.
    pub fn failed(&self) -> u32 {
        let mut counts = self.lock();
        counts.failures = counts.failures.saturating_add(1);
        if counts.failures > self.allowed {
            let doublings = (counts.failures - self.allowed - 1).min(20);
            let delay = self.first_delay.saturating_mul(1 << doublings).min(MAX_DELAY);
            counts.not_before = Some(Instant::now() + delay);
        }
        counts.failures
    }

    /// Clears the count after an unseal; returns the failures before it.
    pub fn succeeded(&self) -> u32 {
        let mut counts = self.lock();
        counts.not_before = None;
        std::mem::take(&mut counts.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_allowance_wait_longer_each_time() {
        let tamper = Tamper::new(&TamperOptions { unseal_failures_allowed: 2, unseal_delay_secs: 10 });
        assert_eq!(tamper.failed(), 1);
        assert_eq!(tamper.failed(), 2);
        assert!(tamper.delay().is_none());
        tamper.failed();
        let first = tamper.delay().unwrap();
        assert!(first > Duration::from_secs(9) && first <= Duration::from_secs(10));
        tamper.failed();
        assert!(tamper.delay().unwrap() > Duration::from_secs(19));
        for _ in 0..30 {
            tamper.failed();
        }
        assert!(tamper.delay().unwrap() <= MAX_DELAY);
        assert_eq!(tamper.succeeded(), 34);
        assert!(tamper.delay().is_none());
    }
}
