//! Schema migrations for SQLite, applied in order, each in its own
//! transaction, recorded in `schema_migrations`.

use rusqlite::{params, Connection};

use crate::StoreError;

/// Append only: a released migration is never edited.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: keys, their material, aliases, identities.
    r#"
    CREATE TABLE accounts (
        account_id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE principals (
        arn TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(account_id),
        created_at INTEGER NOT NULL
    );
    CREATE TABLE access_keys (
        access_key_id TEXT PRIMARY KEY,
        principal_arn TEXT NOT NULL REFERENCES principals(arn),
        sealed_secret BLOB NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE keys (
        key_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        region TEXT NOT NULL,
        state TEXT NOT NULL,
        deletion_date INTEGER,
        doc TEXT NOT NULL,
        row_version INTEGER NOT NULL
    );
    CREATE INDEX keys_by_owner ON keys (account_id, region, key_id);
    CREATE INDEX keys_by_deletion ON keys (state, deletion_date);
    CREATE TABLE key_materials (
        key_id TEXT NOT NULL REFERENCES keys(key_id),
        material_id TEXT NOT NULL,
        stored BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (key_id, material_id)
    );
    CREATE TABLE aliases (
        account_id TEXT NOT NULL,
        region TEXT NOT NULL,
        alias_name TEXT NOT NULL,
        target_key_id TEXT NOT NULL REFERENCES keys(key_id),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (account_id, region, alias_name)
    );
    CREATE INDEX aliases_by_key ON aliases (target_key_id);
    "#,
    // 2: deployment settings and leases for background work.
    r#"
    CREATE TABLE settings (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    "#,
    // 3: automatic key rotation, found by its due date.
    r#"
    ALTER TABLE keys ADD COLUMN next_rotation_at INTEGER;
    CREATE INDEX keys_by_rotation ON keys (state, next_rotation_at);
    "#,
    // 4: each key's last cryptographic use; expiry of imported material.
    r#"
    ALTER TABLE keys ADD COLUMN material_valid_to INTEGER;
    CREATE INDEX keys_by_material_expiry ON keys (material_valid_to);
    CREATE TABLE key_last_usage (
        key_id TEXT PRIMARY KEY,
        used_at INTEGER NOT NULL,
        operation TEXT NOT NULL,
        request_id TEXT NOT NULL
    );
    "#,
    // 5: IAM users, roles and managed policies; access keys can be inactive.
    r#"
    ALTER TABLE access_keys ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX access_keys_by_principal ON access_keys (principal_arn, created_at);
    CREATE TABLE iam_entities (
        account_id TEXT NOT NULL REFERENCES accounts(account_id),
        kind TEXT NOT NULL,
        folded_name TEXT NOT NULL,
        name TEXT NOT NULL,
        arn TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        doc TEXT NOT NULL,
        row_version INTEGER NOT NULL,
        PRIMARY KEY (account_id, kind, folded_name)
    );
    "#,
    // 6: grants on keys.
    r#"
    CREATE TABLE grants (
        grant_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES keys(key_id),
        grantee_principal TEXT NOT NULL,
        retiring_principal TEXT,
        name TEXT,
        created_at INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX grants_by_key ON grants (key_id, grant_id);
    CREATE INDEX grants_by_grantee ON grants (key_id, grantee_principal);
    CREATE INDEX grants_by_retiring ON grants (retiring_principal, grant_id);
    "#,
    // 7: the audit event of each key's last use.
    r#"
    ALTER TABLE key_last_usage ADD COLUMN event_id TEXT;
    "#,
    // 8: custom key stores. The UNIQUEs are the backstop against racing
    // writers; the reference makes a key naming a deleted store fail.
    r#"
    CREATE TABLE custom_key_stores (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        store_type TEXT NOT NULL,
        cluster_id TEXT NOT NULL UNIQUE,
        trust_anchor TEXT NOT NULL,
        sealed_password BLOB NOT NULL,
        state TEXT NOT NULL,
        error_code TEXT,
        connection_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        row_version INTEGER NOT NULL,
        UNIQUE (account_id, region, name)
    );
    CREATE INDEX custom_key_stores_by_owner ON custom_key_stores (account_id, region, id);
    ALTER TABLE keys ADD COLUMN custom_key_store_id TEXT REFERENCES custom_key_stores(id);
    CREATE INDEX keys_by_custom_key_store ON keys (custom_key_store_id);
    "#,
    // 9: external key stores: their XKS proxy (NULL for CloudHSM). The
    // UNIQUE index is the backstop of AWS's rule (endpoint and path unique
    // in the account and Region); NULLs never collide.
    r#"
    ALTER TABLE custom_key_stores ADD COLUMN xks_uri_endpoint TEXT;
    ALTER TABLE custom_key_stores ADD COLUMN xks_uri_path TEXT;
    ALTER TABLE custom_key_stores ADD COLUMN xks_connectivity TEXT;
    ALTER TABLE custom_key_stores ADD COLUMN xks_access_key_id TEXT;
    CREATE UNIQUE INDEX custom_key_stores_xks_uri_key ON custom_key_stores (account_id, region, xks_uri_endpoint, xks_uri_path);
    "#,
    // 10: keys in external key stores: each names a different external
    // key in its key store (AWS's XksKeyAlreadyInUseException). The UNIQUE
    // index makes that atomic across nodes; NULLs never collide.
    r#"
    ALTER TABLE keys ADD COLUMN xks_key_id TEXT;
    CREATE UNIQUE INDEX keys_xks_key ON keys (custom_key_store_id, xks_key_id);
    "#,
    // 11: multi-Region replicas: a key is identified by its id AND Region
    // (a replica has its primary's id in another Region). SQLite cannot
    // change a primary key in place, so `keys` and the tables that refer to
    // it are rebuilt: copied aside without constraints, dropped children
    // first (foreign keys stay on), made anew, refilled. Material stays
    // keyed by the id alone (the members share it); grants and last uses
    // gain the Region of their member.
    r#"
    CREATE TABLE keys_v11 AS SELECT * FROM keys;
    CREATE TABLE key_materials_v11 AS SELECT * FROM key_materials;
    CREATE TABLE aliases_v11 AS SELECT * FROM aliases;
    CREATE TABLE grants_v11 AS SELECT * FROM grants;
    CREATE TABLE key_last_usage_v11 AS SELECT * FROM key_last_usage;
    DROP TABLE grants;
    DROP TABLE aliases;
    DROP TABLE key_materials;
    DROP TABLE key_last_usage;
    DROP TABLE keys;
    CREATE TABLE keys (
        key_id TEXT NOT NULL,
        account_id TEXT NOT NULL,
        region TEXT NOT NULL,
        state TEXT NOT NULL,
        deletion_date INTEGER,
        doc TEXT NOT NULL,
        row_version INTEGER NOT NULL,
        next_rotation_at INTEGER,
        material_valid_to INTEGER,
        custom_key_store_id TEXT REFERENCES custom_key_stores(id),
        xks_key_id TEXT,
        PRIMARY KEY (key_id, region)
    );
    CREATE INDEX keys_by_owner ON keys (account_id, region, key_id);
    CREATE INDEX keys_by_deletion ON keys (state, deletion_date);
    CREATE INDEX keys_by_rotation ON keys (state, next_rotation_at);
    CREATE INDEX keys_by_material_expiry ON keys (material_valid_to);
    CREATE INDEX keys_by_custom_key_store ON keys (custom_key_store_id);
    CREATE UNIQUE INDEX keys_xks_key ON keys (custom_key_store_id, xks_key_id);
    CREATE TABLE key_materials (
        key_id TEXT NOT NULL,
        material_id TEXT NOT NULL,
        stored BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (key_id, material_id)
    );
    CREATE TABLE aliases (
        account_id TEXT NOT NULL,
        region TEXT NOT NULL,
        alias_name TEXT NOT NULL,
        target_key_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (account_id, region, alias_name),
        FOREIGN KEY (target_key_id, region) REFERENCES keys (key_id, region)
    );
    CREATE INDEX aliases_by_key ON aliases (target_key_id);
    CREATE TABLE grants (
        grant_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        region TEXT NOT NULL,
        grantee_principal TEXT NOT NULL,
        retiring_principal TEXT,
        name TEXT,
        created_at INTEGER NOT NULL,
        doc TEXT NOT NULL,
        FOREIGN KEY (key_id, region) REFERENCES keys (key_id, region)
    );
    CREATE INDEX grants_by_key ON grants (key_id, region, grant_id);
    CREATE INDEX grants_by_grantee ON grants (key_id, region, grantee_principal);
    CREATE INDEX grants_by_retiring ON grants (retiring_principal, grant_id);
    CREATE TABLE key_last_usage (
        key_id TEXT NOT NULL,
        region TEXT NOT NULL,
        used_at INTEGER NOT NULL,
        operation TEXT NOT NULL,
        request_id TEXT NOT NULL,
        event_id TEXT,
        PRIMARY KEY (key_id, region)
    );
    INSERT INTO keys (key_id, account_id, region, state, deletion_date, doc, row_version, next_rotation_at, material_valid_to, custom_key_store_id, xks_key_id)
        SELECT key_id, account_id, region, state, deletion_date, doc, row_version, next_rotation_at, material_valid_to, custom_key_store_id, xks_key_id FROM keys_v11;
    INSERT INTO key_materials (key_id, material_id, stored, created_at) SELECT key_id, material_id, stored, created_at FROM key_materials_v11;
    INSERT INTO aliases (account_id, region, alias_name, target_key_id, created_at, updated_at)
        SELECT account_id, region, alias_name, target_key_id, created_at, updated_at FROM aliases_v11;
    INSERT INTO grants (grant_id, key_id, region, grantee_principal, retiring_principal, name, created_at, doc)
        SELECT g.grant_id, g.key_id, k.region, g.grantee_principal, g.retiring_principal, g.name, g.created_at, g.doc FROM grants_v11 g JOIN keys_v11 k ON k.key_id = g.key_id;
    INSERT INTO key_last_usage (key_id, region, used_at, operation, request_id, event_id)
        SELECT u.key_id, k.region, u.used_at, u.operation, u.request_id, u.event_id FROM key_last_usage_v11 u JOIN keys_v11 k ON k.key_id = u.key_id;
    DROP TABLE keys_v11;
    DROP TABLE key_materials_v11;
    DROP TABLE aliases_v11;
    DROP TABLE grants_v11;
    DROP TABLE key_last_usage_v11;
    "#,
    // 12: a key's material in one B-tree ordered by its primary key
    // (WITHOUT ROWID): a lookup walks it once, where a rowid table needs
    // its primary-key index and then the table, a page read more for a
    // key no cache holds (docs/BENCHMARKS.md, "A miss reads the database once").
    r#"
    CREATE TABLE key_materials_v12 (
        key_id TEXT NOT NULL,
        material_id TEXT NOT NULL,
        stored BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (key_id, material_id)
    ) WITHOUT ROWID;
    INSERT INTO key_materials_v12 (key_id, material_id, stored, created_at) SELECT key_id, material_id, stored, created_at FROM key_materials;
    DROP TABLE key_materials;
    ALTER TABLE key_materials_v12 RENAME TO key_materials;
    "#,
];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let err = |e: rusqlite::Error| StoreError::Backend(format!("migration: {e}"));
    conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)", []).map_err(err)?;
    let applied: i64 = conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0)).map_err(err)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let tx = conn.transaction().map_err(err)?;
        tx.execute_batch(sql).map_err(err)?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES (?1)", params![i as i64 + 1]).map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(())
}
