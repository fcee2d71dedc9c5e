//! `trent-bench populate`: fills a data directory with symmetric keys
//! through the real API (signed CreateKey over HTTP, never behind Trent's
//! back), for the scale measurements: start-up time, Encrypt over many keys,
//! memory per idle key. It resumes: only the keys missing up to the target
//! are made.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;

use crate::client::{Connection, Error, Signer};
use crate::{keys, servers};

#[derive(Args)]
pub struct PopulateOptions {
    /// The data directory to fill (Trent creates it if absent).
    #[arg(long)]
    data_dir: PathBuf,
    /// How many keys it should hold in the end.
    #[arg(long)]
    keys: usize,
    /// Simultaneous CreateKey callers, each on its own connection.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value = "target/release/trent")]
    trent_bin: PathBuf,
    /// An extra argument for `trent serve` (repeatable).
    #[arg(long = "trent-arg", allow_hyphen_values = true)]
    trent_args: Vec<String>,
}

pub async fn run(options: PopulateOptions) -> Result<(), Error> {
    let (mut server, signer, _) = servers::trent(&options.trent_bin, &options.trent_args, Some(&options.data_dir), &[], None)?;
    let counting = Instant::now();
    let existing = keys::count(server.addr, &signer).await?;
    println!("{}: {existing} keys already (counted with ListKeys in {:.1} s)", options.data_dir.display(), counting.elapsed().as_secs_f64());
    let missing = options.keys.saturating_sub(existing);
    let created = if missing > 0 { create(server.addr, &signer, missing, options.concurrency.max(1)).await } else { Ok(()) };
    // Stopped cleanly even when creating failed, so that what was made is kept.
    let stopped = server.stop()?;
    println!("stopped Trent (SIGTERM) in {} ms", stopped.as_millis());
    created
}

/// Makes `missing` keys at `concurrency`, printing progress every 10 s.
async fn create(addr: SocketAddr, signer: &Signer, missing: usize, concurrency: usize) -> Result<(), Error> {
    let claimed = Arc::new(AtomicUsize::new(0));
    let created = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let progress = {
        let created = created.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(10), Duration::from_secs(10));
            loop {
                tick.tick().await;
                let (n, secs) = (created.load(Ordering::Relaxed), started.elapsed().as_secs_f64());
                println!("{secs:.0} s: {n} of {missing} created ({:.0} keys/s)", n as f64 / secs);
            }
        })
    };
    let mut workers = Vec::new();
    for _ in 0..concurrency.min(missing) {
        let mut connection = Connection::open(addr).await?;
        let (signer, claimed, created, failed) = (signer.clone(), claimed.clone(), created.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            while !failed.load(Ordering::Relaxed) && claimed.fetch_add(1, Ordering::Relaxed) < missing {
                let made = connection.call(&signer, "CreateKey", json!({ "Description": "trent-bench populate" })).await;
                if made.is_err() {
                    // The others stop too: one error usually means all would fail.
                    failed.store(true, Ordering::Relaxed);
                }
                made?;
                created.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, Error>(())
        }));
    }
    let mut first_error = None;
    for worker in workers {
        if let Err(e) = worker.await? {
            first_error.get_or_insert(e);
        }
    }
    progress.abort();
    let (n, secs) = (created.load(Ordering::Relaxed), started.elapsed().as_secs_f64());
    println!("created {n} keys in {secs:.1} s: {:.0} keys/s at concurrency {concurrency}", n as f64 / secs);
    match first_error {
        Some(e) => Err(format!("{e} (after creating {n} keys; populate again to add the rest)").into()),
        None => Ok(()),
    }
}
