//! `trent operator unseal|seal|status --endpoint URL`: the key holders'
//! and the operator's commands against a running server.
//!
//! `unseal` reads one share (or the passphrase) from standard input per
//! call, as `vault operator unseal` does, so a share never appears in a
//! process list or shell history; it is not sent over plain HTTP to
//! another host unless asked ([`super::plain_http`]). `seal` is signed
//! with SigV4 as the operator (credentials as the AWS CLI finds them: `AWS_ACCESS_KEY_ID`
//! and `AWS_SECRET_ACCESS_KEY`, else the shared credentials file).

use std::io::BufRead;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper_util::rt::TokioIo;
use zeroize::Zeroizing;

#[derive(clap::Subcommand, Debug)]
pub enum OperatorCommand {
    /// Give one unseal share (or the passphrase), read from standard input.
    Unseal(UnsealOptions),
    /// Seal a running server: it refuses every request until unsealed.
    Seal(SealOptions),
    /// Print whether a server is sealed and the unseal progress.
    Status(Endpoint),
    /// Seal the same root key anew (new shares, passphrase or mode), offline
    /// on the data directory and store; key material is untouched.
    Rekey(Box<super::rekey::RekeyOptions>),
    /// Replace the root key with a new one and reseal every stored secret
    /// under it: offline (the server stopped), or online with `--endpoint`
    /// (the server rotates while serving); resumable.
    RotateRoot(super::rotate::RotateOptions),
}

#[derive(clap::Args, Debug)]
pub struct Endpoint {
    /// The server, `https://HOST:PORT` (or `http://` on loopback: `unseal`
    /// refuses plain HTTP to another host without `--allow-plain-http`).
    #[arg(long, env = "TRENT_ENDPOINT")]
    pub endpoint: String,
}

#[derive(clap::Args, Debug)]
pub struct UnsealOptions {
    #[command(flatten)]
    pub endpoint: Endpoint,
    #[command(flatten)]
    pub plain_http: super::plain_http::PlainHttp,
}

#[derive(clap::Args, Debug)]
pub struct SealOptions {
    #[command(flatten)]
    pub endpoint: Endpoint,
    /// The Region to sign for.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// The shared credentials file's profile.
    #[arg(long, env = "AWS_PROFILE", default_value = "default")]
    pub profile: String,
}

pub async fn run(command: OperatorCommand) -> Result<(), String> {
    match command {
        OperatorCommand::Rekey(options) => super::rekey::run(*options).await,
        OperatorCommand::RotateRoot(options) => super::rotate::run(options).await,
        OperatorCommand::Status(e) => {
            let (_, body) = send(&e.endpoint, hyper::Request::get("/trent/seal-status"), Vec::new()).await?;
            println!("{}", String::from_utf8_lossy(&body));
            Ok(())
        }
        OperatorCommand::Unseal(UnsealOptions { endpoint: e, plain_http }) => {
            plain_http.check(&e.endpoint, "an unseal share or passphrase")?;
            let mut line = Zeroizing::new(String::new());
            std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("reading the share from standard input: {e}"))?;
            let body = Zeroizing::new(serde_json::to_vec(&serde_json::json!({ "key": line.trim() })).map_err(|e| e.to_string())?);
            let request = hyper::Request::post("/trent/unseal").header("content-type", "application/json");
            let (status, answer) = send(&e.endpoint, request, body.to_vec()).await?;
            let v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
            if status != 200 {
                return Err(format!("unseal refused ({status}): {}", v["error"].as_str().unwrap_or("no reason given")));
            }
            if v["sealed"] == false {
                println!("Unsealed.");
            } else {
                println!("Unseal progress: {}/{}", v["progress"], v["threshold"]);
            }
            Ok(())
        }
        OperatorCommand::Seal(o) => {
            let creds = credentials(&o.profile)?;
            let (status, answer) = signed_call(&o.endpoint.endpoint, &o.region, &creds, super::http::SEAL_TARGET, b"{}".to_vec()).await?;
            if status != 200 {
                return Err(format!("seal refused ({status}): {}", String::from_utf8_lossy(&answer)));
            }
            println!("Sealed.");
            Ok(())
        }
    }
}

