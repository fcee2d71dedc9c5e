//! The PKCS#11 key backend: external keys are AES-256 secret keys in a
//! token, found by CKA_LABEL = the external key id; AES-GCM runs inside
//! the token (trent-hsm), with the same AAD framing as the software backend
//! (the handlers frame it; a backend only sees the bytes).
//!
//! Enable/disable state lives in the data directory
//! (DIR/token-keys/<keyId>.json; no file means ENABLED), not in the token's
//! CKA_ENCRYPT/CKA_DECRYPT: many HSMs refuse to change those after
//! creation, a key so changed would fail with CKR_KEY_FUNCTION_NOT_PERMITTED
//! rather than the spec's InvalidStateException, and the commands and files
//! stay those of the software backend.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use trent_crypto::SecretBytes;
use trent_hsm::{AuthPin, HsmError, Pkcs11Module, Token, TokenKey};
use zeroize::Zeroizing;

use super::error::{ErrorName, XksError};
use super::keys::{is_key_id, EkmDetails, ExternalKey, KeyBackend, KeyStatus, Sealed, TAG_LEN};
use super::store::{self, DataDir};

/// The environment variable the user PIN may come from.
pub const PIN_ENV: &str = "TRENT_XKS_PKCS11_PIN";
/// Sessions the proxy keeps open at most by default (KMS calls are short).
pub const DEFAULT_MAX_SESSIONS: usize = 8;
/// How long a request waits for a busy pool's session by default: AWS KMS
/// gives a proxy 250 ms a request, so the proxy answers
/// DependencyTimeoutException before KMS gives up on it.
pub const DEFAULT_SESSION_WAIT_MS: u64 = 100;
/// The IV length this backend makes (the software backend's too).
const IV_LEN: usize = 12;
/// At most one reconnection attempt this often, so a token that stays
/// away is not hammered by every request.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// Where the token is, as the command line says it.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub module: PathBuf,
    pub label: String,
    /// `--pkcs11-pin-file`; without it, [`PIN_ENV`].
    pub pin_file: Option<PathBuf>,
    /// `--pkcs11-max-sessions`.
    pub max_sessions: usize,
    /// `--pkcs11-session-wait-ms` for the server; `None` (wait for ever)
    /// for the key commands.
    pub session_wait: Option<Duration>,
}

/// The user PIN from the file (first line) or [`PIN_ENV`]; never from the
/// command line, where `ps` would show it.
fn read_pin(pin_file: Option<&Path>) -> Result<AuthPin, String> {
    let text = match pin_file {
        Some(path) => Zeroizing::new(std::fs::read_to_string(path).map_err(|e| format!("cannot read the PIN file {}: {e}", path.display()))?),
        None => Zeroizing::new(std::env::var(PIN_ENV).map_err(|_| format!("a PKCS#11 token needs --pkcs11-pin-file or {PIN_ENV}"))?),
    };
    let pin = text.lines().next().unwrap_or("");
    if pin.is_empty() {
        return Err("the PKCS#11 user PIN is empty".to_string());
    }
    Ok(AuthPin::from(pin.to_owned()))
}

/// Loads the module and logs in to the token.
pub fn open_token(config: &TokenConfig) -> Result<(Arc<Pkcs11Module>, Arc<Token>), String> {
    let pin = read_pin(config.pin_file.as_deref())?;
    let module = Pkcs11Module::open(&config.module).map_err(|e| e.to_string())?;
    let token = Token::open_bounded(&module, &config.label, pin, config.max_sessions, config.session_wait).map_err(|e| e.to_string())?;
    Ok((module, token))
}

/// A token key's state file: DIR/token-keys/<keyId>.json.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenKeyFile {
    pub key_id: String,
    pub status: KeyStatus,
    pub created: i64,
}

/// The state of a token key (ENABLED when it has no state file).
pub fn read_status(dir: &DataDir, key_id: &str) -> Result<KeyStatus, String> {
    let Some(bytes) = store::read_optional(&dir.token_key_file(key_id))? else { return Ok(KeyStatus::Enabled) };
    serde_json::from_slice::<TokenKeyFile>(&bytes)
        .map(|f| f.status)
        .map_err(|e| format!("state file of token key {key_id} is malformed: {e}"))
}

