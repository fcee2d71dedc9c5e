/// What a store call can fail with. Backends map their own errors here, so
/// the server never looks at database error text.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique name or id is already taken (an alias name, a key id).
    #[error("already exists")]
    AlreadyExists,
    /// The row changed since it was read; the caller may re-read and retry.
    #[error("concurrent update")]
    Conflict,
    /// The row to update or delete is not there.
    #[error("not found")]
    NotFound,
    /// The database refused a value sealed under a root key generation
    /// below its fence (PostgreSQL, migration 14): the root key was
    /// rotated meanwhile. The caller adopts the new generation and the
    /// client retries (a KMSInternalException, as for any store failure).
    #[error("the root key was rotated: retry")]
    RootKeyRotated,
    /// The database failed; the text is for the server log only.
    #[error("store backend: {0}")]
    Backend(String),
}