/// `(https?, HOST:PORT)` of an `http://` or `https://` endpoint.
fn parse_endpoint(endpoint: &str) -> Result<(bool, String), String> {
    let (tls, rest) = match (endpoint.strip_prefix("https://"), endpoint.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        _ => return Err(format!("an endpoint is http://HOST[:PORT] or https://HOST[:PORT], not {endpoint}")),
    };
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(format!("an endpoint is http://HOST[:PORT] or https://HOST[:PORT], not {endpoint}"));
    }
    Ok((tls, host.to_owned()))
}

fn host_of(endpoint: &str) -> Result<String, String> {
    parse_endpoint(endpoint).map(|(_, host)| host)
}

/// The name a certificate must be for (an IPv6 host without its brackets)
/// and the address to connect to, of `HOST[:PORT]`; without a port, the
/// scheme's (443 or 80).
fn name_and_address(host: &str, tls: bool) -> Result<(String, String), String> {
    let default_port = if tls { "443" } else { "80" };
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, "")) => (ip, default_port),
            Some((ip, after)) => (ip, after.strip_prefix(':').ok_or_else(|| format!("{host}: not [IPv6]:PORT"))?),
            None => return Err(format!("{host}: an IPv6 host has no closing bracket")),
        },
        None => host.rsplit_once(':').unwrap_or((host, default_port)),
    };
    // An IPv6 host outside brackets cannot be told from its port.
    if name.is_empty() || (name.contains(':') && !host.starts_with('[')) || port.parse::<u16>().is_err() {
        return Err(format!("{host}: not HOST[:PORT]"));
    }
    let address = if name.contains(':') { format!("[{name}]:{port}") } else { format!("{name}:{port}") };
    Ok((name.to_owned(), address))
}

/// One request to `endpoint` (plain HTTP, or HTTPS checked against the
/// system's roots or `AWS_CA_BUNDLE`); the answer's status and body.
pub(crate) async fn send(endpoint: &str, request: axum::http::request::Builder, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
    let (tls, host) = parse_endpoint(endpoint)?;
    let has_host = request.headers_ref().is_some_and(|h| h.contains_key("host"));
    let request = if has_host { request } else { request.header("host", &host) };
    let request = request.body(axum::body::Body::from(body)).map_err(|e| e.to_string())?;
    let (name, addr) = name_and_address(&host, tls)?;
    let tcp = tokio::net::TcpStream::connect(&addr).await.map_err(|e| format!("connecting to {addr}: {e}"))?;
    let response = if tls {
        let name = rustls::pki_types::ServerName::try_from(name).map_err(|e| format!("{host}: {e}"))?;
        let stream = tls_connector()?.connect(name, tcp).await.map_err(|e| format!("TLS to {host}: {e}"))?;
        exchange(TokioIo::new(stream), request, &host).await?
    } else {
        exchange(TokioIo::new(tcp), request, &host).await?
    };
    Ok(response)
}

async fn exchange<T>(io: T, request: hyper::Request<axum::body::Body>, host: &str) -> Result<(u16, Vec<u8>), String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.map_err(|e| format!("{host}: {e}"))?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(|e| format!("{host}: {e}"))?;
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(axum::body::Body::new(response.into_body()), 1 << 20).await.map_err(|e| format!("{host}: {e}"))?;
    Ok((status, bytes.to_vec()))
}

/// The CA bundle to trust instead of the system's roots, as the AWS CLI
/// and SDKs take it (a PEM file of one or more certificates).
pub const CA_BUNDLE_ENV: &str = "AWS_CA_BUNDLE";

