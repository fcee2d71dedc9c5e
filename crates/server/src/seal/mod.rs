//! The root of trust (docs/root-of-trust.md): how the root key is kept
//! sealed and opened.
//!
//! - [`config`]: the seal mode and its wrapped root key, kept in the store.
//! - [`open`]: opening the root key at start (key file, passphrase) or
//!   starting sealed (Shamir).
//! - [`init`]: `trent init --seal MODE`.
//! - [`gate`]: the [`Gate`] between the listener and the unsealed state;
//!   sealing drops the state and everything derived from the root key.
//! - [`http`]: the unauthenticated unseal endpoint (the shares are the
//!   authentication) and the seal status.
//! - [`pkcs11`]: the root key wrapped by a PKCS#11 token's key.
//! - [`kms`]: the root key wrapped by another KMS's key (auto-unseal).
//! - [`tamper`]: growing delays after failed unseal attempts.
//! - [`events`]: the audit events of unseal and rekey.
//! - [`operator`]: `trent operator unseal` and `trent operator seal`.
//! - [`plain_http`]: no share or passphrase over plain HTTP to another host.
//! - [`recipients`]: Shamir shares encrypted to their holders' age keys.
//! - [`rekey`]: `trent operator rekey`: the same root key, sealed anew.
//! - [`generation`]: which root key generation the store is under, and
//!   the rotation in progress, at every open.
//! - [`rotate`]: `trent operator rotate-root`: a new root key.
//! - [`online`]: the same, done by the running server while it serves
//!   (`TrentAdmin.RotateRoot`, `rotate-root --endpoint`).
//! - [`change_lock`]: rekey and rotate-root, one at a time.

pub mod change_lock;
pub mod config;
pub mod events;
pub mod gate;
pub mod generation;
pub mod http;
pub mod init;
pub mod kms;
pub mod open;
pub mod online;
pub mod operator;
pub mod pkcs11;
pub mod plain_http;
pub mod recipients;
pub mod rekey;
pub mod rotate;
pub mod tamper;

pub use gate::Gate;

/// `trent serve`'s flags for the sealed modes.
#[derive(clap::Args, Debug, Clone)]
pub struct SealOptions {
    #[command(flatten)]
    pub passphrase: open::PassphraseSource,
    #[command(flatten)]
    pub pin: pkcs11::PinSource,
    #[command(flatten)]
    pub tamper: tamper::TamperOptions,
}
