//! `trent-bench`: drives a Trent server with SigV4-signed KMS requests at a
//! chosen concurrency and reports req/s, latency percentiles and the CPU the
//! server and the load generator used; optionally beside a bare HTTP
//! baseline in the same run (ratios hold on a noisy machine) and the raw
//! aws-lc-rs speed of the signing primitives. For scale: fills a data
//! directory with keys, times start-up on it, drives Encrypt over keys
//! picked at random, and follows the server's memory. See
//! docs/BENCHMARKS.md.

mod baseline;
mod client;
mod cpu;
mod keys;
mod load;
mod memory;
mod ops;
mod populate;
mod raw_crypto;
mod servers;
mod startup;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use client::{Error, Signer};
use load::{Outcome, Settings};

#[derive(Parser)]
#[command(name = "trent-bench", about = "Load generator and benchmark for Trent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the benchmark.
    Run(RunOptions),
    /// Fill a data directory with symmetric keys through the API.
    Populate(populate::PopulateOptions),
    /// Time `trent serve` start-up on a data directory and read its memory.
    Startup(startup::StartupOptions),
    /// The bare HTTP server the baseline figures come from.
    BaselineServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
}

/// Which of the server's keys `run --keys` picks from.
#[derive(Clone, Copy)]
enum KeyChoice {
    First(usize),
    All,
}

impl FromStr for KeyChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(KeyChoice::All),
            n => match n.parse() {
                Ok(0) | Err(_) => Err(format!("expected a number of keys above 0 or `all`, not {n:?}")),
                Ok(n) => Ok(KeyChoice::First(n)),
            },
        }
    }
}

