//! `--tls-cert`, `--tls-key`, `--tls-client-ca`: HTTPS for `trent serve`,
//! its configuration reloaded from the same files on SIGHUP. A reload
//! changes what new handshakes get; connections already open keep theirs.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio_rustls::TlsAcceptor;

#[derive(clap::Args, Debug, Clone)]
pub struct TlsOptions {
    /// PEM certificate chain (leaf first): serve HTTPS instead of HTTP
    /// (with --tls-key). SIGHUP reloads it, the key and the client CA.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificates: every client must present a certificate one
    /// of them issued (mutual TLS), besides signing its requests.
    #[arg(long)]
    pub tls_client_ca: Option<PathBuf>,
}

impl TlsOptions {
    /// The TLS configuration, or `None` for plain HTTP.
    pub fn load(&self) -> Result<Option<Arc<Tls>>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (None, None) if self.tls_client_ca.is_some() => Err("--tls-client-ca needs --tls-cert and --tls-key".to_owned()),
            (None, None) => Ok(None),
            (Some(_), Some(_)) => {
                let config = self.read()?;
                Ok(Some(Arc::new(Tls { options: self.clone(), current: RwLock::new(config) })))
            }
            _ => Err("--tls-cert and --tls-key go together".to_owned()),
        }
    }

    fn read(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Err("--tls-cert and --tls-key go together".to_owned());
        };
        // h2 too: the connection loop serves both (hyper's auto builder).
        let config = crate::tls::server_config(cert, key, self.tls_client_ca.as_deref(), &[b"h2", b"http/1.1"])?;
        Ok(Arc::new(config))
    }
}

/// The TLS configuration new connections get.
pub struct Tls {
    options: TlsOptions,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl Tls {
    /// An acceptor with the configuration in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        // A poisoned lock still holds a whole configuration (it is only ever replaced).
        TlsAcceptor::from(self.current.read().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Reads the files again; on an error the configuration in force stays.
    pub fn reload(&self) -> Result<(), String> {
        let config = self.options.read()?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }
}

/// Reloads `tls` on every SIGHUP. The handler is installed before this
/// returns, so a SIGHUP sent after the listening line never ends Trent.
pub fn reload_on_sighup(tls: Arc<Tls>) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hups = signal(SignalKind::hangup()).map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
    tokio::spawn(async move {
        while hups.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!(cert = %tls.options.tls_cert.as_ref().map(|p| p.display().to_string()).unwrap_or_default(), "SIGHUP: reloaded the TLS certificate and key"),
                Err(e) => tracing::error!(error = %e, "SIGHUP: the TLS files could not be loaded; the previous certificate stays in use"),
            }
        }
    });
    Ok(())
}
