//! Typed failures of the PKCS#11 layer. No variant carries a PIN or key
//! bytes; module texts are PKCS#11 return value names.

use cryptoki::error::{Error, RvError};
use trent_crypto::{CryptoError, KeyStoreFault};

/// What went wrong talking to a PKCS#11 module or token.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// The module (shared library) could not be loaded or initialized.
    #[error("PKCS#11 module {path}: {reason}")]
    Module { path: String, reason: String },
    /// No token with this label in any slot.
    #[error("no PKCS#11 token labelled {0:?}")]
    TokenNotFound(String),
    /// The token went away while in use, or its slot can no longer be
    /// read: the `Token` is dead (its sessions are dropped); reconnect.
    /// `NETWORK_ERRORS`, not `CLUSTER_NOT_FOUND`: it may come back (a
    /// token found missing when connecting is [`HsmError::TokenNotFound`]).
    #[error("PKCS#11 token not present")]
    TokenNotPresent,
    /// The user PIN was refused.
    #[error("PKCS#11 user PIN incorrect")]
    PinIncorrect,
    /// The user PIN is locked.
    #[error("PKCS#11 user PIN locked")]
    PinLocked,
    /// No secret key with this label in the token.
    #[error("no key labelled {0:?} in the token")]
    KeyNotFound(String),
    /// More than one secret key has this label (Trent makes one per label).
    #[error("more than one key labelled {0:?} in the token")]
    DuplicateKey(String),
    /// The token lacks a mechanism Trent needs (e.g. CKM_AES_GCM).
    #[error("PKCS#11 token does not support {0}")]
    Unsupported(&'static str),
    /// Every session stayed busy for the token's wait bound
    /// ([`crate::Token::open_bounded`]); the call did not run.
    #[error("no PKCS#11 session became free within {0:?}")]
    Busy(std::time::Duration),
    /// AES-GCM authentication failed: wrong key, wrong AAD or changed bytes.
    #[error("AES-GCM authentication failed")]
    Decrypt,
    /// [`crate::Pkcs11Module::reload`] while tokens of the module are open.
    #[error("PKCS#11 module still used by {users} holders")]
    ModuleInUse { users: usize },
    /// Any other failure the module returned, with the function that failed.
    #[error("PKCS#11 {function} failed: {rv}")]
    Pkcs11 { function: String, rv: String },
}

impl HsmError {
    /// The key store fault this is reported as (AWS `ConnectionErrorCode`);
    /// `None` for [`HsmError::Decrypt`], which is the caller's ciphertext.
    pub fn fault(&self) -> Option<KeyStoreFault> {
        Some(match self {
            HsmError::TokenNotFound(_) => KeyStoreFault::TokenNotFound,
            HsmError::TokenNotPresent => KeyStoreFault::TokenNotPresent,
            HsmError::PinIncorrect => KeyStoreFault::PinIncorrect,
            HsmError::PinLocked => KeyStoreFault::PinLocked,
            HsmError::KeyNotFound(_) => KeyStoreFault::KeyNotFound,
            HsmError::Decrypt => return None,
            // Only bounded tokens (the XKS proxy's) are ever busy.
            HsmError::Busy(_) | HsmError::Module { .. } | HsmError::ModuleInUse { .. } | HsmError::DuplicateKey(_) | HsmError::Unsupported(_) | HsmError::Pkcs11 { .. } => KeyStoreFault::Internal,
        })
    }

    /// True when the session that saw this error cannot be used again.
    pub(crate) fn session_is_dead(&self) -> bool {
        matches!(self, HsmError::TokenNotPresent)
    }
}

impl From<Error> for HsmError {
    fn from(e: Error) -> Self {
        match e {
            Error::Pkcs11(rv, function) => match rv {
                RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange => HsmError::PinIncorrect,
                RvError::PinLocked | RvError::PinExpired => HsmError::PinLocked,
                RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::SlotIdInvalid
                | RvError::CryptokiNotInitialized => HsmError::TokenNotPresent,
                rv => HsmError::Pkcs11 { function: format!("{function:?}"), rv: format!("{rv:?}") },
            },
            Error::LibraryLoading(e) => HsmError::Module { path: String::new(), reason: e.to_string() },
            other => HsmError::Pkcs11 { function: "call".into(), rv: other.to_string() },
        }
    }
}

impl From<HsmError> for CryptoError {
    fn from(e: HsmError) -> Self {
        match e.fault() {
            None => CryptoError::Decrypt,
            Some(fault) => CryptoError::KeyStore(fault),
        }
    }
}

#[cfg(test)]
mod tests {
    use cryptoki::context::Function;

    use super::*;

    /// SoftHSM2 never locks a PIN (tests/faults.rs), so the lock-out
    /// mapping is checked here on the module's answer itself.
    #[test]
    fn pin_locked_is_user_locked_out() {
        let e = HsmError::from(Error::Pkcs11(RvError::PinLocked, Function::Login));
        assert!(matches!(e, HsmError::PinLocked), "{e:?}");
        assert_eq!(e.fault().map(KeyStoreFault::connection_error_code), Some("USER_LOCKED_OUT"));
    }
}
