//! Derived SigV4 signing keys, kept per access key and credential scope
//! (day, region, service): deriving one costs unsealing the secret and four
//! HMACs, which a client signing many requests a day would otherwise pay on
//! every request. The key is looked up by the access key's *sealed* secret,
//! so a changed, deleted or deactivated access key is never served from
//! here: the access key's record, read first, decides whether it is valid.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use zeroize::Zeroizing;

use crate::protocol::error::KmsError;

/// Derived keys kept before all are dropped (a bound on memory).
const MAX_KEYS: usize = 10_000;

/// The sealed secret and the scope's date, region and service.
type Scope = (Vec<u8>, String, String, String);

static KEYS: LazyLock<Mutex<HashMap<Scope, Zeroizing<[u8; 32]>>>> = LazyLock::new(Default::default);

/// The signing key of `auth`'s scope for the secret sealed as `sealed`;
/// `unseal` is called only if it is not kept yet.
pub fn signing_key(
    sealed: &[u8],
    auth: &trent_sigv4::Authorization,
    unseal: impl FnOnce() -> Result<trent_crypto::SecretBytes, KmsError>,
) -> Result<Zeroizing<[u8; 32]>, KmsError> {
    let scope: Scope = (sealed.to_vec(), auth.date.clone(), auth.region.clone(), auth.service.clone());
    if let Some(key) = lock().get(&scope) {
        return Ok(key.clone());
    }
    let secret = unseal()?;
    let key = Zeroizing::new(trent_sigv4::signing_key(secret.as_bytes(), &auth.date, &auth.region, &auth.service));
    let mut keys = lock();
    if keys.len() >= MAX_KEYS {
        keys.clear();
    }
    keys.insert(scope, key.clone());
    Ok(key)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<Scope, Zeroizing<[u8; 32]>>> {
    KEYS.lock().unwrap_or_else(|p| p.into_inner())
}
