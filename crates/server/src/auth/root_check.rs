//! The root key check: a value sealed under the root key and kept in the
//! store, so that a node started with another root key (a fresh data
//! directory beside a shared database, a restored backup of the wrong file)
//! refuses to start instead of failing every request.

use trent_crypto::RootKey;
use trent_store::{Store, StoreError};

pub(crate) const SETTING: &str = "root_key_check";
pub(crate) const AAD: &[u8] = b"trent/root-key-check/v1";
const PLAINTEXT: &[u8] = b"this store is sealed under this root key";

#[derive(Debug, thiserror::Error)]
pub enum RootCheckError {
    #[error("this root key does not open this store's data: start every node with the root key the store was created with")]
    WrongRootKey,
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("sealing the check value: {0}")]
    Crypto(#[from] trent_crypto::CryptoError),
}

/// Verifies the root key against the store, recording it on first use.
pub async fn verify_or_record(store: &dyn Store, root: &RootKey) -> Result<(), RootCheckError> {
    if let Some(sealed) = store.get_setting(SETTING).await? {
        return check(root, &sealed);
    }
    match store.insert_setting(SETTING, &root.seal(PLAINTEXT, AAD)?).await {
        Ok(()) => Ok(()),
        // Another node recorded its key first: ours must be the same one.
        Err(StoreError::AlreadyExists) => match store.get_setting(SETTING).await? {
            Some(sealed) => check(root, &sealed),
            None => Err(RootCheckError::Store(StoreError::NotFound)),
        },
        Err(e) => Err(e.into()),
    }
}

fn check(root: &RootKey, sealed: &[u8]) -> Result<(), RootCheckError> {
    match root.unseal(sealed, AAD) {
        Ok(opened) if opened.as_bytes() == PLAINTEXT => Ok(()),
        _ => Err(RootCheckError::WrongRootKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trent_crypto::SecretBytes;
    use trent_store::sqlite::SqliteStore;

    fn root(byte: u8) -> RootKey {
        RootKey::from_bytes(SecretBytes::new(vec![byte; 32])).unwrap()
    }

    #[tokio::test]
    async fn the_first_root_key_is_recorded_and_others_are_refused() {
        let store = SqliteStore::open_in_memory().unwrap();
        verify_or_record(&store, &root(1)).await.unwrap();
        verify_or_record(&store, &root(1)).await.unwrap();
        assert!(matches!(verify_or_record(&store, &root(2)).await, Err(RootCheckError::WrongRootKey)));
    }
}
