//! `trent xks-proxy`: run the proxy, or manage its keys and credentials.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use clap::{Args, Subcommand};

use super::credentials;
use super::handler::{Proxy, API_PATH};
use super::keys::{self, KeyBackend, KeyFile, KeyStatus, SoftwareBackend};
use super::pkcs11::{self, Pkcs11Backend, TokenConfig};
use super::server;
use super::store::{self, DataDir};
use crate::serve::data_dir_lock::DataDirLock;

/// `trent xks-proxy [OPTIONS]` serves; `trent xks-proxy
/// key|credential|rotate-root ...` manages the data directory.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct XksProxyCommand {
    #[command(subcommand)]
    command: Option<Manage>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The proxy's data directory (root key, keys, credentials).
    #[arg(long, env = "TRENT_XKS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address and port to listen on (port 0 picks one; the listening line
    /// says which).
    #[arg(long, required = true)]
    listen: Option<SocketAddr>,
    /// PEM certificate chain for TLS.
    #[arg(long, required_unless_present = "insecure_http")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(long, required_unless_present = "insecure_http")]
    tls_key: Option<PathBuf>,
    /// The URI path prefix before /kms/xks/v1, e.g. /example/prefix (the
    /// external key store's XksProxyUriPath is PREFIX/kms/xks/v1).
    /// Repeatable: one per external key store on this proxy (AWS wants
    /// each store's endpoint and path unique); all serve the same keys
    /// and credentials.
    #[arg(long, default_value = "")]
    uri_path_prefix: Vec<String>,
    /// Serve plain HTTP instead of TLS. Only for tests and a TLS-terminating
    /// proxy in front: KMS itself only speaks HTTPS.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    insecure_http: bool,
    #[command(flatten)]
    token: TokenArgs,
    /// PKCS#11 sessions the proxy opens at most (requests beyond them wait).
    #[arg(long, default_value_t = pkcs11::DEFAULT_MAX_SESSIONS, requires = "pkcs11_module")]
    pkcs11_max_sessions: usize,
    /// How long a request waits for a free PKCS#11 session before it
    /// answers DependencyTimeoutException (503), well within the 250 ms
    /// AWS KMS gives a proxy.
    #[arg(long, default_value_t = pkcs11::DEFAULT_SESSION_WAIT_MS, requires = "pkcs11_module")]
    pkcs11_session_wait_ms: u64,
}

/// Keys in a PKCS#11 token instead of the data directory. The user PIN
/// comes from --pkcs11-pin-file or TRENT_XKS_PKCS11_PIN, never from an
/// argument (which `ps` shows).
#[derive(Args, Debug)]
struct TokenArgs {
    /// The PKCS#11 module (shared library) of the token holding the keys.
    #[arg(long, requires = "pkcs11_token_label")]
    pkcs11_module: Option<PathBuf>,
    /// The label of the token; a key's CKA_LABEL is its external key id.
    #[arg(long, requires = "pkcs11_module")]
    pkcs11_token_label: Option<String>,
    /// A file whose first line is the token's user PIN (else TRENT_XKS_PKCS11_PIN).
    #[arg(long, requires = "pkcs11_module")]
    pkcs11_pin_file: Option<PathBuf>,
}

impl TokenArgs {
    fn config(&self) -> Option<TokenConfig> {
        Some(TokenConfig {
            module: self.pkcs11_module.clone()?,
            label: self.pkcs11_token_label.clone()?,
            pin_file: self.pkcs11_pin_file.clone(),
            max_sessions: pkcs11::DEFAULT_MAX_SESSIONS,
            session_wait: None,
        })
    }
}

#[derive(Subcommand, Debug)]
enum Manage {
    /// External keys (AES-256, sealed under the data directory's root key).
    #[command(subcommand)]
    Key(KeyCommand),
    /// SigV4 credentials KMS signs with (XksProxyAuthenticationCredential).
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Replace the root key and reseal every key and credential under the
    /// new one (offline: stop the proxy first). Resumable: after a crash,
    /// run it again. KMS sees no change.
    RotateRoot {
        #[command(flatten)]
        dir: DirArg,
    },
}

