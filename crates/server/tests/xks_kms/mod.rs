//! The KMS side's test harness for external key stores (the SDK tests):
//! `trent serve` trusting a real `trent xks-proxy` and a small fake proxy
//! on TLS that answers as told (or relays to the real one, changing its
//! answers), and helpers over aws-sdk-kms.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{ConnectionErrorCodeType, ConnectionStateType, CustomKeyStoreType, CustomKeyStoresListEntry, OriginType, XksProxyAuthenticationCredentialType, XksProxyConnectivityType};
use aws_sdk_kms::Client;

use crate::common::{self, code, Trent, REGION};
use crate::xks::{self, Credential, Proxy, PREFIX};

pub const REAL: &str = "https://localhost";
pub const FAKE: &str = "https://fake.test";
pub const SILENT: &str = "https://silent.test";
pub const HEALTHY: &str = r#"{"xksProxyFleetSize":1,"xksProxyVendor":"Fake","xksProxyModel":"Fake 1","ekmVendor":"Fake","ekmFleetDetails":[{"id":"a","model":"m","healthStatus":"ACTIVE"}]}"#;

pub fn path() -> String {
    format!("{PREFIX}/kms/xks/v1")
}

/// What the fake proxy does with its next connections.
#[derive(Clone)]
pub enum Mode {
    /// Answers every request with this status and body.
    Answer(u16, String),
    /// Accepts the connection and never says a word.
    Silent,
    /// Completes TLS, reads the request, never answers it.
    Mute,
    /// TLS with a certificate Trent does not trust.
    Untrusted,
    /// Passes the request on to the real proxy (TLS, trusted by this
    /// config, at this port) and its answer back, an Encrypt answer's JSON
    /// changed by the function on the way (a proxy or network that
    /// corrupts what it returns).
    Relay(Arc<rustls::ClientConfig>, u16, fn(&mut serde_json::Value)),
}

/// A TLS server on 127.0.0.1 that answers as told.
pub struct FakeProxy {
    pub port: u16,
    mode: Arc<Mutex<Mode>>,
    stopped: Arc<AtomicBool>,
}

impl FakeProxy {
    pub fn start(trusted: Arc<rustls::ServerConfig>, untrusted: Arc<rustls::ServerConfig>, mode: Mode) -> FakeProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (mode, stopped) = (Arc::new(Mutex::new(mode)), Arc::new(AtomicBool::new(false)));
        let (m, s) = (mode.clone(), stopped.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break; // the listener closes: connections are refused
                }
                let Ok(tcp) = tcp else { continue };
                let mode = m.lock().unwrap().clone();
                let (trusted, untrusted) = (trusted.clone(), untrusted.clone());
                std::thread::spawn(move || serve(tcp, mode, trusted, untrusted));
            }
        });
        FakeProxy { port, mode, stopped }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn serve(tcp: TcpStream, mode: Mode, trusted: Arc<rustls::ServerConfig>, untrusted: Arc<rustls::ServerConfig>) {
    let relayed = match &mode {
        Mode::Relay(client, port, tamper) => Some((client.clone(), *port, *tamper)),
        _ => None,
    };
    let (config, status, body) = match mode {
        Mode::Silent => {
            std::thread::sleep(Duration::from_secs(30));
            return;
        }
        Mode::Untrusted => (untrusted, 200, HEALTHY.to_string()),
        Mode::Mute => (trusted, 0, String::new()),
        Mode::Answer(status, body) => (trusted, status, body),
        Mode::Relay(..) => (trusted, 0, String::new()),
    };
    let Ok(conn) = rustls::ServerConnection::new(config) else { return };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // The head, then as much body as content-length says.
    loop {
        let Ok(n) = tls.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))).unwrap_or(0);
            if rest.len() >= len {
                break;
            }
        }
    }
    let (status, body) = match relayed {
        Some((client, port, tamper)) => relay(&raw, client, port, tamper),
        None if status == 0 => {
            std::thread::sleep(Duration::from_secs(30));
            return;
        }
        None => (status, body),
    };
    let answer = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
    let _ = tls.write_all(answer.as_bytes());
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// One HTTP exchange with the real proxy: `raw` (a whole request) sent
/// as it came, so its SigV4 signature still holds; the answer's status and
/// body, an Encrypt answer's JSON passed through `tamper`.
pub fn relay(raw: &[u8], client: Arc<rustls::ClientConfig>, port: u16, tamper: fn(&mut serde_json::Value)) -> (u16, String) {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client, name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(("127.0.0.1", port)).unwrap());
    tls.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let (head, body) = loop {
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0, "the real proxy closed before answering");
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())).unwrap();
            if rest.len() >= len {
                break (head.to_string(), rest[..len].to_string());
            }
        }
    };
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let first_line = String::from_utf8_lossy(raw).lines().next().unwrap_or("").to_string();
    if status != 200 || !first_line.contains("/encrypt ") {
        return (status, body);
    }
    let mut json: serde_json::Value = serde_json::from_str(&body).unwrap();
    tamper(&mut json);
    (status, json.to_string())
}

