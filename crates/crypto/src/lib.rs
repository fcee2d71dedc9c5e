//! `trent-crypto` is the key provider step of Trent's request path:
//! HTTP -> SigV4 authentication -> operation -> **key provider: where key
//! material lives and crypto runs** -> store. Everything cryptographic goes
//! through `aws-lc-rs` (and, for the few primitives it lacks, the crates
//! [`keytypes`] names); this crate adds formats and key handling, never
//! primitives.
//!
//! - [`secret`]: [`SecretBytes`], zeroized on drop with a redacted `Debug`,
//!   and the CSPRNG helpers [`random_secret`] and [`random_bytes`].
//! - [`error`]: [`CryptoError`]; no variant carries secret bytes.
//! - [`root_key`]: the [`RootKey`] file (32 bytes, mode 0600) every stored
//!   secret is sealed under with AES-256-GCM.
//! - [`seal`]: the root key wrapped under a passphrase (Argon2id) or Shamir
//!   shares, for the sealed modes of docs/root-of-trust.md.
//! - [`ciphertext`]: the symmetric ciphertext blob Encrypt returns and
//!   Decrypt takes; it names its key and key material, uses a per-message
//!   HKDF-derived AES-256-GCM key and binds the encryption context
//!   (docs/ciphertext-format.md).
//! - [`handle`]: key handles that do the crypto inside themselves
//!   ([`SymmetricKey`]; [`SoftwareSymmetricKey`] in memory, a PKCS#11 key in
//!   the `trent-hsm` crate), so operations need not know where a key lives.
//! - [`keytypes`]: RSA, ECC, Ed25519, SM2, ML-DSA, ML-KEM and HMAC keys: the
//!   model's specs and algorithms, generation, parsed keys and their cache.
//! - [`provider`]: the [`KeyProvider`] trait the server calls, and
//!   [`SoftwareProvider`], which keeps material sealed under the root key so
//!   an HSM provider can slot in later.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod ciphertext;
pub mod error;
pub mod handle;
pub mod import;
pub mod keytypes;
pub mod live_root;
pub mod provider;
pub mod root_key;
pub mod seal;
pub mod secret;

pub use ciphertext::Header;
pub use error::{CryptoError, KeyStoreFault};
pub use handle::{SoftwareSymmetricKey, SymmetricKey};
pub use provider::{KeyProvider, SoftwareProvider, StoredMaterial};
pub use live_root::LiveRootKey;
pub use root_key::RootKey;
pub use secret::{new_uuid, random_bytes, random_secret, SecretBytes};
