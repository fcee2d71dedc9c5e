//! Parsed policies, cached by their text: a request evaluates the `Policy`
//! parsed the first time its text was seen, never JSON. The text is the
//! key, so a changed policy (PutKeyPolicy, PutUserPolicy, on any node) is
//! simply another entry; nothing needs invalidating. Bounded: when full it
//! starts over, which costs one parse per policy afterwards.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::Policy;

const MAX_ENTRIES: usize = 4096;

fn cache() -> &'static Mutex<HashMap<String, Arc<Policy>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Policy>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The parsed form of `text`, parsed at most once while it stays cached.
pub fn parsed(text: &str) -> Result<Arc<Policy>, String> {
    parsed_named("", text)
}

/// The same, with the name reasons call the policy by.
pub fn parsed_named(name: &str, text: &str) -> Result<Arc<Policy>, String> {
    let key = format!("{name}\u{0}{text}");
    // A poisoned lock only means another thread panicked mid-insert; the map is still a valid cache.
    if let Some(hit) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(hit.clone());
    }
    let mut policy = Policy::parse(text)?;
    policy.name = name.to_owned();
    let policy = Arc::new(policy);
    let mut map = cache().lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, policy.clone());
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
