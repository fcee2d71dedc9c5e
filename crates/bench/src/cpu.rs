//! CPU time of a process from /proc (Linux), to report how many cores the
//! server and the load generator each used.

use std::sync::OnceLock;

/// User + system CPU seconds `pid` has used so far ("self" for this process).
pub fn seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let (user, system): (f64, f64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    Some((user + system) / ticks_per_second())
}

fn ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_cpu_time_grows_when_it_works() {
        // Work until /proc shows 0.1 s more CPU; on a loaded machine that
        // takes longer than 0.1 s of wall time, so allow up to 30 s.
        let before = super::seconds("self").unwrap();
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while super::seconds("self").unwrap() - before < 0.1 {
            assert!(started.elapsed() < std::time::Duration::from_secs(30), "30 s of work and /proc shows under 0.1 s of CPU");
            for _ in 0..1_000_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
    }
}
