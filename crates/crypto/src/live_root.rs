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