#[derive(Args, Debug)]
struct DirArg {
    /// The proxy's data directory.
    #[arg(long, env = "TRENT_XKS_DATA_DIR")]
    data_dir: PathBuf,
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Create a key (prints its id, never its material).
    Create {
        #[command(flatten)]
        dir: DirArg,
        /// The external key id (A-Z a-z 0-9 - . _, up to 128); a new UUID if absent.
        #[arg(long)]
        key_id: Option<String>,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// List the keys and their status (with --pkcs11-*: the token keys
    /// this data directory knows).
    List {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Disable a key: GetKeyMetadata says DISABLED; Encrypt and Decrypt
    /// answer InvalidStateException.
    Disable {
        #[command(flatten)]
        dir: DirArg,
        #[arg(long)]
        key_id: String,
        #[command(flatten)]
        token: TokenArgs,
    },
    /// Enable a disabled key.
    Enable {
        #[command(flatten)]
        dir: DirArg,
        #[arg(long)]
        key_id: String,
        #[command(flatten)]
        token: TokenArgs,
    },
}

#[derive(Subcommand, Debug)]
enum CredentialCommand {
    /// Create a credential; prints its AccessKeyId and SecretAccessKey once.
    Create {
        #[command(flatten)]
        dir: DirArg,
    },
    /// List the access key ids.
    List {
        #[command(flatten)]
        dir: DirArg,
    },
    /// Delete a credential (after KMS has moved to a newer one).
    Delete {
        #[command(flatten)]
        dir: DirArg,
        #[arg(long)]
        access_key_id: String,
    },
}

/// Runs the command; the server needs the runtime, the rest do not.
pub fn run(command: XksProxyCommand, runtime: impl FnOnce() -> Result<tokio::runtime::Runtime, String>) -> Result<(), String> {
    match command.command {
        Some(Manage::Key(k)) => key(k),
        Some(Manage::Credential(c)) => credential(c),
        Some(Manage::RotateRoot { dir }) => super::rotate_root::run(&dir.data_dir),
        None => {
            let (proxy, listen, tls, _serving) = prepare(command.serve)?;
            runtime()?.block_on(server::serve(proxy, listen, tls))
        }
    }
}

/// The proxy, ready to serve, and the data directory's lock it holds
/// while it runs (`rotate-root` refuses meanwhile).
fn prepare(a: ServeArgs) -> Result<(Proxy, SocketAddr, Option<rustls::ServerConfig>, DataDirLock), String> {
    let data_dir = a.data_dir.ok_or("--data-dir (or TRENT_XKS_DATA_DIR) is required")?;
    let listen = a.listen.ok_or("--listen is required")?;
    let mut prefixes: Vec<String> = Vec::new();
    for prefix in &a.uri_path_prefix {
        let prefix = prefix.trim_end_matches('/').to_string();
        check_prefix(&prefix)?;
        if prefixes.contains(&prefix) {
            return Err(format!("--uri-path-prefix {prefix:?} is given twice"));
        }
        prefixes.push(prefix);
    }
    let tls = match (a.insecure_http, a.tls_cert, a.tls_key) {
        (true, _, _) => None,
        (false, Some(cert), Some(key)) => Some(server::tls_config(&cert, &key)?),
        _ => return Err("--tls-cert and --tls-key are required (or --insecure-http)".to_string()),
    };
    let dir = DataDir::open(&data_dir)?;
    let serving = store::lock_serving(&data_dir, "trent xks-proxy")?;
    let root_key = Arc::new(dir.root_key()?);
    let backend: Box<dyn KeyBackend> = match a.token.config() {
        Some(mut config) => {
            config.max_sessions = a.pkcs11_max_sessions.max(1);
            config.session_wait = Some(std::time::Duration::from_millis(a.pkcs11_session_wait_ms));
            let (module, token) = pkcs11::open_token(&config)?;
            Box::new(Pkcs11Backend::new(dir.clone(), config, module, token))
        }
        None => Box::new(SoftwareBackend::new(dir.clone(), root_key.clone())),
    };
    Ok((Proxy { dir, root_key, backend, prefixes }, listen, tls, serving))
}

/// The spec: XksProxyUriPath (PREFIX/kms/xks/v1) is at most 128 characters
/// of a-z A-Z 0-9 / - _.
fn check_prefix(prefix: &str) -> Result<(), String> {
    let ok_chars = prefix.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_'));
    if !(prefix.is_empty() || prefix.starts_with('/')) || !ok_chars || prefix.len() + API_PATH.len() > 128 {
        return Err(format!(
            "--uri-path-prefix {prefix:?}: must start with / and hold only a-z A-Z 0-9 / - _, \
             at most {} characters",
            128 - API_PATH.len()
        ));
    }
    Ok(())
}

fn key(command: KeyCommand) -> Result<(), String> {
    match command {
        KeyCommand::Create { dir, key_id, token } => {
            let key_id = key_id.unwrap_or_else(|| trent_crypto::new_uuid().to_string());
            if !keys::is_key_id(&key_id) {
                return Err(format!("{key_id:?} is not an external key id: 1 to 128 of A-Z a-z 0-9 - . _"));
            }
            let _change = lock_change(&dir.data_dir, "trent xks-proxy key create")?;
            if let Some(config) = token.config() {
                return create_token_key(&dir.data_dir, &config, &key_id);
            }
            let d = DataDir::open(&dir.data_dir)?;
            let root = d.root_key()?;
            let material = trent_crypto::random_secret(32).map_err(|e| e.to_string())?;
            let sealed = root.seal(material.as_bytes(), &keys::material_aad(&key_id)).map_err(|e| e.to_string())?;
            let file = KeyFile {
                key_id: key_id.clone(),
                status: KeyStatus::Enabled,
                created: store::now_unix(),
                material: base64::engine::general_purpose::STANDARD.encode(sealed),
            };
            write_key(&d, &file, false)?;
            println!("{key_id}");
            Ok(())
        }
        KeyCommand::List { dir, token } if token.config().is_some() => {
            let d = DataDir::open(&dir.data_dir)?;
            for id in d.list(store::TOKEN_KEYS_DIR)? {
                println!("{id}\t{}", pkcs11::read_status(&d, &id)?.as_str());
            }
            Ok(())
        }
        KeyCommand::List { dir, .. } => {
            let (d, backend) = open_backend(&dir.data_dir)?;
            for id in d.list(store::KEYS_DIR)? {
                match backend.read(&id)? {
                    Some(f) => println!("{}\t{}", f.key_id, f.status.as_str()),
                    None => continue,
                }
            }
            Ok(())
        }
        KeyCommand::Disable { dir, key_id, token } => {
            let _change = lock_change(&dir.data_dir, "trent xks-proxy key disable")?;
            match token.config() {
            Some(config) => set_token_status(&dir.data_dir, &config, &key_id, KeyStatus::Disabled),
            None => set_status(&dir.data_dir, &key_id, KeyStatus::Disabled),
            }
        }
        KeyCommand::Enable { dir, key_id, token } => {
            let _change = lock_change(&dir.data_dir, "trent xks-proxy key enable")?;
            match token.config() {
                Some(config) => set_token_status(&dir.data_dir, &config, &key_id, KeyStatus::Enabled),
                None => set_status(&dir.data_dir, &key_id, KeyStatus::Enabled),
            }
        }
    }
}

/// Generates the key in the token (sensitive, never extractable), then
/// records it ENABLED in the data directory.
fn create_token_key(data_dir: &Path, config: &TokenConfig, key_id: &str) -> Result<(), String> {
    let d = DataDir::open(data_dir)?;
    let (_module, token) = pkcs11::open_token(config)?;
    token.generate_aes_key(key_id).map_err(|e| e.to_string())?;
    pkcs11::write_status(&d, key_id, KeyStatus::Enabled, true)?;
    println!("{key_id}");
    Ok(())
}

/// Records a token key's status; the key must be in the token.
fn set_token_status(data_dir: &Path, config: &TokenConfig, key_id: &str, status: KeyStatus) -> Result<(), String> {
    if !keys::is_key_id(key_id) {
        return Err(format!("no key {key_id:?}"));
    }
    let d = DataDir::open(data_dir)?;
    let (_module, token) = pkcs11::open_token(config)?;
    token.find_aes_key(key_id).map_err(|e| e.to_string())?;
    pkcs11::write_status(&d, key_id, status, true)?;
    println!("{key_id}\t{}", status.as_str());
    Ok(())
}

/// The change lock of a command that writes (see [`store::lock_change`]),
/// on DIR made if need be.
fn lock_change(data_dir: &Path, who: &str) -> Result<DataDirLock, String> {
    DataDir::open(data_dir)?;
    store::lock_change(data_dir, who)
}

fn open_backend(data_dir: &Path) -> Result<(DataDir, SoftwareBackend), String> {
    let d = DataDir::open(data_dir)?;
    let root = Arc::new(d.root_key()?);
    Ok((d.clone(), SoftwareBackend::new(d, root)))
}

fn set_status(data_dir: &Path, key_id: &str, status: KeyStatus) -> Result<(), String> {
    if !keys::is_key_id(key_id) {
        return Err(format!("no key {key_id:?}"));
    }
    let (d, backend) = open_backend(data_dir)?;
    let mut file = backend.read(key_id)?.ok_or_else(|| format!("no key {key_id:?}"))?;
    file.status = status;
    write_key(&d, &file, true)?;
    println!("{key_id}\t{}", status.as_str());
    Ok(())
}

fn write_key(d: &DataDir, file: &KeyFile, replace: bool) -> Result<(), String> {
    let json = serde_json::to_vec_pretty(file).map_err(|e| e.to_string())?;
    store::write_atomic(&d.key_file(&file.key_id), &json, replace)
}

fn credential(command: CredentialCommand) -> Result<(), String> {
    match command {
        CredentialCommand::Create { dir } => {
            let _change = lock_change(&dir.data_dir, "trent xks-proxy credential create")?;
            let d = DataDir::open(&dir.data_dir)?;
            let root = d.root_key()?;
            let (id, secret) = credentials::create(&d, &root)?;
            let secret = std::str::from_utf8(secret.as_bytes()).map_err(|e| e.to_string())?;
            // Shown this once; only the sealed form is kept.
            println!("AccessKeyId: {id}");
            println!("SecretAccessKey: {secret}");
            Ok(())
        }
        CredentialCommand::List { dir } => {
            for id in DataDir::open(&dir.data_dir)?.list(store::CREDENTIALS_DIR)? {
                println!("{id}");
            }
            Ok(())
        }
        CredentialCommand::Delete { dir, access_key_id } => {
            let _change = lock_change(&dir.data_dir, "trent xks-proxy credential delete")?;
            if credentials::delete(&DataDir::open(&dir.data_dir)?, &access_key_id)? {
                Ok(())
            } else {
                Err(format!("no credential {access_key_id:?}"))
            }
        }
    }
}
