//! The one error type of the crate.
//!
//! No variant ever carries secret bytes: messages are fixed strings, and the
//! only `String` (root key file problems) holds a path and an OS error.

/// Everything that can go wrong in the key provider.
///
/// The server maps [`CryptoError::Decrypt`] and [`CryptoError::Malformed`]
/// from a caller's ciphertext to `InvalidCiphertextException`;
/// [`CryptoError::Internal`] and [`CryptoError::RootKey`] are server faults.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed: wrong key material, wrong encryption context,
    /// or a blob that was changed. Deliberately says nothing about which.
    #[error("ciphertext could not be decrypted")]
    Decrypt,
    /// The blob cannot be parsed at all (too short, unknown magic/version).
    #[error("malformed ciphertext: {0}")]
    Malformed(&'static str),
    /// A failure that is not the caller's fault (randomness, bad key length,
    /// stored material that cannot be unsealed).
    #[error("internal crypto failure: {0}")]
    Internal(&'static str),
    /// A valid request this provider cannot carry out (an algorithm or
    /// message type it lacks). The text names what, never key bytes.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The caller's input cannot be used with this key (a plaintext too
    /// long for RSA-OAEP, a peer public key of another curve, a KEM
    /// ciphertext of the wrong length).
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// A key store holding the key (a PKCS#11 token) could not do what was
    /// asked, for the reason given; not the caller's ciphertext.
    #[error("key store: {0}")]
    KeyStore(KeyStoreFault),
    /// The root key file cannot be created, read or trusted. The text names
    /// the path and the problem, never the key.
    #[error("root key: {0}")]
    RootKey(String),
}

/// Why a key store (an HSM token) failed. Each maps to one of AWS's
/// `ConnectionErrorCode` values ([`KeyStoreFault::connection_error_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyStoreFault {
    /// No token with the key store's label (`CLUSTER_NOT_FOUND`).
    #[error("token not found")]
    TokenNotFound,
    /// The token went away or cannot be reached (`NETWORK_ERRORS`).
    #[error("token not present")]
    TokenNotPresent,
    /// The PIN was refused (`INVALID_CREDENTIALS`).
    #[error("PIN incorrect")]
    PinIncorrect,
    /// The PIN is locked after too many failures (`USER_LOCKED_OUT`).
    #[error("PIN locked")]
    PinLocked,
    /// The key's object is not in the token (`INTERNAL_ERROR`: the key
    /// store no longer holds a key Trent made there).
    #[error("key not found in the token")]
    KeyNotFound,
    /// Anything else the module reported (`INTERNAL_ERROR`).
    #[error("module failure")]
    Internal,
}

impl KeyStoreFault {
    /// The AWS `ConnectionErrorCode` this fault is reported as.
    pub fn connection_error_code(self) -> &'static str {
        match self {
            KeyStoreFault::TokenNotFound => "CLUSTER_NOT_FOUND",
            KeyStoreFault::TokenNotPresent => "NETWORK_ERRORS",
            KeyStoreFault::PinIncorrect => "INVALID_CREDENTIALS",
            KeyStoreFault::PinLocked => "USER_LOCKED_OUT",
            KeyStoreFault::KeyNotFound | KeyStoreFault::Internal => "INTERNAL_ERROR",
        }
    }
}
