//! End-to-end harness: runs the real `trent` binary on a temporary data
//! directory and builds official AWS SDK clients against it.
//!
//! Every server process is killed when its [`Trent`] is dropped, so a
//! panicking test leaves nothing behind.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

pub mod load;
pub mod seal;
pub mod softhsm;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{BehaviorVersion, Region};

pub const REGION: &str = "us-east-1";
pub const DAY_SECS: i64 = 24 * 60 * 60;

/// How long the server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful stop may take before the harness calls it a hang.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// One running `trent serve` on a data directory that lives as long as this value.
pub struct Trent {
    /// Holds the data directory and the server log; removed on drop.
    root: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    /// `http`, or `https` for a server started with `--tls-cert`.
    scheme: String,
    /// Extra environment for every server process (e.g. SOFTHSM2_CONF).
    env: Vec<(String, String)>,
}

impl Trent {
    /// Starts a server on a fresh, empty data directory with extra `args`
    /// (e.g. `["--dev"]`).
    pub fn start(args: &[&str]) -> Trent {
        let root = tempfile::Builder::new().prefix("trent-e2e-").tempdir().expect("temporary directory");
        let mut trent = Trent { root, child: None, port: 0, scheme: String::new(), env: Vec::new() };
        trent.spawn(args);
        trent
    }

