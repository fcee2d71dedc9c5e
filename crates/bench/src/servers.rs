//! The servers under test, started by the benchmark itself so that their
//! CPU can be measured: Trent on a fresh data directory, and the bare
//! baseline (this binary's `baseline-server`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::client::{Error, Signer};

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: Option<PathBuf>,
}

impl Server {
    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Starts `command` and reads `<prefix>http://ADDR` from its first line.
fn start(mut command: Command, prefix: &str, data_dir: Option<PathBuf>) -> Result<Server, Error> {
    let mut child = command.stdout(Stdio::piped()).stdin(Stdio::null()).spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    // Keep reading what it prints next (Trent's welcome lines): a closed
    // pipe would make its later writes fail.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    // Made before parsing, so that a bad first line still stops the child.
    let mut server = Server { child, addr: "0.0.0.0:0".parse()?, data_dir };
    server.addr = first
        .trim()
        .strip_prefix(prefix)
        .and_then(|a| a.strip_prefix("http://"))
        .ok_or_else(|| format!("unexpected first line {first:?}"))?
        .parse()?;
    Ok(server)
}

/// `trent serve` on a new data directory; its stderr goes to a file there.
pub fn trent(bin: &Path, extra_args: &[String]) -> Result<(Server, Signer), Error> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let dir = std::env::temp_dir().join(format!("trent-bench-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut command = Command::new(bin);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .args(extra_args)
        .stderr(std::fs::File::create(dir.join("stderr.log"))?);
    let server = start(command, "Trent listening on ", Some(dir.clone()))?;
    let signer = signer_from(&dir.join("data/credentials"), &server.addr)?;
    Ok((server, signer))
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
