//! Every key type besides symmetric AES: RSA, ECC, Ed25519, SM2, ML-DSA,
//! ML-KEM and HMAC keys.
//!
//! - [`spec`]: the model's key specs, usages, algorithms and grant
//!   operations, and which go together (pure tables).
//! - [`private`]: generating material, parsing it once into a
//!   [`PrivateKey`], and every operation with one (sign, verify, RSA-OAEP,
//!   HMAC, ECDH, ML-KEM).
//! - [`cache`]: parsed keys kept per key id and material id so requests do
//!   not parse key material.
//! - `der`: the SubjectPublicKeyInfo/PKCS#8 wrappers aws-lc-rs lacks for ML-KEM.
//! - `sm2_keys` (RustCrypto `sm2`) and `ml_dsa_mu` (RustCrypto `ml-dsa`):
//!   SM2 and ML-DSA external mu, which aws-lc-rs lacks.

pub mod cache;
mod der;
mod ml_dsa_mu;
pub mod private;
pub(crate) mod sm2_keys;
pub mod spec;

pub use cache::KeyCache;
pub use private::{check_imported_material, generate_data_key_pair, generate_material, PrivateKey};
pub use spec::{
    EncryptionAlgorithm, GrantOperation, KeySpec, KeyUsage, MessageType, SigningAlgorithm,
    EXTERNAL_MU_LEN,
};
