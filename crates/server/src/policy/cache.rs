//! Parsed policies, cached by their text: a request evaluates the `Policy`
//! parsed the first time its text was seen, never JSON. The text is the
//! key, so a changed policy (PutKeyPolicy, PutUserPolicy, on any node) is
//! simply another entry; nothing needs invalidating. Bounded by the bytes
//! of text kept (a key policy may be 32 KiB): when full it starts over,
//! which costs one parse per policy afterwards.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use foldhash::fast::RandomState;

use super::Policy;

/// Texts kept before starting over (a parsed policy takes a few times its text).
const MAX_TEXT_BYTES: usize = 8 << 20;

/// Name -> text -> parsed: looked up by borrowed strings, so a hit copies
/// nothing; foldhash because every request hashes a policy's whole text.
type Cache = HashMap<String, HashMap<String, Arc<Policy>, RandomState>, RandomState>;

static CACHE: LazyLock<Mutex<(Cache, usize)>> = LazyLock::new(Default::default);

/// The parsed form of `text`, parsed at most once while it stays cached.
pub fn parsed(text: &str) -> Result<Arc<Policy>, String> {
    parsed_named("", text)
}

/// The same, with the name reasons call the policy by.
pub fn parsed_named(name: &str, text: &str) -> Result<Arc<Policy>, String> {
    // A poisoned lock only means another thread panicked mid-insert; the map is still a valid cache.
    let lock = || CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(hit) = lock().0.get(name).and_then(|texts| texts.get(text)) {
        return Ok(hit.clone());
    }
    let mut policy = Policy::parse(text)?;
    policy.name = name.to_owned();
    let policy = Arc::new(policy);
    let mut guard = lock();
    let (map, bytes) = &mut *guard;
    if *bytes + text.len() > MAX_TEXT_BYTES {
        map.clear();
        *bytes = 0;
    }
    if map.entry(name.to_owned()).or_default().insert(text.to_owned(), policy.clone()).is_none() {
        *bytes += text.len();
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_same_text_is_parsed_once() {
        let text = r#"{"Statement":{"Sid":"cache-test","Effect":"Allow","Action":"kms:*","Resource":"*"}}"#;
        let a = super::parsed(text).unwrap();
        let b = super::parsed(text).unwrap();
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        assert!(super::parsed("not json").is_err());
    }
}