#[derive(Args)]
struct RunOptions {
    /// Start this `trent` binary on a fresh data directory and drive it.
    #[arg(long, conflicts_with = "endpoint")]
    trent_bin: Option<PathBuf>,
    /// With --trent-bin: start it on this data directory (e.g. one made by
    /// `populate`) and keep it, instead of a fresh temporary one.
    #[arg(long, requires = "trent_bin")]
    data_dir: Option<PathBuf>,
    /// An extra argument for `trent serve` (repeatable), e.g. --trent-arg=--store=postgres://...
    #[arg(long = "trent-arg", allow_hyphen_values = true)]
    trent_args: Vec<String>,
    /// Drive a server that is already running (http://HOST:PORT).
    #[arg(long)]
    endpoint: Option<String>,
    /// Its credentials file (profile `default`).
    #[arg(long, default_value = "trent-data/credentials")]
    credentials: PathBuf,
    /// Its process id, to report its CPU.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Comma-separated operations (see `ops::ALL`), or `all`.
    #[arg(long, default_value = "encrypt,decrypt,generate-data-key")]
    ops: String,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Sign once per connection and replay the same bytes.
    #[arg(long)]
    replay: bool,
    /// `N` or `all`: Encrypt, GenerateDataKey(WithoutPlaintext) and
    /// DescribeKey name a key picked at random per request from the first N
    /// keys ListKeys returns (made if fewer exist) or from all of them,
    /// listed once before measuring. Default: one key made for the operation.
    #[arg(long, conflicts_with = "replay")]
    keys: Option<KeyChoice>,
    /// Sample the server's resident memory every S seconds and print the series.
    #[arg(long)]
    rss_every_secs: Option<u64>,
    /// Also measure a bare HTTP server and report ratios to it.
    #[arg(long)]
    baseline: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trent-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result: Result<(), Error> = match cli.command {
        Command::BaselineServer { listen } => runtime.block_on(baseline::serve(listen)).map_err(Into::into),
        Command::Run(options) => runtime.block_on(run(options)),
        Command::Populate(options) => runtime.block_on(populate::run(options)),
        Command::Startup(options) => runtime.block_on(startup::run(options)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trent-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// One row of the report.
struct Row {
    name: String,
    outcome: Outcome,
    server_cores: Option<f64>,
    client_cores: Option<f64>,
}

async fn run(options: RunOptions) -> Result<(), Error> {
    let settings = Settings {
        concurrency: options.concurrency,
        duration: Duration::from_secs(options.duration_secs),
        replay: options.replay,
    };
    let warmup = Settings { duration: Duration::from_secs(options.warmup_secs), ..settings };
    let names: Vec<String> = if options.ops == "all" {
        ops::ALL.iter().map(|s| s.to_string()).collect()
    } else {
        options.ops.split(',').map(|s| s.trim().to_string()).collect()
    };

    let mut rows = Vec::new();
    let mut baseline_rate = None;
    if options.baseline {
        let server = servers::baseline()?;
        let signer = Signer { access_key_id: "AKIDBASELINE".into(), secret_access_key: "x".into(), region: "us-east-1".into(), host: server.addr.to_string() };
        let work = ops::Workload { operation: "Encrypt", body: r#"{"KeyId":"alias/x","Plaintext":"AAAA"}"#.into(), keys: None };
        let row = measure("baseline (bare axum)", server.addr, &signer, &work, &warmup, &settings, Some(server.pid())).await?;
        baseline_rate = Some(row.outcome.per_second());
        rows.push(row);
    }

    let (_trent, addr, signer, server_pid) = match &options.trent_bin {
        Some(bin) => {
            let (server, signer) = servers::trent(bin, &options.trent_args, options.data_dir.as_deref())?;
            let (addr, pid) = (server.addr, Some(server.pid()));
            (Some(server), addr, signer, pid)
        }
        None => {
            let endpoint = options.endpoint.as_deref().unwrap_or("http://127.0.0.1:4600");
            let host = endpoint.strip_prefix("http://").ok_or("only http:// endpoints")?.trim_end_matches('/');
            let addr = host.to_socket_addrs()?.next().ok_or("endpoint has no address")?;
            let mut signer = servers::signer_from(&options.credentials, &addr)?;
            signer.host = host.to_string();
            (None, addr, signer, options.server_pid.map(|p| p.to_string()))
        }
    };

    // Listed before any operation makes keys of its own (asymmetric ones among them).
    let pool = match options.keys {
        Some(choice) => Some(Arc::new(key_pool(choice, addr, &signer).await?)),
        None => None,
    };
    let sampler = match options.rss_every_secs {
        Some(secs) => {
            let pid = server_pid.clone().ok_or("--rss-every-secs needs the server's pid: --trent-bin or --server-pid")?;
            Some((memory::Sampler::start(pid, Duration::from_secs(secs.max(1))), Duration::from_secs(secs.max(1))))
        }
        None => None,
    };

    let mut raw = Vec::new();
    for name in &names {
        if let Some((sampler, _)) = &sampler {
            sampler.set_operation(name);
        }
        let work = match ops::prepare(name, addr, &signer, pool.as_ref()).await {
            Ok(work) => work,
            Err(e) => {
                println!("{name}: skipped: {e}");
                continue;
            }
        };
        let label = match &work.keys {
            Some(pool) => format!("{name} (random of {} keys)", pool.ids.len()),
            None => name.clone(),
        };
        let row = measure(&label, addr, &signer, &work, &warmup, &settings, server_pid.clone()).await?;
        if let Some(rate) = raw_crypto::signs_per_second(name, cores(), settings.duration.min(Duration::from_secs(5)))? {
            raw.push((name.clone(), rate, row.outcome.per_second()));
        }
        rows.push(row);
    }
    print_report(&options, &settings, &rows, baseline_rate, &raw);
    if let Some((sampler, every)) = sampler {
        memory::print_series(&sampler.finish(), every);
    }
    Ok(())
}

/// The keys `--keys` asks for, listed from the server; for `First(n)`, the
/// ones missing below n are made (symmetric, like `populate`'s).
async fn key_pool(choice: KeyChoice, addr: SocketAddr, signer: &Signer) -> Result<keys::KeyIds, Error> {
    let listing = Instant::now();
    let at_most = match choice {
        KeyChoice::First(n) => Some(n),
        KeyChoice::All => None,
    };
    let mut ids = keys::list(addr, signer, at_most).await?;
    println!("listed {} keys in {:.1} s", ids.len(), listing.elapsed().as_secs_f64());
    if let KeyChoice::First(n) = choice {
        if ids.len() < n {
            println!("making {} more", n - ids.len());
        }
        while ids.len() < n {
            let out = client::call(addr, signer, "CreateKey", serde_json::json!({ "Description": "trent-bench run" })).await?;
            ids.push(out["KeyMetadata"]["KeyId"].as_str().ok_or("CreateKey answered no KeyId")?);
        }
    }
    if ids.is_empty() {
        return Err("the server has no keys to pick from; make some with `trent-bench populate`".into());
    }
    Ok(ids)
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

async fn measure(name: &str, addr: SocketAddr, signer: &Signer, work: &ops::Workload, warmup: &Settings, settings: &Settings, server_pid: Option<String>) -> Result<Row, Error> {
    load::run(addr, signer, work, warmup).await?;
    let before = (server_pid.as_deref().and_then(cpu::seconds), cpu::seconds("self"));
    let outcome = load::run(addr, signer, work, settings).await?;
    let after = (server_pid.as_deref().and_then(cpu::seconds), cpu::seconds("self"));
    let secs = outcome.elapsed.as_secs_f64();
    let cores = |b: Option<f64>, a: Option<f64>| Some((a? - b?) / secs);
    Ok(Row { name: name.to_string(), server_cores: cores(before.0, after.0), client_cores: cores(before.1, after.1), outcome })
}

fn print_report(options: &RunOptions, settings: &Settings, rows: &[Row], baseline: Option<f64>, raw: &[(String, f64, f64)]) {
    println!(
        "\nconcurrency {}, {} s per operation, {} cores, {}",
        settings.concurrency,
        settings.duration.as_secs(),
        cores(),
        if options.replay { "signed once and replayed" } else { "every request signed" }
    );
    println!("\n| operation | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | errors | server cores | client cores | ÷ baseline |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    for row in rows {
        let o = &row.outcome;
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |",
            row.name,
            o.per_second(),
            o.quantile_ms(0.5),
            o.quantile_ms(0.9),
            o.quantile_ms(0.99),
            o.quantile_ms(0.999),
            o.errors,
            opt(row.server_cores),
            opt(row.client_cores),
            opt(baseline.map(|b| o.per_second() / b)),
        );
        if let Some(e) = &o.first_error {
            println!("|   first error: {} |", e.chars().take(200).collect::<String>());
        }
    }
    if !raw.is_empty() {
        println!("\n| signing | raw aws-lc-rs signs/s ({} threads) | through Trent req/s | Trent ÷ raw |", cores());
        println!("| --- | ---: | ---: | ---: |");
        for (name, rate, trent) in raw {
            println!("| {name} | {rate:.0} | {trent:.0} | {:.2} |", trent / rate);
        }
    }
}
