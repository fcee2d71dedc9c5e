//! Encrypt on a key in a CloudHSM key store (`--hsm-module`, operation
//! `encrypt-hsm`), beside the raw speed of the same token through PKCS#11
//! alone (issue 18).
//!
//! A SoftHSM2 token is made in a temporary directory with its own
//! SOFTHSM2_CONF, which goes into the environment of the processes that use
//! it (Trent, `trent hsm register`, and the `hsm-raw` child that measures
//! the token alone), never into this process's. It is registered in Trent's
//! data directory before Trent starts; the key store and its key are made
//! and connected through the API. The raw figure is AES-GCM
//! ([`Token::encrypt_gcm`]) with Trent's payload, IV and AAD sizes on an
//! AES-256 token key in the same token, through a pool of logged-in
//! sessions as Trent's, in a process of its own like Trent.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use hyper::body::Bytes;
use serde_json::json;
use trent_hsm::{AuthPin, HsmError, Pkcs11Module, Token};

use crate::client::{call, Error, Signer};
use crate::ops::{self, Workload};

const USER_PIN: &str = "trent-bench-pin";
const SO_PIN: &str = "trent-bench-so-pin";
const TOKEN_LABEL: &str = "trent-bench";
const CLUSTER: &str = "cluster-benchbenchb";
/// The raw measurement's own key object in the token (Trent's keys are
/// labelled with their ARN).
const RAW_KEY_LABEL: &str = "trent-bench-raw";
/// Sessions in the raw measurement's pool: Trent's own bound per token
/// (`SESSIONS_PER_TOKEN`), so neither side waits for a session.
const RAW_SESSIONS: usize = 16;
/// What Trent's Encrypt hands the token: a 64-byte plaintext, a 12-byte IV
/// and as AAD its 78-byte blob header and an empty encryption context (2 bytes).
const PLAINTEXT_LEN: usize = 64;
const AAD_LEN: usize = 80;

/// A SoftHSM2 token in a temporary directory, removed when dropped.
pub struct BenchToken {
    dir: PathBuf,
    pub module: PathBuf,
}