/// The roots a server's certificate is checked against: `AWS_CA_BUNDLE`'s
/// certificates when it is set (only those, as the AWS CLI does), else
/// the system's.
fn trust_roots() -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match std::env::var_os(CA_BUNDLE_ENV).filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(&path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("{CA_BUNDLE_ENV}={}: {e}", path.display()))?;
            if roots.add_parsable_certificates(certs).0 == 0 {
                return Err(format!("{CA_BUNDLE_ENV}={}: no CA certificate in it", path.display()));
            }
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    Ok(roots)
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    let roots = trust_roots()?;
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)))
}

/// A KMS-style call (AWS JSON 1.1, SigV4 for service `kms`) of `target`
/// with `body`, signed with `(access key id, secret)`.
pub(crate) async fn signed_call(endpoint: &str, region: &str, credentials: &(String, Zeroizing<String>), target: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), String> {
    let host = host_of(endpoint)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let headers = vec![
        ("content-type".to_owned(), crate::protocol::CONTENT_TYPE.to_owned()),
        ("host".to_owned(), host),
        ("x-amz-date".to_owned(), trent_sigv4::format_iso_basic(i64::try_from(now).unwrap_or(i64::MAX))),
        ("x-amz-target".to_owned(), target.to_owned()),
    ];
    let unsigned = trent_sigv4::Request { method: "POST", path: "/", query: "", headers: &trent_sigv4::borrowed(&headers), body: &body };
    let authorization = trent_sigv4::sign(&unsigned, &credentials.0, credentials.1.as_bytes(), region, "kms", &["content-type", "host", "x-amz-date", "x-amz-target"])
        .map_err(|e| format!("signing: {e}"))?;
    let mut request = hyper::Request::post("/");
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    send(endpoint, request.header("authorization", authorization), body).await
}

/// The access key as the AWS CLI finds it (environment, then the shared
/// credentials file's profile).
pub(crate) fn credentials(profile: &str) -> Result<(String, Zeroizing<String>), String> {
    if let (Ok(id), Ok(secret)) = (std::env::var("AWS_ACCESS_KEY_ID"), std::env::var("AWS_SECRET_ACCESS_KEY")) {
        return Ok((id, Zeroizing::new(secret)));
    }
    let path = match std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
        Some(p) => std::path::PathBuf::from(p),
        None => std::path::PathBuf::from(std::env::var_os("HOME").ok_or("no HOME for ~/.aws/credentials")?).join(".aws/credentials"),
    };
    let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?);
    let (mut in_profile, mut id, mut secret) = (false, None, None);
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
        } else if let (true, Some((k, v))) = (in_profile, line.split_once('=')) {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_owned()),
                "aws_secret_access_key" => secret = Some(Zeroizing::new(v.trim().to_owned())),
                _ => {}
            }
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) => Ok((id, secret)),
        _ => Err(format!("no access key for profile {profile} in {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::name_and_address;

    #[test]
    fn an_endpoint_s_host_gives_the_certificate_name_and_the_address() {
        let cases = [
            ("127.0.0.1:4600", false, "127.0.0.1", "127.0.0.1:4600"),
            ("kms.example.com", true, "kms.example.com", "kms.example.com:443"),
            ("localhost", false, "localhost", "localhost:80"),
            ("[::1]:4600", false, "::1", "[::1]:4600"),
            ("[::1]", false, "::1", "[::1]:80"),
            ("[2001:db8::7]", true, "2001:db8::7", "[2001:db8::7]:443"),
        ];
        for (host, tls, name, address) in cases {
            assert_eq!(name_and_address(host, tls), Ok((name.to_owned(), address.to_owned())), "{host}");
        }
        for host in ["::1", "::1:4600", "[::1", "[::1]4600", "[::1]:", "127.0.0.1:", "127.0.0.1:99999", "host:port", ":4600", "[]:4600"] {
            assert!(name_and_address(host, false).is_err(), "{host}");
        }
    }
}