pub fn server_config(name: &str) -> (Arc<rustls::ServerConfig>, String) {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    (Arc::new(config), certified.cert.pem())
}

/// A real proxy, a fake one, a silent listener, and Trent trusting the
/// first two (not the fake's "untrusted" certificate).
pub struct Setup {
    pub proxy: Proxy,
    pub fake: FakeProxy,
    _silent: TcpListener,
    _bundle_dir: tempfile::TempDir,
    pub trent: Trent,
    /// The proxy's SoftHSM2 token, if it has one (dropped after the proxy).
    _token: Option<common::softhsm::TestToken>,
}

impl Setup {
    pub fn start() -> Setup {
        Setup::start_on(Proxy::start(), None)
    }

    pub fn start_on(proxy: Proxy, token: Option<common::softhsm::TestToken>) -> Setup {
        let (trusted, fake_pem) = server_config("fake.test");
        let (untrusted, _) = server_config("fake.test");
        let fake = FakeProxy::start(trusted, untrusted, Mode::Answer(200, HEALTHY.into()));
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let bundle_dir = tempfile::tempdir().unwrap();
        let bundle: PathBuf = bundle_dir.path().join("xks-ca.pem");
        let proxy_pem = std::fs::read_to_string(proxy.dir.path().join("cert.pem")).unwrap();
        std::fs::write(&bundle, format!("{proxy_pem}{fake_pem}")).unwrap();
        let args = [
            "--xks-ca-bundle".to_string(),
            bundle.display().to_string(),
            "--xks-timeout-ms".into(),
            "3000".into(),
            "--xks-connect-to".into(),
            format!("localhost=127.0.0.1:{}", proxy.port),
            "--xks-connect-to".into(),
            format!("fake.test=127.0.0.1:{}", fake.port),
            "--xks-connect-to".into(),
            format!("silent.test=127.0.0.1:{}", silent.local_addr().unwrap().port()),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let trent = Trent::start(&args);
        Setup { proxy, fake, _silent: silent, _bundle_dir: bundle_dir, trent, _token: token }
    }

    pub fn client(&self) -> Client {
        self.trent.client(REGION)
    }

    /// The fake proxy relays to the real one, `tamper` changing Encrypt's answers.
    pub fn relay(&self, tamper: fn(&mut serde_json::Value)) {
        let cert = std::fs::read(self.proxy.dir.path().join("cert.pem")).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        roots.add(rustls::pki_types::CertificateDer::from_pem_slice(&cert).unwrap()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().unwrap().with_root_certificates(roots).with_no_client_auth();
        self.fake.set(Mode::Relay(Arc::new(config), self.proxy.port, tamper));
    }
}

pub fn credential(c: &Credential) -> XksProxyAuthenticationCredentialType {
    XksProxyAuthenticationCredentialType::builder().access_key_id(&c.access_key_id).raw_secret_access_key(&c.secret).build().unwrap()
}

pub async fn create(client: &Client, name: &str, endpoint: &str, path: &str, c: &Credential) -> Result<String, String> {
    client
        .create_custom_key_store()
        .custom_key_store_name(name)
        .custom_key_store_type(CustomKeyStoreType::ExternalKeyStore)
        .xks_proxy_uri_endpoint(endpoint)
        .xks_proxy_uri_path(path)
        .xks_proxy_authentication_credential(credential(c))
        .xks_proxy_connectivity(XksProxyConnectivityType::PublicEndpoint)
        .send()
        .await
        .map(|o| o.custom_key_store_id().unwrap().to_owned())
        .map_err(|e| code(&e))
}

pub async fn entry(client: &Client, id: &str) -> CustomKeyStoresListEntry {
    client.describe_custom_key_stores().custom_key_store_id(id).send().await.unwrap().custom_key_stores()[0].clone()
}

/// Connects (from DISCONNECTED) and returns the state and error code after.
pub async fn connect(client: &Client, id: &str) -> (ConnectionStateType, Option<ConnectionErrorCodeType>) {
    client.connect_custom_key_store().custom_key_store_id(id).send().await.unwrap();
    let e = entry(client, id).await;
    (e.connection_state().unwrap().clone(), e.connection_error_code().cloned())
}

pub async fn disconnect(client: &Client, id: &str) {
    client.disconnect_custom_key_store().custom_key_store_id(id).send().await.unwrap();
}

/// A connected external key store on the real proxy.
pub async fn connected_store(s: &Setup, name: &str) -> String {
    let client = s.client();
    let id = create(&client, name, REAL, &path(), &s.proxy.credential).await.unwrap();
    assert_eq!(connect(&client, &id).await, (ConnectionStateType::Connected, None));
    id
}

pub async fn create_xks_key(client: &Client, store: &str, xks_key_id: &str) -> Result<String, String> {
    client
        .create_key()
        .origin(OriginType::ExternalKeyStore)
        .custom_key_store_id(store)
        .xks_key_id(xks_key_id)
        .send()
        .await
        .map(|o| o.key_metadata().unwrap().key_id().to_owned())
        .map_err(|e| code(&e))
}

pub fn proxy_key(s: &Setup, verb: &str, id: &str) {
    xks::trent(s.proxy.dir.path(), &["key", verb, "--key-id", id]);
}

pub async fn encrypt(client: &Client, key: &str, plaintext: &[u8], context: &[(&str, &str)]) -> Vec<u8> {
    let mut req = client.encrypt().key_id(key).plaintext(Blob::new(plaintext));
    for (k, v) in context {
        req = req.encryption_context(*k, *v);
    }
    req.send().await.unwrap().ciphertext_blob().unwrap().as_ref().to_vec()
}

pub async fn decrypt(client: &Client, blob: &[u8], context: &[(&str, &str)]) -> Result<(Vec<u8>, String), String> {
    let mut req = client.decrypt().ciphertext_blob(Blob::new(blob.to_vec()));
    for (k, v) in context {
        req = req.encryption_context(*k, *v);
    }
    req.send().await.map(|o| (o.plaintext().unwrap().as_ref().to_vec(), o.key_id().unwrap().to_owned())).map_err(|e| code(&e))
}

/// One bit of an answer's Base64 member flipped.
pub fn flip(answer: &mut serde_json::Value, member: &str) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut bytes = b64.decode(answer[member].as_str().unwrap()).unwrap();
    bytes[0] ^= 0x01;
    answer[member] = b64.encode(bytes).into();
}

pub fn message<E: aws_sdk_kms::error::ProvideErrorMetadata>(e: &E) -> String {
    e.message().unwrap_or("").to_owned()
}