impl BenchToken {
    pub fn new(module: &Path) -> Result<Self, Error> {
        if !module.is_file() {
            return Err(format!("--hsm-module {}: no such file", module.display()).into());
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
        let dir = std::env::temp_dir().join(format!("trent-bench-token-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(dir.join("tokens"))?;
        let token = BenchToken { dir, module: module.to_path_buf() };
        std::fs::write(
            token.conf(),
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", token.dir.join("tokens").display()),
        )?;
        let out = Command::new("softhsm2-util")
            .envs(token.env())
            .args(["--init-token", "--free", "--label", TOKEN_LABEL, "--so-pin", SO_PIN, "--pin", USER_PIN])
            .output()
            .map_err(|e| format!("softhsm2-util (apt-get install softhsm2): {e}"))?;
        if !out.status.success() {
            return Err(format!("softhsm2-util --init-token: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(token)
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("softhsm2.conf")
    }

    /// The environment a process needs to see this token.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("SOFTHSM2_CONF".into(), self.conf().display().to_string())]
    }

    /// `trent hsm register` of the token in `data_dir`, before Trent starts.
    pub fn register(&self, trent_bin: &Path, data_dir: &Path) -> Result<(), Error> {
        let out = Command::new(trent_bin)
            .args(["hsm", "register", "--data-dir"])
            .arg(data_dir)
            .args(["--cluster-id", CLUSTER, "--module"])
            .arg(&self.module)
            .args(["--token-label", TOKEN_LABEL])
            .envs(self.env())
            .output()?;
        if !out.status.success() {
            return Err(format!("trent hsm register: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(())
    }

    /// Creates and connects the key store through the API, makes one key in
    /// it under the same key policy as the software keys' (`ops`), and
    /// returns the Encrypt to repeat on it.
    pub async fn prepare(&self, data_dir: &Path, addr: SocketAddr, signer: &Signer) -> Result<Workload, Error> {
        let anchor = std::fs::read_to_string(data_dir.join("hsm").join(CLUSTER).join("customerCA.crt"))?;
        let out = call(
            addr,
            signer,
            "CreateCustomKeyStore",
            json!({ "CustomKeyStoreName": "trent-bench", "CloudHsmClusterId": CLUSTER, "TrustAnchorCertificate": anchor, "KeyStorePassword": USER_PIN }),
        )
        .await?;
        let store = ops::text(&out["CustomKeyStoreId"])?;
        call(addr, signer, "ConnectCustomKeyStore", json!({ "CustomKeyStoreId": store })).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = call(addr, signer, "DescribeCustomKeyStores", json!({ "CustomKeyStoreId": store })).await?;
            let entry = &out["CustomKeyStores"][0];
            match entry["ConnectionState"].as_str() {
                Some("CONNECTED") => break,
                Some("FAILED") => return Err(format!("key store failed to connect: {entry}").into()),
                _ if Instant::now() > deadline => return Err(format!("key store not connected after 30 s: {entry}").into()),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let out = call(addr, signer, "CreateKey", json!({ "Origin": "AWS_CLOUDHSM", "CustomKeyStoreId": store, "Description": "trent-bench" })).await?;
        let key_id = ops::text(&out["KeyMetadata"]["KeyId"])?;
        let account = ops::text(&out["KeyMetadata"]["AWSAccountId"])?;
        ops::put_policy(addr, signer, &key_id, &account).await?;
        let body = json!({ "KeyId": key_id, "Plaintext": ops::plaintext() }).to_string();
        Ok(Workload { operation: "Encrypt", body: Bytes::from(body), keys: None })
    }

    /// Runs `trent-bench hsm-raw` on this token for `duration` at each of
    /// `threads`; returns the rate at each.
    pub fn raw(&self, threads: &[usize], duration: Duration) -> Result<Vec<f64>, Error> {
        let list: Vec<String> = threads.iter().map(usize::to_string).collect();
        let out = Command::new(std::env::current_exe()?)
            .args(["hsm-raw", "--module"])
            .arg(&self.module)
            .args(["--threads", &list.join(","), "--duration-ms", &duration.as_millis().to_string()])
            .envs(self.env())
            .output()?;
        if !out.status.success() {
            return Err(format!("hsm-raw: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        let rates: Vec<f64> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::parse).collect::<Result<_, _>>()?;
        if rates.len() != threads.len() {
            return Err("hsm-raw: unexpected output".into());
        }
        Ok(rates)
    }
}

impl Drop for BenchToken {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `trent-bench hsm-raw`: the token alone (run by `run --hsm-module`).
#[derive(Args)]
pub struct RawOptions {
    /// The PKCS#11 module; the token is the one SOFTHSM2_CONF points at.
    #[arg(long)]
    module: PathBuf,
    /// Comma-separated thread counts, each measured for the duration in turn.
    #[arg(long, value_delimiter = ',')]
    threads: Vec<usize>,
    #[arg(long, default_value_t = 2000)]
    duration_ms: u64,
}

/// Prints AES-GCM encryptions per second at each thread count, one per line.
pub fn raw_main(options: RawOptions) -> Result<(), Error> {
    let module = Pkcs11Module::open(&options.module)?;
    let token = Token::open(&module, TOKEN_LABEL, AuthPin::new(USER_PIN.into()), RAW_SESSIONS)?;
    let key = match token.find_aes_key(RAW_KEY_LABEL) {
        Ok(key) => key,
        Err(HsmError::KeyNotFound(_)) => token.generate_aes_key(RAW_KEY_LABEL)?,
        Err(e) => return Err(e.into()),
    };
    let (plaintext, aad) = ([7u8; PLAINTEXT_LEN], [1u8; AAD_LEN]);
    // Open the sessions the widest run will use before timing anything.
    let widest = options.threads.iter().copied().max().unwrap_or(1);
    std::thread::scope(|scope| {
        for _ in 0..widest {
            scope.spawn(|| token.encrypt_gcm(&key, &[0u8; 12], &aad, &plaintext));
        }
    });
    let duration = Duration::from_millis(options.duration_ms);
    for &threads in &options.threads {
        let failed = AtomicU64::new(0);
        let started = Instant::now();
        let total: u64 = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.max(1))
                .map(|t| {
                    let (token, key, failed) = (&token, &key, &failed);
                    scope.spawn(move || {
                        let mut n = 0u64;
                        // A distinct IV per call, as Trent's random ones are.
                        let mut iv = [0u8; 12];
                        iv[..4].copy_from_slice(&(t as u32).to_be_bytes());
                        while started.elapsed() < duration {
                            n += 1;
                            iv[4..].copy_from_slice(&n.to_be_bytes());
                            if token.encrypt_gcm(key, &iv, &aad, &plaintext).is_err() {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        n
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
        });
        let elapsed = started.elapsed().as_secs_f64();
        if failed.load(Ordering::Relaxed) > 0 {
            return Err(format!("{} of {total} encryptions failed", failed.load(Ordering::Relaxed)).into());
        }
        println!("{:.1}", total as f64 / elapsed);
    }
    Ok(())
}
