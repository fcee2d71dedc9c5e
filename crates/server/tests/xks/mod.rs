//! Harness for tests/xks_proxy.rs: a data directory made with the real
//! `trent xks-proxy key|credential` commands, the real server on TLS with a
//! self-signed certificate (rcgen) the client trusts, and a small client
//! that signs with SigV4 (trent-sigv4's `sign`, service `kms-xks-proxy`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const SERVICE: &str = "kms-xks-proxy";
pub const REGION: &str = "us-east-2";
pub const PREFIX: &str = "/example/prefix";

/// Runs `trent xks-proxy ARGS... --data-dir DIR`; panics on failure.
pub fn trent(dir: &Path, args: &[&str]) -> String {
    trent_env(dir, args, &[])
}

/// As [`trent`], with `env` set for the child only (SOFTHSM2_CONF).
pub fn trent_env(dir: &Path, args: &[&str], env: &[(String, String)]) -> String {
    trent_result(dir, args, env).unwrap_or_else(|stderr| panic!("trent xks-proxy {args:?}: {stderr}"))
}

/// Runs `trent xks-proxy ARGS... --data-dir DIR` with `env`: its standard
/// output, or its standard error if it fails.
pub fn trent_result(dir: &Path, args: &[&str], env: &[(String, String)]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_trent"))
        .arg("xks-proxy")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("running trent");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("utf-8 output"))
    } else {
        Err(format!("{} ({})", String::from_utf8_lossy(&out.stderr), out.status))
    }
}

/// A SigV4 credential as `credential create` printed it.
#[derive(Clone)]
pub struct Credential {
    pub access_key_id: String,
    pub secret: String,
}

pub struct Proxy {
    pub dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    /// `None` for a server started with `--insecure-http`.
    tls: Option<Arc<rustls::ClientConfig>>,
    pub credential: Credential,
    /// The server's arguments, to start it again.
    args: Vec<std::ffi::OsString>,
    /// Arguments every `key` command and the server get (the PKCS#11 ones).
    #[allow(dead_code)] // xks_proxy_pkcs11.rs and sdk_external_key_stores.rs only
    pub backend_args: Vec<String>,
    /// Environment of every child (SOFTHSM2_CONF).
    #[allow(dead_code)] // xks_proxy_pkcs11.rs and sdk_external_key_stores.rs only
    pub env: Vec<(String, String)>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status and JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Response {
    pub fn error_name(&self) -> &str {
        self.body["errorName"].as_str().unwrap_or("")
    }
}

impl Proxy {
    /// A data directory with key `key-1` and one credential; the server on
    /// it, on TLS.
    pub fn start() -> Proxy {
        Proxy::start_with(true)
    }

    /// As [`Proxy::start`], on TLS or (`--insecure-http`) plain HTTP.
    pub fn start_with(tls: bool) -> Proxy {
        Proxy::start_on(tls, Vec::new(), Vec::new())
    }

    /// As [`Proxy::start_with`], with `backend_args` (e.g. --pkcs11-module
    /// ...) on the server and every key command, and `env` for the children.
    pub fn start_on(tls: bool, backend_args: Vec<String>, env: Vec<(String, String)>) -> Proxy {
        Proxy::start_full(tls, backend_args, &[], env)
    }

    /// As [`Proxy::start_on`], with `server_args` for the server only
    /// (e.g. a second --uri-path-prefix).
    pub fn start_full(tls: bool, backend_args: Vec<String>, server_args: &[&str], env: Vec<(String, String)>) -> Proxy {
        let dir = tempfile::Builder::new().prefix("trent-xks-").tempdir().expect("temporary directory");
        let backend: Vec<&str> = backend_args.iter().map(String::as_str).collect();
        let create = [&["key", "create", "--key-id", "key-1"][..], &backend].concat();
        assert_eq!(trent_env(dir.path(), &create, &env).trim(), "key-1");
        let out = trent(dir.path(), &["credential", "create"]);
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| panic!("no {name} in {out}"))
        };
        let credential = Credential { access_key_id: field("AccessKeyId:"), secret: field("SecretAccessKey:") };

