//! The columns that hold values sealed under the root key, for `trent
//! operator rotate-root`, which reads them page by page and writes each
//! back sealed under the new root key. Generic over the three tables so
//! the backends share one description of them.

/// A column of sealed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    /// `key_materials.stored`, by key id and material id.
    KeyMaterial,
    /// `access_keys.sealed_secret`, by access key id.
    AccessKeySecret,
    /// `custom_key_stores.sealed_password` (CloudHSM password, XKS proxy
    /// secret), by key store id.
    KeyStorePassword,
}

impl SealedColumn {
    pub const ALL: [SealedColumn; 3] = [SealedColumn::KeyMaterial, SealedColumn::AccessKeySecret, SealedColumn::KeyStorePassword];

    /// (table, first id column, second id column or `''`, sealed column,
    /// what else the write sets).
    pub(crate) fn sql(self) -> (&'static str, &'static str, &'static str, &'static str, &'static str) {
        match self {
            SealedColumn::KeyMaterial => ("key_materials", "key_id", "material_id", "stored", ""),
            SealedColumn::AccessKeySecret => ("access_keys", "access_key_id", "''", "sealed_secret", ""),
            // A key store's writers compare row_version: bump it, so one
            // that read the old sealed password cannot write it back.
            SealedColumn::KeyStorePassword => ("custom_key_stores", "id", "''", "sealed_password", ", row_version = row_version + 1"),
        }
    }
}

/// One sealed value and the row holding it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// The row: (key id, material id), or (access key id or key store id, "").
    pub id: (String, String),
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedValue({:?}, <{} bytes>)", self.id, self.sealed.len())
    }
}