pub fn write_status(dir: &DataDir, key_id: &str, status: KeyStatus, replace: bool) -> Result<(), String> {
    let file = TokenKeyFile { key_id: key_id.to_string(), status, created: store::now_unix() };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
    store::write_atomic(&dir.token_key_file(key_id), &json, replace)
}

/// The backend: one logged-in token (a pool of sessions).
pub struct Pkcs11Backend {
    dir: DataDir,
    conn: Arc<Connection>,
}

impl std::fmt::Debug for Pkcs11Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Backend").field("token", &self.conn.config.label).finish_non_exhaustive()
    }
}

/// The token, and what it takes to log in again once it went away
/// (trent-hsm's `Token` then stays dead; SoftHSM2 also needs the module
/// finalized and initialized again before it sees the token back).
struct Connection {
    config: TokenConfig,
    state: Mutex<State>,
}

struct State {
    /// `None` after the token went away, until a reconnection succeeds.
    token: Option<Arc<Token>>,
    module: Arc<Pkcs11Module>,
    last_attempt: Option<Instant>,
}

impl Connection {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The token, reconnecting (at most once per [`RECONNECT_EVERY`]) if it
    /// went away.
    fn token(&self) -> Result<Arc<Token>, HsmError> {
        let mut state = self.lock();
        if let Some(token) = &state.token {
            return Ok(token.clone());
        }
        if state.last_attempt.is_some_and(|t| t.elapsed() < RECONNECT_EVERY) {
            return Err(HsmError::TokenNotPresent);
        }
        state.last_attempt = Some(Instant::now());
        // Keys still in use hold the old token (and the module): then the
        // reload waits for a later attempt.
        Pkcs11Module::reload(&mut state.module)?;
        let pin = read_pin(self.config.pin_file.as_deref()).map_err(|reason| HsmError::Module { path: String::new(), reason })?;
        let token = Token::open_bounded(&state.module, &self.config.label, pin, self.config.max_sessions, self.config.session_wait)?;
        tracing::info!(token = self.config.label, "xks-proxy PKCS#11 backend: logged in to the token again");
        state.token = Some(token.clone());
        Ok(token)
    }

    /// Notes that `token` went away (if it is still the current one).
    fn failed(&self, token: &Arc<Token>, e: &HsmError) {
        if matches!(e, HsmError::TokenNotPresent) {
            let mut state = self.lock();
            if state.token.as_ref().is_some_and(|t| Arc::ptr_eq(t, token)) {
                tracing::warn!(token = self.config.label, "xks-proxy PKCS#11 backend: the token went away");
                state.token = None;
            }
        }
    }
}

impl Pkcs11Backend {
    pub fn new(dir: DataDir, config: TokenConfig, module: Arc<Pkcs11Module>, token: Arc<Token>) -> Pkcs11Backend {
        let state = State { token: Some(token), module, last_attempt: None };
        Pkcs11Backend { dir, conn: Arc::new(Connection { config, state: Mutex::new(state) }) }
    }
}

/// A token fault as the spec's error: the key manager cannot be reached
/// (token gone, PIN refused or locked, module failure) is InternalException
/// ("cannot communicate with the external key manager"); the details go to
/// the log only. Every session busy past the wait bound is the spec's
/// DependencyTimeoutException (503): the proxy timed out reaching its
/// dependency.
fn token_error(e: HsmError, key_id: &str) -> XksError {
    match e {
        HsmError::KeyNotFound(_) => XksError::new(ErrorName::KeyNotFoundException, format!("The external key {key_id} was not found.")),
        HsmError::Decrypt => invalid_ciphertext(),
        HsmError::Busy(waited) => {
            tracing::warn!(key_id, "xks-proxy PKCS#11 backend: no session free within {waited:?}");
            XksError::new(ErrorName::DependencyTimeoutException, "The external key store proxy timed out waiting for its external key manager.")
        }
        e => {
            tracing::error!(key_id, "xks-proxy PKCS#11 backend: {e}");
            XksError::new(ErrorName::InternalException, "The external key store proxy cannot use its external key manager.")
        }
    }
}