    /// As [`Trent::start`], with `env` set for this and every later server
    /// process of the data directory.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Trent {
        let root = tempfile::Builder::new().prefix("trent-e2e-").tempdir().expect("temporary directory");
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut trent = Trent { root, child: None, port: 0, scheme: String::new(), env };
        trent.spawn(args);
        trent
    }

    /// As [`Trent::start`], on a data directory `prepare` fills first
    /// (e.g. `trent restore` into it).
    pub fn start_prepared(args: &[&str], prepare: impl FnOnce(&Path)) -> Trent {
        let root = tempfile::Builder::new().prefix("trent-e2e-").tempdir().expect("temporary directory");
        let mut trent = Trent { root, child: None, port: 0, scheme: String::new(), env: Vec::new() };
        prepare(&trent.data_dir());
        trent.spawn(args);
        trent
    }

    /// A fresh data directory with no server yet (to run `trent init`
    /// first), with `env` for every process of it.
    pub fn unstarted(env: &[(&str, &str)]) -> Trent {
        let root = tempfile::Builder::new().prefix("trent-e2e-").tempdir().expect("temporary directory");
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Trent { root, child: None, port: 0, scheme: String::new(), env }
    }

    /// Drops `name` from the environment of later server processes.
    pub fn remove_env(&mut self, name: &str) {
        self.env.retain(|(k, _)| k != name);
    }

    /// Reaps a server that exited by itself (a test crash hook); panics if
    /// it is still running after `within`.
    pub fn wait_exited(&mut self, within: Duration) {
        let Some(mut child) = self.child.take() else { return };
        let deadline = Instant::now() + within;
        while child.try_wait().expect("waiting for trent").is_none() {
            assert!(Instant::now() < deadline, "trent still runs; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server (after [`Trent::unstarted`] or [`Trent::stop`]).
    pub fn start_again(&mut self, args: &[&str]) {
        self.spawn(args);
    }

    /// Runs `trent ARGS` to its end with this directory's environment (plus
    /// `env`) and `stdin` as input: (success, stdout, stderr).
    pub fn cli(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> (bool, String, String) {
        use std::io::Write;
        let mut child = self.cli_started(args, env);
        child.stdin.take().expect("piped stdin").write_all(stdin.as_bytes()).expect("writing trent's stdin");
        cli_ended(child)
    }

    /// Starts `trent ARGS` as [`Trent::cli`] does, its standard input left
    /// open (e.g. a command waiting there for shares); [`cli_ended`] ends it.
    pub fn cli_started(&self, args: &[&str], env: &[(&str, &str)]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_trent"))
            .args(args)
            .env_remove("TRENT_DATA_DIR")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning the trent binary")
    }

    /// `trent serve` on this directory with `args` and `env`, expected to
    /// refuse to start; its stderr.
    pub fn serve_refused(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let mut all: Vec<(String, String)> = self.env.clone();
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        serve_refused_with(&self.data_dir(), args, &all)
    }

    /// Stops the server gracefully (SIGTERM) and starts it again on the same
    /// data directory with `args`. The port changes: build new clients.
    pub fn restart(&mut self, args: &[&str]) {
        self.stop();
        self.spawn(args);
    }

    /// Kills the server without warning (SIGKILL, a crash) and starts it
    /// again on the same data directory with `args`.
    pub fn crash_restart(&mut self, args: &[&str]) {
        self.kill();
        self.spawn(args);
    }

    /// SIGTERM, then waits for the process to exit; panics if it hangs or
    /// exits with a failure.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("running kill");
        assert!(status.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("waiting for trent") {
                assert!(status.success(), "trent exited with {status} after SIGTERM; log:\n{}", self.log());
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("trent did not stop within {STOP_TIMEOUT:?} of SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The running server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a running server").id()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.root.path().join("trent.log")
    }

    /// Everything the server processes of this data directory wrote to stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    fn spawn(&mut self, args: &[&str]) {
        assert!(self.child.is_none(), "a server is already running on this data directory");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_trent"))
            .arg("serve")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("TRENT_DATA_DIR")
            .env_remove("TRENT_LISTEN")
            .env("TRENT_LOG", "info")
            // AWS's request quotas would throttle the tests' bursts; a test may turn them on.
            .env("TRENT_THROTTLE", "off")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawning the trent binary");
        let stdout = child.stdout.take().expect("piped stdout");
        // Store the child first: from here on Drop kills it, whatever happens.
        self.child = Some(child);

        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = tx.send(reader.read_line(&mut first).map(|_| first));
            // Keep draining, so the server never writes into a closed pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => panic!("reading trent's stdout: {e}"),
            Err(_) => {
                self.kill();
                panic!("trent printed no listening line within {START_TIMEOUT:?}; log:\n{}", self.log());
            }
        };
        let (scheme, port) = line
            .trim_end()
            .strip_prefix("Trent listening on ")
            .and_then(|rest| rest.split_once("://127.0.0.1:"))
            .and_then(|(scheme, port)| Some((scheme.to_owned(), port.parse::<u16>().ok()?)))
            .unwrap_or_else(|| {
                self.kill();
                panic!("unexpected first line {line:?} (server exited?); log:\n{}", self.log())
            });
        assert_ne!(port, 0);
        self.port = port;
        self.scheme = scheme;
    }

    /// The admin's access key from `DATA_DIR/credentials`.
    pub fn admin_keys(&self) -> (String, String) {
        read_credentials(&self.data_dir().join("credentials"))
    }

    /// An SDK client signing as the admin, for `region`.
    pub fn client(&self, region: &str) -> aws_sdk_kms::Client {
        let (id, secret) = self.admin_keys();
        self.client_with(region, &id, &secret)
    }

    /// An SDK client with any access key, for `region`. Retries are off so
    /// every error reaches the test as the server sent it.
    pub fn client_with(&self, region: &str, access_key_id: &str, secret: &str) -> aws_sdk_kms::Client {
        let config = self
            .sdk_config(region, access_key_id, secret)
            .retry_config(RetryConfig::disabled())
            .timeout_config(TimeoutConfig::builder().operation_timeout(Duration::from_secs(20)).build())
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }

    /// An SDK configuration for this server, `region` and an access key;
    /// retries and timeouts are the caller's to set.
    pub fn sdk_config(&self, region: &str, access_key_id: &str, secret: &str) -> aws_sdk_kms::config::Builder {
        aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::from_keys(access_key_id, secret, None))
    }
}

impl Drop for Trent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits for a command [`Trent::cli_started`] started (its standard input
/// closed): (success, stdout, stderr).
pub fn cli_ended(mut child: Child) -> (bool, String, String) {
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("waiting for trent");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Starts `trent serve` on `data_dir`, expects it to exit with a failure
/// before it listens, and returns its stderr. Panics if it starts serving.
pub fn serve_refused(data_dir: &Path) -> String {
    serve_refused_with(data_dir, &[], &[])
}

/// [`serve_refused`] with extra `args` and `env`.
pub fn serve_refused_with(data_dir: &Path, args: &[&str], env: &[(String, String)]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env_remove("TRENT_DATA_DIR")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the trent binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = tx.send(first);
    });
    let deadline = Instant::now() + START_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for trent") {
            break status;
        }
        let listening = rx.try_recv().is_ok_and(|line| line.starts_with("Trent listening"));
        if listening || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("trent started serving on {}", data_dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped stderr"), &mut stderr).expect("reading trent's stderr");
    assert!(!status.success(), "trent exited with success: {stderr}");
    stderr
}

/// Parses the `[default]` profile of an AWS shared credentials file.
pub fn read_credentials(path: &Path) -> (String, String) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut in_default = false;
    let (mut id, mut secret) = (None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_default = line == "[default]";
            continue;
        }
        if !in_default {
            continue;
        }
        if let Some((name, value)) = line.split_once('=') {
            match name.trim() {
                "aws_access_key_id" => id = Some(value.trim().to_owned()),
                "aws_secret_access_key" => secret = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    (
        id.unwrap_or_else(|| panic!("no aws_access_key_id in [default] of {}", path.display())),
        secret.unwrap_or_else(|| panic!("no aws_secret_access_key in [default] of {}", path.display())),
    )
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The error code the server sent (the `__type` of its JSON error), from any SDK error.
pub fn code<E, R>(err: &aws_sdk_kms::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err {
        aws_sdk_kms::error::SdkError::ServiceError(service) => service.err().code().unwrap_or("<no code>").to_owned(),
        other => panic!("expected a service error, got {other:?}"),
    }
}

/// Unwraps a failed request's modeled service error and checks its kind
/// with one of the SDK's `is_*_exception` predicates; evaluates to the error.
/// Not every test binary uses it.
#[allow(unused_macros)]
macro_rules! assert_err {
    ($result:expr, $predicate:ident) => {{
        let err = $result.expect_err(concat!("expected the request to fail with ", stringify!($predicate)));
        let service = err.into_service_error();
        assert!(service.$predicate(), "expected {}, got {:?}", stringify!($predicate), service);
        service
    }};
}

/// The audit log's files in a data directory, in chain order.
pub fn audit_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir.join("audit"))
        .expect("DATA_DIR/audit")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
}

/// Every event in the data directory's audit log, in order.
pub fn audit_events(data_dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for f in audit_files(data_dir) {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}: {line}", f.display()));
            if record["recordType"] == "event" {
                out.push(record["event"].clone());
            }
        }
    }
    out
}

