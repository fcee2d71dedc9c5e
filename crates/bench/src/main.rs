//! `trent-bench`: drives a Trent server with SigV4-signed KMS requests at a
//! chosen concurrency and reports req/s, latency percentiles and the CPU the
//! server and the load generator used; optionally beside a bare HTTP
//! baseline in the same run (ratios hold on a noisy machine) and the raw
//! aws-lc-rs speed of the signing primitives. For scale: fills a data
//! directory with keys, times start-up on it, drives Encrypt over keys
//! picked at random, and follows the server's memory. With a PKCS#11
//! module, Encrypt on a key in a CloudHSM key store beside the same token
//! through PKCS#11 alone (`hsm`). See docs/BENCHMARKS.md.

#![forbid(unsafe_code)]

mod baseline;
mod client;
mod cpu;
mod hsm;
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
    /// AES-GCM on a token through PKCS#11 alone, the yardstick for
    /// `run --hsm-module` (which starts it with the token's SOFTHSM2_CONF).
    HsmRaw(hsm::RawOptions),
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
    /// With --endpoint: another node of the same deployment (http://HOST:PORT,
    /// repeatable; nodes on one database, so the credentials work on each).
    /// The connections are spread over all of them round robin and counted
    /// together: the deployment's aggregate. --server-pid covers the first only.
    #[arg(long = "also-endpoint", requires = "endpoint")]
    also_endpoints: Vec<String>,
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
    /// With --baseline: each operation and the baseline are measured
    /// alternately in this many slices of the duration, so that a machine
    /// whose speed drifts during the run slows both alike.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// A SoftHSM2 PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so):
    /// makes a token in a temporary directory, registers it in Trent's data
    /// directory and enables the operation `encrypt-hsm` (Encrypt on a key
    /// in a CloudHSM key store on that token), measured in `--rounds` slices
    /// alternating with AES-GCM on the same token through PKCS#11 alone.
    #[arg(long, requires = "trent_bin")]
    hsm_module: Option<PathBuf>,
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
        Command::HsmRaw(options) => hsm::raw_main(options),
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
    /// CPU seconds used while measuring.
    server_cpu: Option<f64>,
    client_cpu: Option<f64>,
    /// The baseline's rate measured in the slices alternating with this row's.
    baseline_rate: Option<f64>,
}

impl Row {
    fn cores(&self, cpu: Option<f64>) -> Option<f64> {
        Some(cpu? / self.outcome.elapsed.as_secs_f64())
    }

    /// Adds a later slice of the same measurement.
    fn merge(&mut self, slice: Row) {
        self.outcome.merge(slice.outcome);
        let add = |a: Option<f64>, b: Option<f64>| Some(a? + b?);
        self.server_cpu = add(self.server_cpu, slice.server_cpu);
        self.client_cpu = add(self.client_cpu, slice.client_cpu);
    }
}

fn merged(total: Option<Row>, slice: Row) -> Option<Row> {
    Some(match total {
        Some(mut total) => {
            total.merge(slice);
            total
        }
        None => slice,
    })
}

/// The bare server and what drives it.
struct Baseline {
    _server: servers::Server,
    addr: SocketAddr,
    pid: String,
    signer: Signer,
    work: ops::Workload,
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