fn invalid_ciphertext() -> XksError {
    XksError::new(
        ErrorName::InvalidCiphertextException,
        "The ciphertext, initialization vector, additional authenticated data or authentication tag is invalid.",
    )
}

impl KeyBackend for Pkcs11Backend {
    fn open(&self, key_id: &str) -> Result<Box<dyn ExternalKey>, XksError> {
        if !is_key_id(key_id) {
            return Err(token_error(HsmError::KeyNotFound(key_id.to_string()), key_id));
        }
        let token = self.conn.token().map_err(|e| token_error(e, key_id))?;
        let key = token.find_aes_key(key_id).map_err(|e| {
            self.conn.failed(&token, &e);
            token_error(e, key_id)
        })?;
        let status = read_status(&self.dir, key_id).map_err(|e| {
            tracing::error!("xks-proxy key backend: {e}");
            XksError::internal()
        })?;
        Ok(Box::new(Pkcs11Key { conn: self.conn.clone(), token, key, status }))
    }

    /// Health: the token answers (C_GetTokenInfo, a logged-in session) and
    /// makes random bytes. A GCM round trip needs a key object, and making
    /// one per probe would leave objects behind on a crash.
    fn health(&self) -> Vec<EkmDetails> {
        let healthy = match self.conn.token() {
            Ok(token) => {
                let result = token.check().and_then(|()| token.generate_random(16));
                if let Err(e) = &result {
                    self.conn.failed(&token, e);
                }
                result.is_ok()
            }
            Err(_) => false,
        };
        vec![EkmDetails {
            id: format!("pkcs11:token={}", self.conn.config.label),
            model: "PKCS#11 token (AES-256-GCM in the token)".to_string(),
            health_status: if healthy { "ACTIVE" } else { "UNAVAILABLE" },
        }]
    }

    fn vendor(&self) -> &'static str {
        "PKCS#11"
    }
}

struct Pkcs11Key {
    conn: Arc<Connection>,
    token: Arc<Token>,
    key: TokenKey,
    status: KeyStatus,
}

impl ExternalKey for Pkcs11Key {
    fn status(&self) -> KeyStatus {
        self.status
    }

    fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, XksError> {
        // Trent makes the IV (as for CloudHSM keys): unique per call from
        // aws-lc's generator, whatever the token's CKM_AES_GCM IV policy.
        let iv = trent_crypto::random_bytes(IV_LEN).map_err(|e| {
            tracing::error!("xks-proxy PKCS#11 backend: {e}");
            XksError::internal()
        })?;
        let mut out = self.token.encrypt_gcm(&self.key, &iv, aad, plaintext).map_err(|e| self.error(e))?;
        if out.len() != plaintext.len() + TAG_LEN {
            return Err(token_error(HsmError::Unsupported("a 16-byte GCM tag"), self.key.label()));
        }
        let tag = out.split_off(plaintext.len());
        Ok(Sealed { iv, ciphertext: out, tag })
    }

    fn decrypt(&self, iv: &[u8], ciphertext: &[u8], tag: &[u8], aad: &[u8]) -> Result<SecretBytes, XksError> {
        // Only 12-byte IVs are made here (a 16-byte one, which the spec
        // allows, is not from this backend).
        if iv.len() != IV_LEN || tag.len() != TAG_LEN {
            return Err(invalid_ciphertext());
        }
        let mut sealed = Vec::with_capacity(ciphertext.len() + TAG_LEN);
        sealed.extend_from_slice(ciphertext);
        sealed.extend_from_slice(tag);
        self.token.decrypt_gcm(&self.key, iv, aad, &sealed).map_err(|e| self.error(e))
    }
}

impl Pkcs11Key {
    fn error(&self, e: HsmError) -> XksError {
        self.conn.failed(&self.token, &e);
        token_error(e, self.key.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_token_is_the_specs_dependency_timeout() {
        let e = token_error(HsmError::Busy(Duration::from_millis(100)), "k");
        assert_eq!((e.name, e.name.status()), (ErrorName::DependencyTimeoutException, 503));
        assert_eq!(token_error(HsmError::TokenNotPresent, "k").name, ErrorName::InternalException);
    }
}
