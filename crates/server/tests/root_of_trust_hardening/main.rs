//! The root of trust, hardened (docs/root-of-trust.md): Shamir shares
//! encrypted to their holders' age and OpenPGP keys, the unseal tamper count kept in
//! the store (across restarts and nodes), a scan of everything a sealed
//! deployment writes for the root key's bytes, and the `kms` seal mode
//! over HTTPS with the CA given as `AWS_CA_BUNDLE`.

#[path = "../common/mod.rs"]
mod common;

mod kms_over_tls;
mod root_key_scan;
mod share_recipients;
mod share_recipients_openpgp;
mod support;
mod tamper_persisted;
