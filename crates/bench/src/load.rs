//! The load: `concurrency` workers, each on its own keep-alive connection,
//! sending one request after another for a fixed time and timing each.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::client::{Connection, Error, Signer};
use crate::keys::Rng;
use crate::ops::Workload;

pub struct Settings {
    pub concurrency: usize,
    pub duration: Duration,
    /// Sign once per worker and resend the same bytes (valid for SigV4's
    /// 5-minute window), leaving out the client's signing cost.
    pub replay: bool,
}

/// What one run measured.
pub struct Outcome {
    pub elapsed: Duration,
    /// Latency of every successful request, in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// Adds another run's requests and time (one measurement in slices).
    pub fn merge(&mut self, other: Outcome) {
        self.elapsed += other.elapsed;
        self.latencies_us.extend(other.latencies_us);
        self.latencies_us.sort_unstable();
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// The `q` quantile (0..=1) of latency, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }
}

/// `settings.concurrency` connections, spread over `addrs` round robin
/// (several nodes of one deployment), each sending requests back to back.
pub async fn run(addrs: &[SocketAddr], signer: &Signer, work: &Workload, settings: &Settings) -> Result<Outcome, Error> {
    let started = Instant::now();
    let deadline = started + settings.duration;
    let mut workers = Vec::with_capacity(settings.concurrency);
    for n in 0..settings.concurrency {
        let (signer, work, replay) = (signer.clone(), work.clone(), settings.replay);
        let addr = addrs.get(n % addrs.len().max(1)).ok_or("no address to drive")?;
        let mut connection = Connection::open(*addr).await?;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut errors, mut first_error) = (0u64, None);
            let mut rng = Rng::for_worker(n);
            let mut signed = signer.sign(work.operation, &work.body(&mut rng))?;
            while Instant::now() < deadline {
                if !replay {
                    signed = signer.sign(work.operation, &work.body(&mut rng))?;
                }
                let sent = Instant::now();
                let answer = connection.send(&signed).await?;
                if answer.status == 200 {
                    latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                } else {
                    errors += 1;
                    first_error.get_or_insert_with(|| format!("HTTP {}: {}", answer.status, String::from_utf8_lossy(&answer.body)));
                }
            }
            Ok::<_, Error>((latencies, errors, first_error))
        }));
    }
    let mut outcome = Outcome { elapsed: Duration::ZERO, latencies_us: Vec::new(), errors: 0, first_error: None };
    for worker in workers {
        let (latencies, errors, first_error) = worker.await??;
        outcome.latencies_us.extend(latencies);
        outcome.errors += errors;
        if outcome.first_error.is_none() {
            outcome.first_error = first_error;
        }
    }
    outcome.elapsed = started.elapsed();
    outcome.latencies_us.sort_unstable();
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_sorted_latencies() {
        let outcome = Outcome { elapsed: Duration::from_secs(2), latencies_us: (1..=1000).collect(), errors: 0, first_error: None };
        assert_eq!(outcome.per_second(), 500.0);
        assert_eq!(outcome.quantile_ms(0.5), 0.501);
        assert_eq!(outcome.quantile_ms(0.99), 0.990);
        assert_eq!(outcome.quantile_ms(1.0), 1.0);
    }

    #[test]
    fn slices_merge_into_one_measurement() {
        let mut a = Outcome { elapsed: Duration::from_secs(1), latencies_us: vec![5, 1], errors: 1, first_error: None };
        a.merge(Outcome { elapsed: Duration::from_secs(1), latencies_us: vec![3, 2], errors: 2, first_error: Some("x".into()) });
        assert_eq!((a.per_second(), a.latencies_us, a.errors, a.first_error.as_deref()), (2.0, vec![1, 2, 3, 5], 3, Some("x")));
    }
}
