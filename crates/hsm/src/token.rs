//! A PKCS#11 module and one token in it: AES-256 keys made and used inside
//! the token, through a pool of logged-in sessions.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use trent_crypto::SecretBytes;

use crate::error::HsmError;
use crate::pool::{PoolStats, SessionPool};

/// AES-256 key length in bytes.
const AES_256_LEN: u64 = 32;
/// GCM tag length in bits (the whole 16-byte tag, as Trent's blobs carry).
const GCM_TAG_BITS: u64 = 128;

/// A loaded, initialized PKCS#11 module (shared library). PKCS#11 keeps
/// its state per process, so open one per library path per process and
/// share it (`Arc`); it is finalized when the last user drops it.
pub struct Pkcs11Module {
    ctx: Option<Pkcs11>,
    path: PathBuf,
}

impl fmt::Debug for Pkcs11Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Module").field("path", &self.path).finish()
    }
}

impl Pkcs11Module {
    /// Loads the module at `path` and initializes it (OS locking: Trent
    /// calls it from several threads).
    pub fn open(path: impl AsRef<Path>) -> Result<Arc<Self>, HsmError> {
        let path = path.as_ref().to_path_buf();
        let ctx = initialize(&path)?;
        Ok(Arc::new(Pkcs11Module { ctx: Some(ctx), path }))
    }

    /// Finalizes the module and initializes it again, in place. SoftHSM2
    /// needs this before a token that went away can be used again: it
    /// keeps the vanished token's state until C_Finalize, and reads PINs
    /// and new tokens only at C_Initialize (docs/custom-key-stores.md,
    /// "Faults"). Every `Token` of the module must have been dropped, as
    /// C_Finalize ends all their sessions: [`HsmError::ModuleInUse`]
    /// otherwise, and nothing changes. If initializing fails the module is
    /// unusable until a reload succeeds.
    pub fn reload(module: &mut Arc<Self>) -> Result<(), HsmError> {
        let users = Arc::strong_count(module);
        let this = Arc::get_mut(module).ok_or(HsmError::ModuleInUse { users })?;
        if let Some(ctx) = this.ctx.take() {
            // Initialized again below whatever C_Finalize answers.
            let _ = ctx.finalize();
        }
        this.ctx = Some(initialize(&this.path)?);
        Ok(())
    }

    /// The module's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The serial number of the token labelled `label`, read without
    /// logging in: copies of one token (a backup restored) share it.
    pub fn token_serial(&self, label: &str) -> Result<String, HsmError> {
        let ctx = self.ctx()?;
        let info = ctx.get_token_info(find_slot(ctx, label)?)?;
        Ok(info.serial_number().trim_end().to_string())
    }

    fn ctx(&self) -> Result<&Pkcs11, HsmError> {
        self.ctx.as_ref().ok_or(HsmError::TokenNotPresent)
    }
}

/// Loads the module at `path` and initializes it (OS locking: Trent calls
/// it from several threads).
fn initialize(path: &Path) -> Result<Pkcs11, HsmError> {
    let module_error = |e: Error| HsmError::Module { path: path.display().to_string(), reason: e.to_string() };
    let ctx = Pkcs11::new(path).map_err(module_error)?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).map_err(module_error)?;
    Ok(ctx)
}

impl Drop for Pkcs11Module {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            // Nothing to do about a failure while shutting down.
            let _ = ctx.finalize();
        }
    }
}

/// An AES-256 key object in a token: its handle and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKey {
    handle: ObjectHandle,
    label: String,
}

impl TokenKey {
    /// The key's CKA_LABEL (the KMS key ARN, once wired to CreateKey).
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// What the token says about a key object (for checks and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAttributes {
    /// CKA_TOKEN: kept in the token, not just the session.
    pub token: bool,
    /// CKA_SENSITIVE.
    pub sensitive: bool,
    /// CKA_EXTRACTABLE.
    pub extractable: bool,
    /// CKA_VALUE_LEN in bytes.
    pub value_len: u64,
    /// Whether reading CKA_VALUE returned any bytes (it must not).
    pub value_readable: bool,
}

/// One token of a module, found by label and logged in as the user.
/// Field order matters: the sessions close before the module is released.
pub struct Token {
    pool: SessionPool,
    module: Arc<Pkcs11Module>,
    label: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token").field("label", &self.label).field("module", &self.module).field("pool", &self.pool).finish()
    }
}