    let baseline = match options.baseline {
        true => {
            let server = servers::baseline()?;
            let signer = Signer { access_key_id: "AKIDBASELINE".into(), secret_access_key: "x".into(), region: "us-east-1".into(), host: server.addr.to_string() };
            let work = ops::Workload { operation: "Encrypt", body: r#"{"KeyId":"alias/x","Plaintext":"AAAA"}"#.into(), keys: None };
            let (addr, pid) = (server.addr, server.pid());
            load::run(&[addr], &signer, &work, &warmup).await?;
            Some(Baseline { _server: server, addr, pid, signer, work })
        }
        false => None,
    };
    let token = match &options.hsm_module {
        Some(module) => Some(hsm::BenchToken::new(module)?),
        None => None,
    };
    let rounds = if baseline.is_some() || token.is_some() { options.rounds.max(1) } else { 1 };
    let slice = Settings { duration: settings.duration / rounds, ..settings };

    let (_trent, addrs, signer, server_pid, data_dir) = match &options.trent_bin {
        Some(bin) => {
            let register = |dir: &std::path::Path| match &token {
                Some(token) => token.register(bin, dir),
                None => Ok(()),
            };
            let env = token.as_ref().map(hsm::BenchToken::env).unwrap_or_default();
            let (server, signer, data_dir) = servers::trent(bin, &options.trent_args, options.data_dir.as_deref(), &env, Some(&register))?;
            let (addr, pid) = (server.addr, Some(server.pid()));
            (Some(server), vec![addr], signer, pid, Some(data_dir))
        }
        None => {
            let endpoint = options.endpoint.as_deref().unwrap_or("http://127.0.0.1:4600");
            let host = endpoint.strip_prefix("http://").ok_or("only http:// endpoints")?.trim_end_matches('/');
            let addr = host.to_socket_addrs()?.next().ok_or("endpoint has no address")?;
            let mut signer = servers::signer_from(&options.credentials, &addr)?;
            signer.host = host.to_string();
            let mut addrs = vec![addr];
            for other in &options.also_endpoints {
                let host = other.strip_prefix("http://").ok_or("only http:// endpoints")?.trim_end_matches('/');
                addrs.push(host.to_socket_addrs()?.next().ok_or("endpoint has no address")?);
            }
            (None, addrs, signer, options.server_pid.map(|p| p.to_string()), None)
        }
    };
    let addr = addrs[0]; // Never empty: made from the first endpoint above.

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

    let (mut raw, mut hsm_raw, mut rows, mut baseline_row) = (Vec::new(), Vec::new(), Vec::new(), None);
    for name in &names {
        if let Some((sampler, _)) = &sampler {
            sampler.set_operation(name);
        }
        let hsm_token = match (name.as_str(), &token, &data_dir) {
            ("encrypt-hsm", Some(token), Some(dir)) => Some((token, dir)),
            ("encrypt-hsm", ..) => {
                println!("{name}: skipped: needs --hsm-module");
                continue;
            }
            _ => None,
        };
        let prepared = match hsm_token {
            Some((token, dir)) => token.prepare(dir, addr, &signer).await,
            None => ops::prepare(name, addr, &signer, pool.as_ref()).await,
        };
        let work = match prepared {
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
        load::run(&addrs, &signer, &work, &warmup).await?;
        let (mut row, mut paired, mut token_rates) = (None, None, Vec::new());
        for _ in 0..rounds {
            if let Some(b) = &baseline {
                paired = merged(paired, measure("baseline (bare axum)", &[b.addr], &b.signer, &b.work, &slice, Some(b.pid.clone())).await?);
            }
            if let Some((token, _)) = hsm_token {
                token_rates.push(token.raw(&[cores(), 1], slice.duration)?);
            }
            row = merged(row, measure(&label, &addrs, &signer, &work, &slice, server_pid.clone()).await?);
        }
        let mut row = row.ok_or("no measurement")?;
        if let Some(paired) = paired {
            row.baseline_rate = Some(paired.outcome.per_second());
            baseline_row = merged(baseline_row, paired);
        }
        if !token_rates.is_empty() {
            // Equal slices: the mean of the slices' rates is the rate over them all.
            let mean = |i: usize| token_rates.iter().map(|r| r[i]).sum::<f64>() / token_rates.len() as f64;
            hsm_raw.push(HsmRaw { name: name.clone(), threads: cores(), rate: mean(0), one_thread: mean(1), trent: row.outcome.per_second() });
        }
        if let Some(rate) = raw_crypto::signs_per_second(name, cores(), settings.duration.min(Duration::from_secs(5)))? {
            raw.push((name.clone(), rate, row.outcome.per_second()));
        }
        rows.push(row);
    }
    if let Some(mut all) = baseline_row {
        all.name = "baseline (bare axum), all slices".into();
        all.baseline_rate = Some(all.outcome.per_second());
        rows.insert(0, all);
    }
    print_report(&options, &settings, rounds, &rows, &raw, &hsm_raw);
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

/// One measurement (no warm-up): the load for `settings.duration` and the CPU it took.
async fn measure(name: &str, addrs: &[SocketAddr], signer: &Signer, work: &ops::Workload, settings: &Settings, server_pid: Option<String>) -> Result<Row, Error> {
    let before = (server_pid.as_deref().and_then(cpu::seconds), cpu::seconds("self"));
    let outcome = load::run(addrs, signer, work, settings).await?;
    let after = (server_pid.as_deref().and_then(cpu::seconds), cpu::seconds("self"));
    let used = |b: Option<f64>, a: Option<f64>| Some(a? - b?);
    Ok(Row { name: name.to_string(), server_cpu: used(before.0, after.0), client_cpu: used(before.1, after.1), outcome, baseline_rate: None })
}

/// The token alone beside Trent, for `encrypt-hsm`.
struct HsmRaw {
    name: String,
    threads: usize,
    /// AES-GCM encryptions per second through PKCS#11 on `threads` threads, and on one.
    rate: f64,
    one_thread: f64,
    /// Encrypt through Trent, req/s.
    trent: f64,
}

fn print_report(options: &RunOptions, settings: &Settings, rounds: u32, rows: &[Row], raw: &[(String, f64, f64)], hsm_raw: &[HsmRaw]) {
    let slices = match (options.baseline, options.hsm_module.is_some()) {
        (true, true) => format!(", in {rounds} slices alternating with the baseline (and for encrypt-hsm the token alone)"),
        (true, false) => format!(", in {rounds} slices alternating with the baseline"),
        (false, true) => format!(", in {rounds} slices (encrypt-hsm alternating with the token alone)"),
        (false, false) => String::new(),
    };
    println!(
        "\nconcurrency {}, {} s per operation{slices}, {} cores, {}",
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
            opt(row.cores(row.server_cpu)),
            opt(row.cores(row.client_cpu)),
            opt(row.baseline_rate.map(|b| o.per_second() / b)),
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
    for h in hsm_raw {
        println!(
            "\n| HSM AES-GCM, {}-byte plaintext | token alone, PKCS#11 encryptions/s ({} threads) | token alone (1 thread) | through Trent req/s | Trent ÷ token ({} threads) | Trent ÷ token (1 thread) |",
            64, h.threads, h.threads
        );
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        println!("| {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |", h.name, h.rate, h.one_thread, h.trent, h.trent / h.rate, h.trent / h.one_thread);
    }
}
