//! The root key of a running server, swappable while it serves: an online
//! `trent operator rotate-root` switches it to the next generation (which
//! still reads the old one), then to the next alone. Each use takes the
//! current key with one atomic load, no lock: the request path stays as
//! cheap as with a plain `Arc<RootKey>`.

use std::fmt;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use crate::root_key::RootKey;

pub struct LiveRootKey(ArcSwap<RootKey>);

impl LiveRootKey {
    pub fn new(root: RootKey) -> LiveRootKey {
        LiveRootKey(ArcSwap::from_pointee(root))
    }

    /// The key now. Hold it for one use: a guard kept across a switch
    /// keeps the key it was taken from.
    pub fn load(&self) -> Guard<Arc<RootKey>> {
        self.0.load()
    }

    /// The key now, as a reference of its own (counted: a switch can tell
    /// it is still held).
    pub fn load_full(&self) -> Arc<RootKey> {
        self.0.load_full()
    }

    /// Uses `root` from now on; the key it replaces, which the requests
    /// still holding it keep alive (its strong count tells how many).
    pub fn switch(&self, root: RootKey) -> Arc<RootKey> {
        self.0.swap(Arc::new(root))
    }
}

impl From<RootKey> for LiveRootKey {
    fn from(root: RootKey) -> LiveRootKey {
        LiveRootKey::new(root)
    }
}

impl fmt::Debug for LiveRootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.0.load(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_counts_the_requests_still_holding_the_old_key() {
        let live = LiveRootKey::new(RootKey::generate().unwrap());
        let sealed = live.load().seal(b"x", b"aad").unwrap();
        let held = live.load();
        let next = live.load().duplicate().unwrap();
        let old = live.switch(RootKey::generate().unwrap().with_generation(1).with_previous(next));
        // The online rotation waits on this count before resealing.
        assert_eq!(Arc::strong_count(&old), 2, "the guard taken before the switch counts");
        assert_eq!(held.generation(), 0);
        drop(held);
        assert_eq!(Arc::strong_count(&old), 1);
        let now = live.load();
        assert_eq!(now.generation(), 1);
        // The new generation reads the old one's values (through the copy) and seals its own.
        assert_eq!(now.unseal(&sealed, b"aad").unwrap().as_bytes(), b"x");
        assert!(now.sealed_by_this(&now.seal(b"y", b"aad").unwrap()));
        let alone = now.duplicate().unwrap().without_previous();
        assert!(alone.unseal(&sealed, b"aad").is_err(), "the old key went");
    }
}
