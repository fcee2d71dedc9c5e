//! Operational metrics: counters the request path and background work
//! bump, and their Prometheus text exposition ([`exposition`], served at
//! `GET /metrics` by `http::admin`).
//!
//! The request path pays three relaxed atomic additions per request
//! (its outcome, its latency bucket, its latency sum) into fixed arrays
//! indexed by the operation: no lock, no allocation. The counters are
//! process-wide, like Prometheus's own default registry: one server per
//! process, and store errors are counted where they become a request's
//! error, which has no `AppState` at hand.

pub mod exposition;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::http::StatusCode;
use trent_model::Operation;

/// The process's counters.
pub static METRICS: Metrics = Metrics::new();

/// Upper bounds (inclusive, microseconds) of the latency buckets; a last,
/// unbounded bucket follows (`+Inf`).
pub const BUCKETS_MICROS: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// Each KMS operation's slot is its place in [`Operation::ALL`]; then these.
const KMS_OPERATIONS: usize = Operation::ALL.len();
const SLOTS: usize = KMS_OPERATIONS + 3;

/// What a request is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Kms(Operation),
    /// A KMS request naming no operation of the model (or none at all).
    KmsUnknown,
    Iam,
    Sts,
}

impl Slot {
    fn index(self) -> usize {
        match self {
            // A fieldless enum: its discriminant is its place in the declaration, which ALL follows (tested).
            Slot::Kms(op) => op as usize,
            Slot::KmsUnknown => KMS_OPERATIONS,
            Slot::Iam => KMS_OPERATIONS + 1,
            Slot::Sts => KMS_OPERATIONS + 2,
        }
    }

    fn of_index(i: usize) -> Slot {
        match i.checked_sub(KMS_OPERATIONS) {
            None => Slot::Kms(Operation::ALL[i]),
            Some(0) => Slot::KmsUnknown,
            Some(1) => Slot::Iam,
            _ => Slot::Sts,
        }
    }

    /// (service, operation) labels.
    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Slot::Kms(op) => ("kms", op.name()),
            Slot::KmsUnknown => ("kms", "Unknown"),
            Slot::Iam => ("iam", "*"),
            Slot::Sts => ("sts", "*"),
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused by authorization (KMS `AccessDeniedException`, IAM/STS 403).
    Denied,
    ClientError,
    /// Trent's failure, or the audit log's refusal.
    ServerError,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Outcome::Ok, Outcome::Denied, Outcome::ClientError, Outcome::ServerError];

    pub fn of_status(status: StatusCode) -> Outcome {
        match status.as_u16() {
            200..=399 => Outcome::Ok,
            403 => Outcome::Denied,
            400..=499 => Outcome::ClientError,
            _ => Outcome::ServerError,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::ClientError => "client_error",
            Outcome::ServerError => "server_error",
        }
    }
}

/// Work that runs with time rather than on request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Deletion,
    Rotation,
    Expiry,
    UsageFlush,
}

impl Job {
    pub const ALL: [Job; 4] = [Job::Deletion, Job::Rotation, Job::Expiry, Job::UsageFlush];

    /// The job a background lease runs.
    pub fn of_lease(lease: &str) -> Option<Job> {
        match lease {
            crate::lifecycle::deletion::SWEEPER_LEASE => Some(Job::Deletion),
            crate::lifecycle::rotation::ROTATION_LEASE => Some(Job::Rotation),
            crate::lifecycle::expiry::EXPIRY_LEASE => Some(Job::Expiry),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Job::Deletion => "deletion",
            Job::Rotation => "rotation",
            Job::Expiry => "material_expiry",
            Job::UsageFlush => "usage_flush",
        }
    }
}

/// How a background round went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobResult {
    Ok,
    Error,
    /// Another node holds the job's lease: nothing ran here.
    LeaseElsewhere,
}