/// How many events of the log record a successful call of `operation`.
pub fn successful_events(data_dir: &Path, operation: &str) -> usize {
    audit_events(data_dir).iter().filter(|e| e["eventName"] == operation && e.get("errorCode").is_none()).count()
}

/// A TCP forwarder to `127.0.0.1:port` listening on this machine's
/// non-loopback IPv4 address, for as long as the test runs: `IP:PORT`, or
/// `None` when the machine has no such address.
pub fn forward_from_another_address(port: u16) -> Option<String> {
    // Connecting a UDP socket sends nothing: it only picks the route's source address.
    let udp = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    let ip = ["192.0.2.1:9", "10.255.255.255:9", "8.8.8.8:53"].iter().find_map(|to| udp.connect(to).ok().and_then(|()| udp.local_addr().ok()).map(|a| a.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified()))?;
    let listener = std::net::TcpListener::bind((ip, 0)).ok()?;
    let address = listener.local_addr().ok()?.to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", port)) else { continue };
            let (mut client_in, mut server_in) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut client_out, mut server_out) = (client, server);
            std::thread::spawn(move || std::io::copy(&mut client_in, &mut server_out));
            std::thread::spawn(move || std::io::copy(&mut server_in, &mut client_out));
        }
    });
    Some(address)
}

/// One plain HTTP/1.1 request (no signature): (status, body).
pub fn raw_http(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    std::io::Write::write_fmt(&mut stream, format_args!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).expect("reading the answer");
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
