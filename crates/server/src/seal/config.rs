//! The seal configuration: which mode protects the root key and, for the
//! sealed modes, the wrapped root key and what rebuilds its wrapping key.
//!
//! It lives with the data, in the store's `seal_config` setting (SQLite
//! and PostgreSQL alike, no migration: settings are the store's existing
//! write-once table), so every node of a PostgreSQL deployment reads the
//! same one and a backup of the database carries it. The wrapped key is
//! useless without the passphrase or the shares, which never reach the
//! store. A store without the setting is a `file` deployment (as every
//! one was before the setting existed).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use trent_crypto::seal::Argon2Cost;
use trent_store::{Store, StoreError};

const SETTING: &str = "seal_config";

/// The seal configuration as stored (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum SealConfig {
    /// The root key in `DATA_DIR/root.key` (mode 0600).
    File,
    /// Wrapped under a key derived from a passphrase with Argon2id.
    Passphrase {
        /// base64 of [`trent_crypto::seal::wrap`]'s blob.
        wrapped_root: String,
        salt: String,
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    },
    /// Wrapped under a random key split into `shares` Shamir shares, any
    /// `threshold` of which unseal.
    Shamir { wrapped_root: String, shares: u8, threshold: u8 },
    /// Wrapped (AES-256-GCM inside the token, `iv` ours) by a sensitive,
    /// non-extractable AES key of a PKCS#11 token; opened at every start.
    Pkcs11 { module: String, token_label: String, key_label: String, iv: String, wrapped_root: String },
    /// Wrapped by a key of another AWS-KMS-compatible service (its
    /// CiphertextBlob, base64); opened at every start with its Decrypt.
    Kms { endpoint: String, region: String, key_id: String, wrapped_root: String },
}

impl SealConfig {
    /// The mode's name, as `--seal` takes it.
    pub fn mode(&self) -> &'static str {
        match self {
            SealConfig::File => "file",
            SealConfig::Passphrase { .. } => "passphrase",
            SealConfig::Shamir { .. } => "shamir",
            SealConfig::Pkcs11 { .. } => "pkcs11",
            SealConfig::Kms { .. } => "kms",
        }
    }

    pub fn passphrase(wrapped: &[u8], salt: &[u8], cost: Argon2Cost) -> SealConfig {
        SealConfig::Passphrase {
            wrapped_root: B64.encode(wrapped),
            salt: B64.encode(salt),
            memory_kib: cost.memory_kib,
            iterations: cost.iterations,
            parallelism: cost.parallelism,
        }
    }

    pub fn shamir(wrapped: &[u8], shares: u8, threshold: u8) -> SealConfig {
        SealConfig::Shamir { wrapped_root: B64.encode(wrapped), shares, threshold }
    }
}

/// Decodes a base64 member of the configuration.
pub fn decode(text: &str) -> Result<Vec<u8>, String> {
    B64.decode(text).map_err(|e| format!("the stored seal configuration is damaged: {e}"))
}

/// The store's seal configuration; `None` for a store never initialised.
pub async fn load(store: &dyn Store) -> Result<Option<SealConfig>, String> {
    let Some(bytes) = store.get_setting(SETTING).await.map_err(|e| format!("reading the seal configuration: {e}"))? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("the stored seal configuration cannot be read: {e}"))
}

/// The stored configuration with its exact bytes (what
/// [`replace`] compares against); `None` for a store never initialised.
pub async fn load_exact(store: &dyn Store) -> Result<Option<(SealConfig, Vec<u8>)>, String> {
    let Some(bytes) = store.get_setting(SETTING).await.map_err(|e| format!("reading the seal configuration: {e}"))? else {
        return Ok(None);
    };
    let config = serde_json::from_slice(&bytes).map_err(|e| format!("the stored seal configuration cannot be read: {e}"))?;
    Ok(Some((config, bytes)))
}

/// Replaces the configuration if the store still holds `old` (the bytes
/// [`load_exact`] read; `None`: no configuration yet, a `file` deployment
/// from before the setting). `Ok(false)` if someone else changed it first.
pub async fn replace(store: &dyn Store, old: Option<&[u8]>, new: &SealConfig) -> Result<bool, String> {
    let json = serde_json::to_vec(new).map_err(|e| format!("writing the seal configuration: {e}"))?;
    match old {
        Some(old) => store.replace_setting(SETTING, old, &json).await.map_err(|e| format!("recording the seal configuration: {e}")),
        None => record(store, new).await,
    }
}

/// Records the configuration once; `Ok(false)` if the store already had one.
pub async fn record(store: &dyn Store, config: &SealConfig) -> Result<bool, String> {
    let json = serde_json::to_vec(config).map_err(|e| format!("writing the seal configuration: {e}"))?;
    match store.insert_setting(SETTING, &json).await {
        Ok(()) => Ok(true),
        Err(StoreError::AlreadyExists) => Ok(false),
        Err(e) => Err(format!("recording the seal configuration: {e}")),
    }
}
