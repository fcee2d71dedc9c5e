//! `trent-bench startup`: how long `trent serve` takes to start on an
//! existing data directory (until it prints its listening line, and until a
//! signed request first succeeds) and how much memory it holds right after,
//! over several runs. With `--compare-dir`, also the resident memory per
//! idle key: the difference between a directory with many keys and one
//! with few, divided by the difference in keys.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;

use crate::client::{call, Error};
use crate::memory::{mib, rss_bytes};
use crate::{keys, servers};

#[derive(Args)]
pub struct StartupOptions {
    /// A data directory made by `trent-bench populate` (or any Trent data
    /// directory with its admin's `credentials` file).
    #[arg(long)]
    data_dir: PathBuf,
    /// A second data directory with few keys, for the memory per idle key.
    #[arg(long)]
    compare_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long, default_value = "target/release/trent")]
    trent_bin: PathBuf,
    /// An extra argument for `trent serve` (repeatable).
    #[arg(long = "trent-arg", allow_hyphen_values = true)]
    trent_args: Vec<String>,
}

/// One start.
struct Start {
    listening: Duration,
    answered: Duration,
    rss: u64,
    stopped: Duration,
}

/// All the starts on one directory.
struct DirStartup {
    keys: usize,
    starts: Vec<Start>,
}

pub async fn run(options: StartupOptions) -> Result<(), Error> {
    let main = measure_dir(&options, &options.data_dir).await?;
    let Some(small_dir) = &options.compare_dir else { return Ok(()) };
    let small = measure_dir(&options, small_dir).await?;
    let (big_rss, small_rss) = (median(&main.starts, |s| s.rss as f64), median(&small.starts, |s| s.rss as f64));
    let extra_keys = main.keys as f64 - small.keys as f64;
    if extra_keys == 0.0 {
        return Err("both directories hold as many keys; nothing to divide by".into());
    }
    println!(
        "\nresident memory per idle key (medians): ({:.1} MiB - {:.1} MiB) / ({} - {} keys) = {:.0} bytes",
        mib(big_rss as u64),
        mib(small_rss as u64),
        main.keys,
        small.keys,
        (big_rss - small_rss) / extra_keys
    );
    Ok(())
}

async fn measure_dir(options: &StartupOptions, dir: &Path) -> Result<DirStartup, Error> {
    if !dir.join("credentials").exists() {
        return Err(format!("{} has no credentials file; make it with `trent-bench populate` first", dir.display()).into());
    }
    let mut starts = Vec::new();
    let mut keys = 0;
    for n in 0..options.runs.max(1) {
        let (mut server, signer, _) = servers::trent(&options.trent_bin, &options.trent_args, Some(dir), &[], None)?;
        // The first signed request that succeeds, retried briefly in case
        // the listening line comes before the server answers.
        loop {
            match call(server.addr, &signer, "ListKeys", json!({ "Limit": 1 })).await {
                Ok(_) => break,
                Err(e) if server.spawned.elapsed() > Duration::from_secs(60) => return Err(format!("no answer within 60 s: {e}").into()),
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
        let answered = server.spawned.elapsed();
        let rss = rss_bytes(&server.pid()).ok_or("cannot read the server's VmRSS from /proc")?;
        if n == 0 {
            // After the memory reading: listing them all may grow it.
            let counting = Instant::now();
            keys = keys::count(server.addr, &signer).await?;
            println!("{}: {keys} keys (counted with ListKeys in {:.1} s)", dir.display(), counting.elapsed().as_secs_f64());
        }
        let stopped = server.stop()?;
        starts.push(Start { listening: server.listening_after, answered, rss, stopped });
    }
    print_starts(dir, keys, &starts);
    Ok(DirStartup { keys, starts })
}

fn print_starts(dir: &Path, keys: usize, starts: &[Start]) {
    println!("\nstart-up of `trent serve` on {} ({keys} keys), {} runs:", dir.display(), starts.len());
    println!("\n| run | listening ms | first answer ms | RSS MiB | stop ms |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for (i, s) in starts.iter().enumerate() {
        println!("| {} | {:.1} | {:.1} | {:.1} | {:.0} |", i + 1, ms(s.listening), ms(s.answered), mib(s.rss), ms(s.stopped));
    }
    let stat = |f: fn(&Start) -> f64| {
        let min = starts.iter().map(f).fold(f64::INFINITY, f64::min);
        let max = starts.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
        format!("{min:.1} / {:.1} / {max:.1}", median(starts, f))
    };
    println!(
        "| min / median / max | {} | {} | {} | {} |",
        stat(|s| ms(s.listening)),
        stat(|s| ms(s.answered)),
        stat(|s| mib(s.rss)),
        stat(|s| ms(s.stopped))
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(starts: &[Start], f: impl Fn(&Start) -> f64) -> f64 {
    let mut values: Vec<f64> = starts.iter().map(f).collect();
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(ms: u64) -> Start {
        let d = Duration::from_millis(ms);
        Start { listening: d, answered: d, rss: ms, stopped: d }
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[start(5), start(1), start(3)], |s| s.rss as f64), 3.0);
        assert_eq!(median(&[start(4), start(1), start(3), start(10)], |s| s.rss as f64), 3.5);
    }
}
