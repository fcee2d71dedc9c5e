//! TLS server configurations from PEM files, rustls on aws-lc-rs: one
//! builder for `trent serve` ([`crate::serve::tls`]) and `trent xks-proxy`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A server configuration: the certificate chain and key in `cert` and
/// `key`, requiring a client certificate issued by one of `client_ca`'s
/// certificates when given, offering `alpn` protocols. Errors name the file.
pub fn server_config(cert: &Path, key_path: &Path, client_ca: Option<&Path>, alpn: &[&[u8]]) -> Result<rustls::ServerConfig, String> {
    let certs = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| format!("cannot read the private key from {}: {e}", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| e.to_string())?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in read_certs(path)? {
                roots.add(ca).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| format!("{} and {}: bad certificate or key: {e}", cert.display(), key_path.display()))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(certs)
}