impl Token {
    /// Finds the token labelled `label` in `module`, checks it has AES key
    /// generation and AES-GCM, and logs in with the user `pin` (kept, as a
    /// zeroized secret, to log in again on new sessions). At most
    /// `max_sessions` sessions are ever open at once.
    pub fn open(module: &Arc<Pkcs11Module>, label: &str, pin: AuthPin, max_sessions: usize) -> Result<Arc<Token>, HsmError> {
        Token::open_bounded(module, label, pin, max_sessions, None)
    }

    /// As [`Token::open`]; with `session_wait`, a call that finds every
    /// session busy waits at most that long, then fails with
    /// [`HsmError::Busy`] (a server with a deadline of its own answers
    /// that in time rather than queueing for ever).
    pub fn open_bounded(module: &Arc<Pkcs11Module>, label: &str, pin: AuthPin, max_sessions: usize, session_wait: Option<Duration>) -> Result<Arc<Token>, HsmError> {
        let ctx = module.ctx()?;
        let slot = find_slot(ctx, label)?;
        let mechanisms = ctx.get_mechanism_list(slot)?;
        for (needed, name) in [(MechanismType::AES_KEY_GEN, "CKM_AES_KEY_GEN"), (MechanismType::AES_GCM, "CKM_AES_GCM")] {
            if !mechanisms.contains(&needed) {
                return Err(HsmError::Unsupported(name));
            }
        }
        let pool = SessionPool::new(ctx.clone(), slot, pin, max_sessions, session_wait)?;
        Ok(Arc::new(Token { pool, module: module.clone(), label: label.to_string() }))
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The session pool's counts.
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// A cheap health check for a background probe: Ok while the token is
    /// there (C_GetTokenInfo, no session) and an idle session is still
    /// logged in (C_GetSessionInfo; logs in again if not). Never waits for
    /// a busy pool. Once it or any call has seen the token go away it
    /// answers [`HsmError::TokenNotPresent`] for good: reconnect with a new
    /// `Token` (after [`Pkcs11Module::reload`] on SoftHSM2).
    pub fn check(&self) -> Result<(), HsmError> {
        self.pool.check(&self.label)
    }

    /// Generates an AES-256 key inside the token, labelled `label`: a token
    /// object, private, sensitive and never extractable, usable only to
    /// encrypt and decrypt. Refuses a label already in use.
    pub fn generate_aes_key(&self, label: &str) -> Result<TokenKey, HsmError> {
        match self.find_aes_key(label) {
            Err(HsmError::KeyNotFound(_)) => {}
            Ok(_) => return Err(HsmError::DuplicateKey(label.to_string())),
            Err(e) => return Err(e),
        }
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(AES_256_LEN.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let handle = self.pool.with_session(|s| Ok(s.generate_key(&Mechanism::AesKeyGen, &template)?))?;
        Ok(TokenKey { handle, label: label.to_string() })
    }

    /// The AES key labelled `label`: [`HsmError::KeyNotFound`] if there is
    /// none, [`HsmError::DuplicateKey`] if there are several.
    pub fn find_aes_key(&self, label: &str) -> Result<TokenKey, HsmError> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        self.pool.with_session(|s| match s.find_objects(&template)?.as_slice() {
            // A vanished token finds nothing too (SoftHSM2).
            [] => Err(self.pool.unless_gone(HsmError::KeyNotFound(label.to_string()))),
            [handle] => Ok(TokenKey { handle: *handle, label: label.to_string() }),
            _ => Err(HsmError::DuplicateKey(label.to_string())),
        })
    }

    /// Destroys the key object (its material is gone for good).
    pub fn destroy_key(&self, key: &TokenKey) -> Result<(), HsmError> {
        self.pool.with_session(|s| s.destroy_object(key.handle).map_err(|e| self.key_error(e, key)))
    }

    /// The key's protection attributes, and whether its value can be read.
    pub fn key_attributes(&self, key: &TokenKey) -> Result<KeyAttributes, HsmError> {
        self.pool.with_session(|s| {
            let wanted = [AttributeType::Token, AttributeType::Sensitive, AttributeType::Extractable, AttributeType::ValueLen];
            let mut out = KeyAttributes { token: false, sensitive: false, extractable: true, value_len: 0, value_readable: true };
            for attribute in s.get_attributes(key.handle, &wanted).map_err(|e| self.key_error(e, key))? {
                match attribute {
                    Attribute::Token(v) => out.token = v,
                    Attribute::Sensitive(v) => out.sensitive = v,
                    Attribute::Extractable(v) => out.extractable = v,
                    Attribute::ValueLen(v) => out.value_len = v.into(),
                    _ => {}
                }
            }
            // A sensitive value is refused (CKR_ATTRIBUTE_SENSITIVE) or
            // reported unavailable (no attribute returned).
            out.value_readable = match s.get_attributes(key.handle, &[AttributeType::Value]) {
                Ok(values) => values.iter().any(|a| matches!(a, Attribute::Value(v) if !v.is_empty())),
                Err(Error::Pkcs11(RvError::AttributeSensitive, _)) => false,
                Err(e) => return Err(self.key_error(e, key)),
            };
            Ok(out)
        })
    }

    /// AES-GCM encryption inside the token with Trent's `iv` (12 bytes;
    /// Trent supplies it, the token does not generate it) and `aad`:
    /// returns the ciphertext followed by the 16-byte tag.
    pub fn encrypt_gcm(&self, key: &TokenKey, iv: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, HsmError> {
        let mut iv = iv.to_vec();
        let params = GcmParams::new(&mut iv, aad, GCM_TAG_BITS.into())?;
        let mechanism = Mechanism::AesGcm(params);
        self.pool.with_session(|s| s.encrypt(&mechanism, key.handle, plaintext).map_err(|e| self.key_error(e, key)))
    }

    /// AES-GCM decryption inside the token of `sealed` (ciphertext then
    /// tag). Authentication failure is [`HsmError::Decrypt`].
    pub fn decrypt_gcm(&self, key: &TokenKey, iv: &[u8], aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, HsmError> {
        let mut iv = iv.to_vec();
        let params = GcmParams::new(&mut iv, aad, GCM_TAG_BITS.into())?;
        let mechanism = Mechanism::AesGcm(params);
        self.pool.with_session(|s| match s.decrypt(&mechanism, key.handle, sealed) {
            Ok(plaintext) => Ok(SecretBytes::new(plaintext)),
            // CKR_ENCRYPTED_DATA_INVALID is the standard answer to a bad tag;
            // SoftHSM2 answers CKR_GENERAL_ERROR when its final GCM check fails.
            Err(Error::Pkcs11(RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange | RvError::GeneralError, _)) => Err(HsmError::Decrypt),
            Err(e) => Err(self.key_error(e, key)),
        })
    }

    /// `len` random bytes from the token's generator (C_GenerateRandom).
    pub fn generate_random(&self, len: usize) -> Result<SecretBytes, HsmError> {
        self.pool.with_session(|s| Ok(SecretBytes::new(s.generate_random_vec(len as u32)?)))
    }

    /// A failure on `key`'s object: a handle the token no longer knows is
    /// [`HsmError::KeyNotFound`], unless the token itself is gone (SoftHSM2
    /// then answers every handle with CKR_OBJECT_HANDLE_INVALID).
    fn key_error(&self, e: Error, key: &TokenKey) -> HsmError {
        match e {
            Error::Pkcs11(RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid, _) => self.pool.unless_gone(HsmError::KeyNotFound(key.label.clone())),
            e => e.into(),
        }
    }
}

/// The slot of the token labelled `label`. A slot whose token cannot be
/// read may hold it (SoftHSM2 keeps a vanished token's slot, answering
/// C_GetTokenInfo with CKR_GENERAL_ERROR): then it is not present, rather
/// than not found.
fn find_slot(ctx: &Pkcs11, label: &str) -> Result<Slot, HsmError> {
    let mut unreadable = false;
    for slot in ctx.get_slots_with_token()? {
        match ctx.get_token_info(slot) {
            Ok(info) if info.token_initialized() && info.label().trim_end() == label => return Ok(slot),
            Ok(_) => {}
            Err(_) => unreadable = true,
        }
    }
    Err(if unreadable { HsmError::TokenNotPresent } else { HsmError::TokenNotFound(label.to_string()) })
}