        let mut args: Vec<std::ffi::OsString> = ["xks-proxy", "--listen", "127.0.0.1:0", "--uri-path-prefix", PREFIX, "--data-dir"]
            .iter()
            .map(Into::into)
            .collect();
        args.push(dir.path().into());
        args.extend(backend_args.iter().map(Into::into));
        args.extend(server_args.iter().map(Into::into));
        let client = if tls {
            let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
            let cert = dir.path().join("cert.pem");
            let key = dir.path().join("key.pem");
            std::fs::write(&cert, certified.cert.pem()).expect("writing cert");
            std::fs::write(&key, certified.signing_key.serialize_pem()).expect("writing key");
            args.extend(["--tls-cert".into(), cert.into_os_string(), "--tls-key".into(), key.into_os_string()]);
            let mut roots = rustls::RootCertStore::empty();
            roots.add(certified.cert.der().clone()).expect("trusting the certificate");
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(Arc::new(config))
        } else {
            args.push("--insecure-http".into());
            None
        };
        let (child, port) = spawn(&args, &env, tls).unwrap_or_else(|e| panic!("starting trent xks-proxy: {e}"));
        Proxy { dir, child, port, tls: client, credential, args, backend_args, env }
    }

    /// Starts the server again on the same directory and arguments (after
    /// [`Proxy::kill`]); its standard error if it refuses to start.
    #[allow(dead_code)] // xks_proxy.rs only
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        let (child, port) = spawn(&self.args, &self.env, self.tls.is_some())?;
        (self.child, self.port) = (child, port);
        Ok(())
    }

    /// Runs `trent xks-proxy ARGS...` on this proxy's data directory and
    /// backend (e.g. `key disable --key-id key-1`).
    #[allow(dead_code)] // xks_proxy_pkcs11.rs and sdk_external_key_stores.rs only
    pub fn trent(&self, args: &[&str]) -> String {
        let backend: Vec<&str> = self.backend_args.iter().map(String::as_str).collect();
        trent_env(self.dir.path(), &[args, &backend].concat(), &self.env)
    }

    /// Stops the proxy (as a proxy that went away).
    #[allow(dead_code)] // sdk_external_key_stores.rs only
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The full path of an API URI under the prefix, e.g. `keys/key-1/encrypt`.
    pub fn path(rest: &str) -> String {
        format!("{PREFIX}/kms/xks/v1/{rest}")
    }

    /// POSTs `body` to `path`, signed with the proxy's credential.
    pub fn call(&self, path: &str, body: &str) -> Response {
        self.send("POST", path, body, Some(&self.credential), |_| {})
    }

    /// Sends a request, signed with `credential` (if any) as of now; `tamper`
    /// may change the headers after signing.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: &str,
        credential: Option<&Credential>,
        tamper: impl FnOnce(&mut Vec<(String, String)>),
    ) -> Response {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64;
        let mut headers = vec![
            ("host".to_string(), format!("localhost:{}", self.port)),
            ("x-amz-date".to_string(), trent_sigv4::format_iso_basic(now)),
            ("content-type".to_string(), "application/json".to_string()),
        ];
        if let Some(c) = credential {
            let borrowed = trent_sigv4::borrowed(&headers);
            let request = trent_sigv4::Request { method, path, query: "", headers: &borrowed, body: body.as_bytes() };
            let auth = trent_sigv4::sign(&request, &c.access_key_id, c.secret.as_bytes(), REGION, SERVICE, &["host", "x-amz-date"])
                .expect("signing");
            drop(borrowed);
            headers.push(("authorization".to_string(), auth));
        }
        tamper(&mut headers);
        let mut raw = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
        for (n, v) in &headers {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        raw.push_str(body);
        self.exchange(raw.as_bytes())
    }

    /// Sends raw bytes on a new connection; returns the raw answer (empty
    /// if the server closed without one).
    pub fn exchange_raw(&self, request: &[u8], tls: bool) -> Vec<u8> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).expect("connecting");
        tcp.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let mut raw = Vec::new();
        let result = match (&self.tls, tls) {
            (Some(config), true) => {
                let server_name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
                let conn = rustls::ClientConnection::new(config.clone(), server_name).expect("TLS client");
                let mut stream = rustls::StreamOwned::new(conn, tcp);
                stream.write_all(request).and_then(|()| stream.read_to_end(&mut raw))
            }
            _ => {
                let mut tcp = tcp;
                tcp.write_all(request).and_then(|()| tcp.read_to_end(&mut raw))
            }
        };
        // The server closes after answering (connection: close); a close
        // without TLS close_notify still ends the answer here.
        if let Err(e) = result {
            eprintln!("connection ended with {e}");
        }
        raw
    }

    fn exchange(&self, request: &[u8]) -> Response {
        let raw = self.exchange_raw(request, true);
        let text = String::from_utf8(raw).expect("utf-8 answer");
        let (head, body) = text.split_once("\r\n\r\n").expect("HTTP answer");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
        let body = if body.is_empty() { serde_json::Value::Null } else { serde_json::from_str(body).expect("JSON body") };
        Response { status, body }
    }
}

/// Starts `trent ARGS` (a proxy) and reads its listening line: the child
/// and its port, or its standard error if it stops before listening.
fn spawn(args: &[std::ffi::OsString], env: &[(String, String)], tls: bool) -> Result<(Child, u16), String> {
    // A file, not a pipe: a pipe nobody reads would block a chatty server.
    let mut stderr = tempfile::tempfile().expect("a file for standard error");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(stderr.try_clone().expect("standard error file"))
        .spawn()
        .expect("starting trent xks-proxy");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("listening line");
    if line.is_empty() {
        let status = child.wait().expect("waiting for trent xks-proxy");
        let mut text = String::new();
        use std::io::Seek;
        stderr.seek(std::io::SeekFrom::Start(0)).and_then(|_| stderr.read_to_string(&mut text)).expect("reading standard error");
        return Err(format!("{text} ({status})"));
    }
    let scheme = if tls { "https" } else { "http" };
    let port = line
        .strip_prefix(&format!("Trent xks-proxy listening on {scheme}://127.0.0.1:"))
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected listening line {line:?}"));
    Ok((child, port))
}

impl Proxy {
    /// Signs `signed_body` but sends `sent_body` (same length), to show the
    /// body is covered by the signature.
    pub fn send_signed_for(&self, path: &str, signed_body: &str, sent_body: &str, credential: &Credential) -> Response {
        assert_eq!(signed_body.len(), sent_body.len());
        let mut auth_headers = Vec::new();
        // Sign once with the signed body and capture the headers.
        let _ = self.send("POST", path, signed_body, Some(credential), |h| auth_headers = h.clone());
        let mut raw = format!("POST {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n", sent_body.len());
        for (n, v) in &auth_headers {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        raw.push_str(sent_body);
        self.exchange(raw.as_bytes())
    }
}
