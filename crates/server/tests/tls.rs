//! `trent serve --tls-cert/--tls-key/--tls-client-ca`: HTTPS through the
//! AWS SDK trusting a test CA, `aws:SecureTransport` in key policies, a
//! certificate reload on SIGHUP that keeps open connections, client
//! certificates, and the header timeout bounding the handshake.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Region};
use aws_sdk_kms::primitives::Blob;
use common::{Trent, REGION};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

/// A CA that issues certificates for 127.0.0.1 and localhost.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("CA certificate").pem();
        Ca { params, key, pem }
    }

    /// A leaf certificate and its key, as PEM.
    fn issue(&self, names: &[&str]) -> (String, String) {
        let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("leaf parameters");
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &Issuer::from_params(&self.params, &self.key)).expect("leaf certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// Writes a server certificate from `ca` to `dir`/server.{pem,key} (replacing any).
fn write_server_cert(dir: &Path, ca: &Ca) -> (PathBuf, PathBuf) {
    let (cert, key) = ca.issue(&["127.0.0.1", "localhost"]);
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    // Written whole and renamed, as an operator's tooling would.
    for (path, text) in [(&cert_path, cert), (&key_path, key)] {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("writing a PEM file");
        std::fs::rename(&tmp, path).expect("renaming a PEM file");
    }
    (cert_path, key_path)
}

fn start_tls(dir: &Path, ca: &Ca, extra: &[&str]) -> Trent {
    let (cert, key) = write_server_cert(dir, ca);
    let mut args = vec!["--tls-cert", cert.to_str().expect("path"), "--tls-key", key.to_str().expect("path")];
    args.extend_from_slice(extra);
    let trent = Trent::start(&args);
    assert!(trent.endpoint().starts_with("https://"), "{}", trent.endpoint());
    trent
}

/// An SDK client signing as the admin that trusts only `ca_pem`.
fn sdk_client(trent: &Trent, ca_pem: &str) -> aws_sdk_kms::Client {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty().with_native_roots(false).with_pem_certificate(ca_pem.as_bytes());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
        .tls_context(tls::TlsContext::builder().with_trust_store(trust).build().expect("TLS context"))
        .build_https();
    let (id, secret) = trent.admin_keys();
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(trent.endpoint())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::from_keys(id, secret, None))
        .retry_config(RetryConfig::disabled())
        .http_client(http)
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// A raw TLS connection trusting only `ca_pem`, with a client certificate if given.
async fn connect(port: u16, ca_pem: &str, client: Option<(String, String)>) -> std::io::Result<Tls> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM")).expect("CA certificate");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("client PEM")], PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key PEM"))
            .expect("client certificate"),
    };
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await
}

type Sender = hyper::client::conn::http1::SendRequest<String>;

/// HTTP/1.1 over `tls`; the connection task runs until the server closes it.
async fn http1(tls: Tls) -> Sender {
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    sender
}

/// An unsigned request: any answer (an AWS error) shows the connection
/// carries requests.
async fn ask(sender: &mut Sender) -> Result<u16, hyper::Error> {
    let request = hyper::Request::post("/").header("host", "127.0.0.1").body(String::new()).expect("request");
    Ok(sender.send_request(request).await?.status().as_u16())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sdk_works_over_tls_with_a_private_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new();
    let trent = start_tls(dir.path(), &ca, &[]);
    let kms = sdk_client(&trent, &ca.pem);
    let key = kms.create_key().send().await.expect("CreateKey over TLS").key_metadata.expect("metadata").key_id;
    let blob = kms.encrypt().key_id(&key).plaintext(Blob::new("secret")).send().await.expect("Encrypt").ciphertext_blob.expect("blob");
    let plain = kms.decrypt().ciphertext_blob(blob).send().await.expect("Decrypt").plaintext.expect("plaintext");
    assert_eq!(plain.as_ref(), b"secret");

    // A client that does not trust the CA is refused at the handshake.
    let other = Ca::new();
    assert!(sdk_client(&trent, &other.pem).list_keys().send().await.is_err(), "a certificate from an untrusted CA was accepted");
}

/// A key whose policy denies Encrypt without TLS and GenerateDataKey with it.
async fn transport_policy_key(kms: &aws_sdk_kms::Client) -> String {
    let meta = kms.create_key().send().await.expect("CreateKey").key_metadata.expect("metadata");
    let account = meta.aws_account_id.expect("account");
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Sid":"NoPlainEncrypt","Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*","Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}},
        {{"Sid":"NoTlsDataKey","Effect":"Deny","Principal":"*","Action":"kms:GenerateDataKey","Resource":"*","Condition":{{"Bool":{{"aws:SecureTransport":"true"}}}}}}]}}"#
    );
    kms.put_key_policy().key_id(&meta.key_id).policy(policy).send().await.expect("PutKeyPolicy");
    meta.key_id
}

