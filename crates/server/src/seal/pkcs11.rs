//! The `pkcs11` seal mode: the root key wrapped by an AES-256 key made
//! inside a PKCS#11 token (sensitive, never extractable), with AES-GCM run
//! by the token. The server opens it at every start (auto-unseal) with the
//! token's user PIN from `--pkcs11-pin-file` or `TRENT_PKCS11_PIN`.

use std::path::PathBuf;

use trent_crypto::seal::{self, PKCS11_AAD};
use trent_crypto::{RootKey, SecretBytes};
use trent_hsm::{AuthPin, Pkcs11Module, Token};

use super::config::{self, SealConfig};

/// Environment variable holding the token's user PIN.
pub const PIN_ENV: &str = "TRENT_PKCS11_PIN";

/// Where the token's user PIN comes from.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PinSource {
    /// A file holding the PKCS#11 token's user PIN (pkcs11 mode); its first
    /// line. Else `TRENT_PKCS11_PIN`.
    #[arg(long)]
    pub pkcs11_pin_file: Option<PathBuf>,
}

impl PinSource {
    fn read(&self) -> Result<AuthPin, String> {
        let text = match &self.pkcs11_pin_file {
            Some(path) => zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?),
            None => zeroize::Zeroizing::new(std::env::var(PIN_ENV).map_err(|_| format!("pkcs11 mode needs the token's PIN: --pkcs11-pin-file or {PIN_ENV}"))?),
        };
        let pin = text.lines().next().unwrap_or_default().trim_end_matches('\r');
        if pin.is_empty() {
            return Err("the PKCS#11 PIN is empty".to_owned());
        }
        Ok(AuthPin::from(pin.to_owned()))
    }
}

fn open_token(module: &str, token_label: &str, pin: &PinSource) -> Result<std::sync::Arc<Token>, String> {
    let module = Pkcs11Module::open(module).map_err(|e| format!("PKCS#11 module {module}: {e}"))?;
    Token::open(&module, token_label, pin.read()?, 1).map_err(|e| format!("PKCS#11 token {token_label}: {e}"))
}

/// `trent init --seal pkcs11`: makes the wrapping key in the token (a new
/// label only: an existing key is never reused) and wraps `root` with it.
pub fn init(root: &RootKey, module: &str, token_label: &str, key_label: &str, pin: &PinSource) -> Result<SealConfig, String> {
    let token = open_token(module, token_label, pin)?;
    if token.find_aes_key(key_label).is_ok() {
        return Err(format!("the token already has a key labelled {key_label}: choose another --pkcs11-key-label"));
    }
    let key = token.generate_aes_key(key_label).map_err(|e| format!("making the wrapping key in the token: {e}"))?;
    let iv = trent_crypto::random_bytes(12).map_err(|e| e.to_string())?;
    let wrapped = seal::wrap_with(root, |bytes| token.encrypt_gcm(&key, &iv, PKCS11_AAD, bytes)).map_err(|e| format!("wrapping in the token: {e}"))?;
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(SealConfig::Pkcs11 { module: module.to_owned(), token_label: token_label.to_owned(), key_label: key_label.to_owned(), iv: b64.encode(iv), wrapped_root: b64.encode(wrapped) })
}

/// `trent operator rotate-root`: wraps a new `root` with the wrapping key
/// `config` already names (a fresh IV), for the same token and PIN.
pub fn rewrap(root: &RootKey, config: &SealConfig, pin: &PinSource) -> Result<SealConfig, String> {
    let SealConfig::Pkcs11 { module, token_label, key_label, .. } = config else {
        return Err("not a pkcs11 deployment".to_owned());
    };
    let token = open_token(module, token_label, pin)?;
    let key = token.find_aes_key(key_label).map_err(|e| format!("the wrapping key {key_label} in token {token_label}: {e}"))?;
    let iv = trent_crypto::random_bytes(12).map_err(|e| e.to_string())?;
    let wrapped = seal::wrap_with(root, |bytes| token.encrypt_gcm(&key, &iv, PKCS11_AAD, bytes)).map_err(|e| format!("wrapping in the token: {e}"))?;
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(SealConfig::Pkcs11 { module: module.clone(), token_label: token_label.clone(), key_label: key_label.clone(), iv: b64.encode(iv), wrapped_root: b64.encode(wrapped) })
}

/// Opens the root key of a `pkcs11` configuration through the token.
pub fn open(config: &SealConfig, pin: &PinSource) -> Result<RootKey, String> {
    let SealConfig::Pkcs11 { module, token_label, key_label, iv, wrapped_root } = config else {
        return Err("not a pkcs11 deployment".to_owned());
    };
    let token = open_token(module, token_label, pin)?;
    let key = token.find_aes_key(key_label).map_err(|e| format!("the wrapping key {key_label} in token {token_label}: {e}"))?;
    let opened: SecretBytes = token
        .decrypt_gcm(&key, &config::decode(iv)?, PKCS11_AAD, &config::decode(wrapped_root)?)
        .map_err(|e| format!("the token's key {key_label} does not open this deployment's root key: {e}"))?;
    RootKey::from_bytes(opened).map_err(|e| e.to_string())
}
