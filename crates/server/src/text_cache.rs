//! Values parsed from stored texts (policies, IAM documents), kept by a
//! name and the text itself: a request uses what was parsed the first time
//! the text was seen, never JSON. The text is the key, so a changed policy
//! or document (on any node) is simply another entry; nothing needs
//! invalidating. Bounded by the bytes of text kept: when full it starts
//! over, which costs one parse per text afterwards.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use foldhash::fast::RandomState;

/// Name -> text -> parsed: looked up by borrowed strings, so a hit copies
/// nothing; foldhash because every request hashes whole texts.
type Entries<T> = HashMap<String, HashMap<String, Arc<T>, RandomState>, RandomState>;

pub struct TextCache<T> {
    /// The entries and the bytes of text they keep.
    inner: Mutex<(Entries<T>, usize)>,
    max_text_bytes: usize,
}

impl<T> TextCache<T> {
    pub fn new(max_text_bytes: usize) -> Self {
        TextCache { inner: Mutex::new((HashMap::default(), 0)), max_text_bytes }
    }

    /// What `parse` makes of `text` (under `name`), parsed at most once
    /// while it stays cached; parsing runs outside the lock.
    pub fn get_or_parse<E>(&self, name: &str, text: &str, parse: impl FnOnce(&str) -> Result<T, E>) -> Result<Arc<T>, E> {
        if let Some(hit) = self.lock().0.get(name).and_then(|texts| texts.get(text)) {
            return Ok(hit.clone());
        }
        let parsed = Arc::new(parse(text)?);
        let mut guard = self.lock();
        let (entries, bytes) = &mut *guard;
        if *bytes + text.len() > self.max_text_bytes {
            entries.clear();
            *bytes = 0;
        }
        if entries.entry(name.to_owned()).or_default().insert(text.to_owned(), parsed.clone()).is_none() {
            *bytes += text.len();
        }
        Ok(parsed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Entries<T>, usize)> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still a valid cache.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_parsed_once_per_name_and_the_bytes_kept_are_bounded() {
        let cache: TextCache<String> = TextCache::new(10);
        let upper = |t: &str| Ok::<_, ()>(t.to_uppercase());
        let a = cache.get_or_parse("n", "abcd", upper).unwrap();
        assert!(Arc::ptr_eq(&a, &cache.get_or_parse("n", "abcd", |_| Err(())).unwrap()), "a hit does not parse");
        assert!(cache.get_or_parse("other", "abcd", |_| Err(())).is_err(), "another name is another entry");
        cache.get_or_parse("n", "efghijk", upper).unwrap();
        // 4 + 7 bytes is over the bound: the cache started over, keeping only the last text.
        assert!(cache.get_or_parse("n", "abcd", |_| Err(())).is_err());
        assert_eq!(*cache.get_or_parse("n", "efghijk", |_| Err(())).unwrap(), "EFGHIJK");
    }
}
