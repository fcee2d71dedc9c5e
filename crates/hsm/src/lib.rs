//! `trent-hsm`: keys inside a PKCS#11 token (an HSM in production, SoftHSM2
//! in tests), for custom key stores of type `AWS_CLOUDHSM`
//! (docs/custom-key-stores.md).
//!
//! Its own crate so that loading a C module at run time (cryptoki) stays
//! out of `trent-crypto`, which remains pure aws-lc.
//!
//! - [`Pkcs11Module`]: a loaded and initialized module (one per library per
//!   process: PKCS#11 keeps its state per process).
//! - [`Token`]: a token found by label, logged in as the user with the PIN,
//!   with a bounded pool of sessions reused across calls ([`SessionPool`]);
//!   generates and finds AES-256 keys and runs AES-GCM inside the token.
//! - [`Pkcs11SymmetricKey`]: a [`trent_crypto::SymmetricKey`] whose
//!   AES-GCM runs in the token, so its blobs are Trent's ciphertext format.
//! - [`HsmError`]: typed failures; [`HsmError::fault`] gives the
//!   [`trent_crypto::KeyStoreFault`] that maps to AWS's `ConnectionErrorCode`.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod key;
mod pool;
mod token;

pub use cryptoki::types::AuthPin;
pub use error::HsmError;
pub use key::Pkcs11SymmetricKey;
pub use pool::{PoolStats, SessionPool};
pub use token::{KeyAttributes, Pkcs11Module, Token, TokenKey};
