//! Parsed policies, cached by their name and text ([`TextCache`]): a
//! request evaluates the `Policy` parsed the first time its text was seen,
//! never JSON; a changed policy (PutKeyPolicy, PutUserPolicy, on any node)
//! is simply another entry.

use std::sync::{Arc, LazyLock};

use super::Policy;
use crate::text_cache::TextCache;

/// Texts kept before starting over (a key policy may be 32 KiB; a parsed
/// policy takes a few times its text).
const MAX_TEXT_BYTES: usize = 8 << 20;

static CACHE: LazyLock<TextCache<Policy>> = LazyLock::new(|| TextCache::new(MAX_TEXT_BYTES));

/// The parsed form of `text`, parsed at most once while it stays cached.
pub fn parsed(text: &str) -> Result<Arc<Policy>, String> {
    parsed_named("", text)
}

/// The same, with the name reasons call the policy by.
pub fn parsed_named(name: &str, text: &str) -> Result<Arc<Policy>, String> {
    CACHE.get_or_parse(name, text, |text| {
        let mut policy = Policy::parse(text)?;
        policy.name = name.to_owned();
        Ok(policy)
    })
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