impl JobResult {
    const ALL: [JobResult; 3] = [JobResult::Ok, JobResult::Error, JobResult::LeaseElsewhere];

    fn label(self) -> &'static str {
        match self {
            JobResult::Ok => "ok",
            JobResult::Error => "error",
            JobResult::LeaseElsewhere => "lease_elsewhere",
        }
    }
}

struct Requests {
    by_outcome: [AtomicU64; Outcome::ALL.len()],
    /// Not cumulative; the exposition adds them up.
    buckets: [AtomicU64; BUCKETS_MICROS.len() + 1],
    sum_micros: AtomicU64,
}

impl Requests {
    const fn new() -> Requests {
        Requests { by_outcome: [const { AtomicU64::new(0) }; 4], buckets: [const { AtomicU64::new(0) }; BUCKETS_MICROS.len() + 1], sum_micros: AtomicU64::new(0) }
    }
}

struct Jobs {
    runs: [AtomicU64; JobResult::ALL.len()],
    /// What the rounds did: keys destroyed, rotated, materials expired, uses written.
    items: AtomicU64,
}

pub struct Metrics {
    requests: [Requests; SLOTS],
    jobs: [Jobs; Job::ALL.len()],
    store_errors: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub const fn new() -> Metrics {
        Metrics {
            requests: [const { Requests::new() }; SLOTS],
            jobs: [const { Jobs { runs: [const { AtomicU64::new(0) }; 3], items: AtomicU64::new(0) } }; 4],
            store_errors: AtomicU64::new(0),
        }
    }

    /// One answered request.
    pub fn request(&self, slot: Slot, outcome: Outcome, took: Duration) {
        let r = &self.requests[slot.index()];
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        r.by_outcome[outcome as usize].fetch_add(1, Relaxed);
        r.buckets[BUCKETS_MICROS.partition_point(|&bound| bound < micros)].fetch_add(1, Relaxed);
        r.sum_micros.fetch_add(micros, Relaxed);
    }

    /// One round of background work and how many things it did.
    pub fn job(&self, job: Job, result: JobResult, items: usize) {
        let j = &self.jobs[job as usize];
        j.runs[result as usize].fetch_add(1, Relaxed);
        j.items.fetch_add(items as u64, Relaxed);
    }

    /// A database failure that reached a request or background round.
    pub fn store_error(&self) {
        self.store_errors.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_its_own_slot() {
        for (i, op) in Operation::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i, "{}", op.name());
            assert_eq!(Slot::of_index(i), Slot::Kms(*op));
        }
        for slot in [Slot::KmsUnknown, Slot::Iam, Slot::Sts] {
            assert_eq!(Slot::of_index(slot.index()), slot);
        }
        for (i, outcome) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*outcome as usize, i);
        }
        for (i, job) in Job::ALL.iter().enumerate() {
            assert_eq!(*job as usize, i);
        }
        for (i, result) in JobResult::ALL.iter().enumerate() {
            assert_eq!(*result as usize, i);
        }
    }

    #[test]
    fn a_latency_goes_in_the_first_bucket_whose_bound_it_does_not_exceed() {
        let m = Metrics::new();
        let slot = Slot::Kms(Operation::Encrypt);
        m.request(slot, Outcome::Ok, Duration::from_micros(100));
        m.request(slot, Outcome::Ok, Duration::from_micros(101));
        m.request(slot, Outcome::Denied, Duration::from_secs(60));
        let r = &m.requests[slot.index()];
        assert_eq!(r.buckets[0].load(Relaxed), 1);
        assert_eq!(r.buckets[1].load(Relaxed), 1);
        assert_eq!(r.buckets[BUCKETS_MICROS.len()].load(Relaxed), 1, "beyond the last bound: +Inf");
        assert_eq!(r.by_outcome[Outcome::Ok as usize].load(Relaxed), 2);
        assert_eq!(r.sum_micros.load(Relaxed), 60_000_201);
    }
}
