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
    /// The root key file cannot be created, read or trusted. The text names
    /// the path and the problem, never the key.
    #[error("root key: {0}")]
    RootKey(String),
}
