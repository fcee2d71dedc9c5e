//! The servers under test, started by the benchmark itself so that their
//! CPU and memory can be measured: Trent on a fresh or a given data
//! directory, and the bare baseline (this binary's `baseline-server`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{Error, Signer};

/// What runs on Trent's data directory before it starts.
pub type Prepare<'a> = &'a dyn Fn(&Path) -> Result<(), Error>;

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// When the process was spawned, and how long until it printed its
    /// listening line (the start-up measurement).
    pub spawned: Instant,
    pub listening_after: Duration,
    /// Removed when the server is dropped: a fresh data directory, or just
    /// the directory holding the server's log.
    temp_dir: Option<PathBuf>,
}

impl Server {
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Stops the server as an operator would (SIGTERM, so Trent flushes and
    /// closes its database and audit log) and waits for it to exit; returns
    /// how long that took, or an error if it did not exit cleanly.
    pub fn stop(&mut self) -> Result<Duration, Error> {
        let asked = Instant::now();
        if self.child.try_wait()?.is_none() {
            // Through kill(1): the bench has no libc dependency of its own.
            Command::new("kill").args(["-TERM", &self.pid()]).status()?;
        }
        let deadline = asked + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                return Err(format!("server {} did not stop within 30 s of SIGTERM; killed", self.pid()).into());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if !status.success() {
            return Err(format!("server {} exited with {status} after SIGTERM", self.pid()).into());
        }
        Ok(asked.elapsed())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.stop().is_err() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Starts `command` and reads `<prefix>http://ADDR` from its first line.
fn start(mut command: Command, prefix: &str, temp_dir: Option<PathBuf>) -> Result<Server, Error> {
    let spawned = Instant::now();
    let mut child = match command.stdout(Stdio::piped()).stdin(Stdio::null()).spawn() {
        Ok(child) => child,
        Err(e) => {
            if let Some(dir) = &temp_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(format!("{}: {e}", command.get_program().to_string_lossy()).into());
        }
    };
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let listening_after = spawned.elapsed();
    // Keep reading what it prints next (Trent's welcome lines): a closed
    // pipe would make its later writes fail.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    // Made before parsing, so that a bad first line still stops the child.
    let mut server = Server { child, addr: "0.0.0.0:0".parse()?, spawned, listening_after, temp_dir };
    server.addr = first
        .trim()
        .strip_prefix(prefix)
        .and_then(|a| a.strip_prefix("http://"))
        .ok_or_else(|| format!("unexpected first line {first:?}"))?
        .parse()?;
    Ok(server)
}

/// `trent serve` on `data_dir` (created by Trent if absent, kept
/// afterwards), or on a new temporary one (removed afterwards) when it is
/// None. Its stderr goes to a file in a temporary directory. `prepare`
/// runs on the data directory before Trent starts (e.g. `trent hsm
/// register`); `env` is added to Trent's environment.
pub fn trent(
    bin: &Path,
    extra_args: &[String],
    data_dir: Option<&Path>,
    env: &[(String, String)],
    prepare: Option<Prepare<'_>>,
) -> Result<(Server, Signer, PathBuf), Error> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let temp = std::env::temp_dir().join(format!("trent-bench-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&temp)?;
    let data_dir = data_dir.map_or_else(|| temp.join("data"), Path::to_path_buf);
    if let Some(prepare) = prepare {
        if let Err(e) = prepare(&data_dir) {
            let _ = std::fs::remove_dir_all(&temp);
            return Err(e);
        }
    }
    let mut command = Command::new(bin);
    command.envs(env.iter().map(|(k, v)| (k, v))).arg("serve");
    // The server's own cost is measured, not AWS's request quotas, unless
    // asked (`--trent-arg=--throttle=on` measures the throttle's cost).
    if !extra_args.iter().any(|a| a.starts_with("--throttle")) {
        command.args(["--throttle", "off"]);
    }
    command
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .args(extra_args)
        .stderr(std::fs::File::create(temp.join("stderr.log"))?);
    let server = start(command, "Trent listening on ", Some(temp))?;
    // Trent writes the admin's credentials before it prints its first line.
    let signer = signer_from(&data_dir.join("credentials"), &server.addr)?;
    Ok((server, signer, data_dir))
}

/// The bare HTTP server, in a process of its own like Trent.
pub fn baseline() -> Result<Server, Error> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["baseline-server", "--listen", "127.0.0.1:0"]).stderr(Stdio::inherit());
    start(command, "listening on ", None)
}

/// The `[default]` profile of an AWS shared credentials file.
pub fn signer_from(credentials: &Path, addr: &SocketAddr) -> Result<Signer, Error> {
    let text = std::fs::read_to_string(credentials).map_err(|e| format!("{}: {e}", credentials.display()))?;
    let mut in_default = false;
    let (mut id, mut secret) = (None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_default = line == "[default]";
        } else if let (true, Some((k, v))) = (in_default, line.split_once('=')) {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_string()),
                "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    Ok(Signer {
        access_key_id: id.ok_or("no aws_access_key_id in [default]")?,
        secret_access_key: secret.ok_or("no aws_secret_access_key in [default]")?,
        region: "us-east-1".into(),
        host: addr.to_string(),
    })
}
