//! The Prometheus text exposition format (version 0.0.4) of the counters,
//! written by hand: a few families, no dependency. Only operations that
//! were called appear (a series for each of 56 operations, outcomes and
//! buckets would be thousands of zero lines).

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use super::{Job, JobResult, Metrics, Outcome, Slot, BUCKETS_MICROS};

/// The content type Prometheus scrapers expect for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the exposition reads from the running server besides the counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct Gauges {
    pub audit: crate::audit::AuditStats,
    /// The store's read cache, if it has one (SQLite on a file, PostgreSQL).
    pub cache: Option<trent_store::read_cache::CacheStats>,
}

pub fn render(m: &Metrics, gauges: &Gauges) -> String {
    let mut out = String::with_capacity(16 * 1024);
    requests(&mut out, m);
    jobs(&mut out, m);
    family(&mut out, "trent_store_errors_total", "counter", "Database failures that reached a request or a background round.");
    line(&mut out, "trent_store_errors_total", "", m.store_errors.load(Relaxed));
    audit(&mut out, &gauges.audit);
    if let Some(cache) = gauges.cache {
        family(&mut out, "trent_read_cache_lookups_total", "counter", "Lookups of the store's read cache, by whether memory answered.");
        line(&mut out, "trent_read_cache_lookups_total", r#"result="hit""#, cache.hits);
        line(&mut out, "trent_read_cache_lookups_total", r#"result="miss""#, cache.misses);
        family(&mut out, "trent_read_cache_hit_ratio", "gauge", "Hits over lookups of the store's read cache since the start (0 before any lookup).");
        let lookups = cache.hits + cache.misses;
        let ratio = if lookups == 0 { 0.0 } else { cache.hits as f64 / lookups as f64 };
        let _ = writeln!(out, "trent_read_cache_hit_ratio {ratio}");
    }
    out
}

fn requests(out: &mut String, m: &Metrics) {
    let called: Vec<(Slot, &super::Requests)> =
        m.requests.iter().enumerate().map(|(i, r)| (Slot::of_index(i), r)).filter(|(_, r)| r.by_outcome.iter().any(|c| c.load(Relaxed) > 0)).collect();
    family(out, "trent_requests_total", "counter", "Requests answered, by service, operation and outcome.");
    for (slot, r) in &called {
        let (service, operation) = slot.labels();
        for outcome in Outcome::ALL {
            let labels = format!(r#"service="{service}",operation="{operation}",outcome="{}""#, outcome.label());
            line(out, "trent_requests_total", &labels, r.by_outcome[outcome as usize].load(Relaxed));
        }
    }
    family(out, "trent_request_duration_seconds", "histogram", "Time from a request's arrival to its answer, audit record included.");
    for (slot, r) in &called {
        let (service, operation) = slot.labels();
        let mut cumulative = 0;
        for (i, bucket) in r.buckets.iter().enumerate() {
            cumulative += bucket.load(Relaxed);
            let le = BUCKETS_MICROS.get(i).map_or_else(|| "+Inf".to_owned(), |micros| seconds(*micros));
            line(out, "trent_request_duration_seconds_bucket", &format!(r#"service="{service}",operation="{operation}",le="{le}""#), cumulative);
        }
        let labels = format!(r#"service="{service}",operation="{operation}""#);
        let _ = writeln!(out, "trent_request_duration_seconds_sum{{{labels}}} {}", seconds(r.sum_micros.load(Relaxed)));
        line(out, "trent_request_duration_seconds_count", &labels, cumulative);
    }
}

fn jobs(out: &mut String, m: &Metrics) {
    family(out, "trent_background_runs_total", "counter", "Rounds of background work on this node, by job and result.");
    for job in Job::ALL {
        for result in JobResult::ALL {
            let labels = format!(r#"job="{}",result="{}""#, job.label(), result.label());
            line(out, "trent_background_runs_total", &labels, m.jobs[job as usize].runs[result as usize].load(Relaxed));
        }
    }
    family(out, "trent_background_items_total", "counter", "What background rounds did: keys destroyed or rotated, materials expired, key uses written.");
    for job in Job::ALL {
        line(out, "trent_background_items_total", &format!(r#"job="{}""#, job.label()), m.jobs[job as usize].items.load(Relaxed));
    }
}

fn audit(out: &mut String, a: &crate::audit::AuditStats) {
    family(out, "trent_audit_failing", "gauge", "1 while the audit log cannot be written (requests are refused unless --audit-on-failure log).");
    line(out, "trent_audit_failing", "", u64::from(a.failing));
    family(out, "trent_audit_failures_total", "counter", "Times the audit log started failing.");
    line(out, "trent_audit_failures_total", "", a.failures);
    family(out, "trent_audit_owed_events", "gauge", "Events of committed changes waiting for the audit log to resume.");
    line(out, "trent_audit_owed_events", "", a.owed_events);
    family(out, "trent_audit_unsynced_records", "gauge", "Audit records written but not yet fsynced.");
    line(out, "trent_audit_unsynced_records", "", a.unsynced_records);
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn line(out: &mut String, name: &str, labels: &str, value: u64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

/// Microseconds as seconds, exactly (no float rounding in the labels).
fn seconds(micros: u64) -> String {
    let (whole, frac) = (micros / 1_000_000, micros % 1_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:06}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn seconds_are_exact_decimals() {
        assert_eq!(seconds(100), "0.0001");
        assert_eq!(seconds(2_500_000), "2.5");
        assert_eq!(seconds(10_000_000), "10");
        assert_eq!(seconds(0), "0");
    }

    #[test]
    fn buckets_are_cumulative_and_end_with_the_count() {
        let m = Metrics::new();
        let op = Slot::Kms(trent_model::Operation::Decrypt);
        m.request(op, Outcome::Ok, Duration::from_micros(50));
        m.request(op, Outcome::ServerError, Duration::from_secs(100));
        let text = render(&m, &Gauges::default());
        assert!(text.contains(r#"trent_request_duration_seconds_bucket{service="kms",operation="Decrypt",le="0.0001"} 1"#), "{text}");
        assert!(text.contains(r#"trent_request_duration_seconds_bucket{service="kms",operation="Decrypt",le="10"} 1"#), "{text}");
        assert!(text.contains(r#"trent_request_duration_seconds_bucket{service="kms",operation="Decrypt",le="+Inf"} 2"#), "{text}");
        assert!(text.contains(r#"trent_request_duration_seconds_count{service="kms",operation="Decrypt"} 2"#), "{text}");
        assert!(text.contains(r#"trent_requests_total{service="kms",operation="Decrypt",outcome="server_error"} 1"#), "{text}");
        assert!(!text.contains(r#"operation="Encrypt""#), "operations never called are left out");
    }
}
