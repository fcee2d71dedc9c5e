//! CloudHSM key stores on PKCS#11 tokens (docs/custom-key-stores.md): the
//! registered tokens ("clusters", [`clusters`]), this node's logins to them
//! ([`runtime`]) and the probe that notices a token going away and
//! reconnects when it is back ([`probe`]). External key stores call an
//! XKS proxy through [`xks_client`].

pub mod clusters;
pub mod probe;
pub mod runtime;
pub mod xks_client;
pub mod xks_crypto;
mod xks_pool;