fn denied<E>(result: Result<impl std::fmt::Debug, aws_sdk_kms::error::SdkError<E>>) -> bool
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match result {
        Err(e) => e.as_service_error().and_then(|s| s.code()) == Some("AccessDeniedException"),
        Ok(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secure_transport_is_true_over_tls_and_false_without() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new();
    let tls = start_tls(dir.path(), &ca, &[]);
    let kms = sdk_client(&tls, &ca.pem);
    let key = transport_policy_key(&kms).await;
    kms.encrypt().key_id(&key).plaintext(Blob::new("x")).send().await.expect("Encrypt over TLS is allowed");
    assert!(denied(kms.generate_data_key().key_id(&key).number_of_bytes(32).send().await), "GenerateDataKey over TLS was not denied");

    let plain = Trent::start(&[]);
    let kms = plain.client(REGION);
    let key = transport_policy_key(&kms).await;
    assert!(denied(kms.encrypt().key_id(&key).plaintext(Blob::new("x")).send().await), "Encrypt over plain HTTP was not denied");
    kms.generate_data_key().key_id(&key).number_of_bytes(32).send().await.expect("GenerateDataKey over plain HTTP is allowed");
}

fn sighup(trent: &Trent) {
    let status = std::process::Command::new("kill").args(["-HUP", &trent.pid().to_string()]).status().expect("kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_certificate_and_keeps_open_connections() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (old_ca, new_ca) = (Ca::new(), Ca::new());
    let trent = start_tls(dir.path(), &old_ca, &[]);
    let mut open = http1(connect(trent.port(), &old_ca.pem, None).await.expect("handshake with the first certificate")).await;
    ask(&mut open).await.expect("a request on the open connection");

    write_server_cert(dir.path(), &new_ca);
    sighup(&trent);
    let deadline = Instant::now() + Duration::from_secs(10);
    while connect(trent.port(), &new_ca.pem, None).await.is_err() {
        assert!(Instant::now() < deadline, "new handshakes still get the old certificate; log:\n{}", trent.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(connect(trent.port(), &old_ca.pem, None).await.is_err(), "a new handshake got the old certificate");
    // The connection made before the reload still carries requests.
    ask(&mut open).await.expect("a request on the connection opened before the reload");

    // Files that do not load leave the certificate in force (and Trent running).
    std::fs::write(dir.path().join("server.pem"), "not a certificate").expect("writing");
    sighup(&trent);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = http1(connect(trent.port(), &new_ca.pem, None).await.expect("the reloaded certificate stays after a failed reload")).await;
    ask(&mut again).await.expect("a request");
    assert!(trent.log().contains("the previous certificate stays in use"), "log:\n{}", trent.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_ca_requires_a_certificate_it_issued() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server_ca, client_ca, stranger) = (Ca::new(), Ca::new(), Ca::new());
    let ca_file = dir.path().join("clients.pem");
    std::fs::write(&ca_file, &client_ca.pem).expect("writing the client CA");
    let trent = start_tls(dir.path(), &server_ca, &["--tls-client-ca", ca_file.to_str().expect("path")]);

    let mut with_cert = http1(connect(trent.port(), &server_ca.pem, Some(client_ca.issue(&["client"]))).await.expect("handshake")).await;
    ask(&mut with_cert).await.expect("a client with a certificate the CA issued is served");

    // TLS 1.3 reports the refusal at the first read, so each is asked once.
    for client in [None, Some(stranger.issue(&["client"]))] {
        let refused = match connect(trent.port(), &server_ca.pem, client).await {
            Err(_) => true,
            Ok(tls) => ask(&mut http1(tls).await).await.is_err(),
        };
        assert!(refused, "a client without a certificate from the client CA was served");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_header_timeout_bounds_the_handshake() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new();
    let trent = start_tls(dir.path(), &ca, &["--header-timeout-secs", "1"]);
    let mut silent = TcpStream::connect(("127.0.0.1", trent.port())).await.expect("connect");
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), tokio::io::AsyncReadExt::read(&mut silent, &mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "a silent connection was not closed: {read:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
}

#[test]
fn mismatched_tls_flags_are_refused_before_the_data_directory_is_made() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let cert = dir.path().join("missing.pem");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-key", "k.pem", "--data-dir"])
        .arg(&data)
        .output()
        .expect("running trent");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-cert and --tls-key go together"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-key", "k.pem", "--tls-cert"])
        .arg(&cert)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("running trent");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.matches(cert.to_str().expect("path")).count(), 1, "the error names the file once: {stderr}");
    assert!(!data.exists(), "the data directory was made by a start that failed");
}
