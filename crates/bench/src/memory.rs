//! The server's resident memory (VmRSS, from /proc on Linux): right after
//! start-up, and sampled during a run to show whether it grows under load.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Resident memory of `pid` in bytes.
pub fn rss_bytes(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// One reading: seconds since sampling began, the operation then running,
/// and the resident bytes.
pub struct Sample {
    pub secs: f64,
    pub operation: String,
    pub rss: u64,
}

/// Reads the server's VmRSS every `every` on a thread of its own (a /proc
/// read is a blocking file read) until finished.
pub struct Sampler {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Vec<Sample>>,
    /// What the run is measuring now, to label the samples.
    pub operation: Arc<Mutex<String>>,
}

impl Sampler {
    pub fn start(pid: String, every: Duration) -> Sampler {
        let (stop, stopped) = mpsc::channel();
        let operation = Arc::new(Mutex::new(String::new()));
        let label = operation.clone();
        let started = Instant::now();
        // Taken here, so that it comes before the load whatever the thread's timing.
        let first = rss_bytes(&pid).map(|rss| Sample { secs: 0.0, operation: "start".into(), rss });
        let thread = std::thread::spawn(move || {
            let mut samples: Vec<Sample> = first.into_iter().collect();
            // A message or a dropped sender both mean stop, after one last sample.
            while stopped.recv_timeout(every) == Err(mpsc::RecvTimeoutError::Timeout) {
                if let Some(rss) = rss_bytes(&pid) {
                    let operation = label.lock().map(|l| l.clone()).unwrap_or_default();
                    samples.push(Sample { secs: started.elapsed().as_secs_f64(), operation, rss });
                }
            }
            if let Some(rss) = rss_bytes(&pid) {
                samples.push(Sample { secs: started.elapsed().as_secs_f64(), operation: "end".into(), rss });
            }
            samples
        });
        Sampler { stop, thread, operation }
    }

    pub fn set_operation(&self, name: &str) {
        if let Ok(mut l) = self.operation.lock() {
            *l = name.to_string();
        }
    }

    pub fn finish(self) -> Vec<Sample> {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or_default()
    }
}

pub fn print_series(samples: &[Sample], every: Duration) {
    println!("\nserver resident memory (VmRSS), sampled every {} s:", every.as_secs_f64());
    println!("\n| s | operation | RSS MiB |");
    println!("| ---: | --- | ---: |");
    for s in samples {
        println!("| {:.0} | {} | {:.1} |", s.secs, s.operation, mib(s.rss));
    }
    if let (Some(first), Some(last), Some(max)) = (samples.first(), samples.last(), samples.iter().map(|s| s.rss).max()) {
        println!(
            "\nRSS MiB: first {:.1}, last {:.1}, max {:.1}; last - first {:+.1} over {:.0} s",
            mib(first.rss),
            mib(last.rss),
            mib(max),
            mib(last.rss) - mib(first.rss),
            last.secs - first.secs
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_has_a_resident_size() {
        let rss = super::rss_bytes("self").unwrap();
        assert!(rss > 1024 * 1024, "{rss}");
    }
}
