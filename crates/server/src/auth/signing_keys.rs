//! Derived SigV4 signing keys, kept per access key and credential scope
//! (day, region, service): deriving one costs unsealing the secret and four
//! HMACs, which a client signing many requests a day would otherwise pay on
//! every request. Kept ready as HMAC keys (preparing one is two SHA-256
//! blocks), and looked up without copying anything. The key is looked up by
//! the access key's *sealed* secret, so a changed, deleted or deactivated
//! access key is never served from here: the access key's record, read
//! first, decides whether it is valid.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use aws_lc_rs::hmac;
use foldhash::fast::RandomState;

use crate::protocol::error::KmsError;

/// Derived keys kept before all are dropped (a bound on memory).
const MAX_KEYS: usize = 10_000;

/// The scope's date, region and service, and its key.
type Scoped = (String, String, String, Arc<hmac::Key>);

/// Sealed secret -> the keys of its scopes (a few at most: one per day and region).
type Keys = (HashMap<Vec<u8>, Vec<Scoped>, RandomState>, usize);

static KEYS: LazyLock<Mutex<Keys>> = LazyLock::new(Default::default);

/// The signing key of `auth`'s scope for the secret sealed as `sealed`;
/// `unseal` is called only if it is not kept yet.
pub fn signing_key(
    sealed: &[u8],
    auth: &trent_sigv4::Authorization,
    unseal: impl FnOnce() -> Result<trent_crypto::SecretBytes, KmsError>,
) -> Result<Arc<hmac::Key>, KmsError> {
    let same_scope = |(date, region, service, _): &&Scoped| *date == auth.date && *region == auth.region && *service == auth.service;
    if let Some((.., key)) = lock().0.get(sealed).and_then(|scopes| scopes.iter().find(same_scope)) {
        return Ok(key.clone());
    }
    let secret = unseal()?;
    let bytes = zeroize::Zeroizing::new(trent_sigv4::signing_key(secret.as_bytes(), &auth.date, &auth.region, &auth.service));
    let key = Arc::new(hmac::Key::new(hmac::HMAC_SHA256, bytes.as_ref()));
    let mut guard = lock();
    let (keys, count) = &mut *guard;
    if *count >= MAX_KEYS {
        keys.clear();
        *count = 0;
    }
    keys.entry(sealed.to_vec()).or_default().push((auth.date.clone(), auth.region.clone(), auth.service.clone(), key.clone()));
    *count += 1;
    Ok(key)
}

/// Forgets every kept key (when the server seals: they are derived from
/// secrets the root key opened).
pub fn forget_all() {
    let mut guard = lock();
    guard.0.clear();
    guard.1 = 0;
}

fn lock() -> std::sync::MutexGuard<'static, Keys> {
    KEYS.lock().unwrap_or_else(|p| p.into_inner())
}
