//! `trent xks-proxy`: Trent as an AWS KMS external key store (XKS) proxy,
//! following AWS's XKS Proxy API specification v1 (1.0.2): GetKeyMetadata,
//! Encrypt, Decrypt and GetHealthStatus over HTTPS, SigV4-authenticated
//! (service `kms-xks-proxy`), keys AES-256 in a key backend.
//!
//! A request goes: [`server`] (TLS, HTTP/1.1) -> [`handler`] (URI path,
//! method, SigV4 with [`credentials`]) -> [`ops`] (JSON, [`aad`]) ->
//! [`keys`] (the key backend: software, or [`pkcs11`] for keys in a
//! token) -> [`store`] (the data directory).
//! [`cli`] is the command; [`rotate_root`] replaces the root key. The KMS side (an EXTERNAL_KEY_STORE custom key
//! store that calls a proxy) is `crate::keys::xks_stores`,
//! `crate::keys::xks_keys` and `crate::keystores::xks_client`.

pub mod aad;
pub mod cli;
pub mod credentials;
pub mod error;
pub mod handler;
pub mod keys;
pub mod ops;
pub mod pkcs11;
pub mod rotate_root;
pub mod server;
pub mod store;
