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
    /// The database failed; the text is for the server log only.
    #[error("store backend: {0}")]
    Backend(String),
}
