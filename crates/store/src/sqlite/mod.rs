//! SQLite, the embedded default store: one file in the data directory,
//! WAL journal with `synchronous=FULL`, so a write that returned is on disk
//! and survives a crash or power loss.
//!
//! rusqlite is synchronous: every call runs on tokio's blocking pool with one
//! connection behind a mutex (SQLite admits one writer at a time anyway).
//! The lookups of the request path go through a [`ReadCache`], kept
//! coherent by `PRAGMA data_version` on a second, read-only connection: it
//! changes at every commit by any connection, of this process or another
//! (`trent account create` writes the file while a server runs). A lookup
//! the cache misses runs on the caller's thread on a read-only connection of
//! its own: a point lookup takes microseconds and a WAL reader never waits
//! for the writer, so it is not worth a hand-off to the blocking pool.

pub mod backup;
mod grants;
mod identity;
mod key_stores;
mod schema;
mod sealed;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};

use crate::read_cache::{Answer, Cacheable, Query, ReadCache};
use crate::{
    After, AccessKeyRecord, AliasRecord, CustomKeyStoreRecord, EntityKind, EntityRecord, GrantRecord, KeyLocation, KeyRecord, KeyStoreConflict, KeyUsageRecord, MaterialRecord,
    Millis, PrincipalRecord, SealedColumn, SealedValue, Store, StoreError, StoredMaterial,
};

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// The connection that reads the epoch of the [`ReadCache`]; none for
    /// an in-memory database, which only `conn` can see (no cache then).
    watch: Option<Mutex<Connection>>,
    cache: Arc<ReadCache>,
    /// Read-only connections for the lookups; none for an in-memory database.
    readers: Option<Readers>,
}

/// Idle read-only connections: as many as ever read at once (one per thread).
struct Readers {
    path: std::path::PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(conn);
        }
        let conn = open_read_only(&self.path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(backend)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        create_private(path).map_err(|e| StoreError::Backend(format!("creating {}: {e}", path.display())))?;
        let conn = Connection::open(path).map_err(backend)?;
        let mut store = Self::configure(conn)?;
        let watch = open_read_only(path)?;
        store.watch = Some(Mutex::new(watch));
        store.readers = Some(Readers { path: path.to_owned(), idle: Mutex::new(Vec::new()) });
        Ok(store)
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::configure(Connection::open_in_memory().map_err(backend)?)
    }

    fn configure(mut conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(backend)?;
        // FULL: the WAL is fsynced at every commit, so an acknowledged write survives power loss.
        conn.pragma_update(None, "synchronous", "FULL").map_err(backend)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(backend)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(backend)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)), watch: None, cache: Arc::default(), readers: None })
    }

    /// The epoch for the [`ReadCache`]: none for an in-memory database.
    fn epoch(&self) -> Option<u64> {
        self.watch.as_ref()?;
        self.cache.epoch(|| self.data_version())
    }

    /// `PRAGMA data_version` changes whenever another connection (any but
    /// `watch`, so also `conn`) commits, in any process. Read on the
    /// caller's thread: a read transaction on SQLite's shared WAL index,
    /// a few microseconds.
    fn data_version(&self) -> Option<u64> {
        let watch = self.watch.as_ref()?.lock().unwrap_or_else(|p| p.into_inner());
        let mut statement = watch.prepare_cached("PRAGMA data_version").ok()?;
        statement.query_row([], |r| r.get::<_, i64>(0)).ok().map(|v| v as u64)
    }

    /// `load`'s answer to `query`, from the cache while nothing was committed.
    async fn cached<T: Cacheable>(&self, query: Query, load: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        self.cache.get(self.epoch(), query, load).await
    }

    /// A lookup: on a reader, on the caller's thread (`run` for an in-memory database).
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let Some(readers) = &self.readers else { return self.run(f).await };
        let mut conn = readers.take()?;
        let result = f(&mut conn);
        readers.give_back(conn);
        crate::read_cache::forget_request_epoch();
        result
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (conn, cache) = (self.conn.clone(), self.cache.clone());
        let result = tokio::task::spawn_blocking(move || {
            // A poisoned mutex means a panic mid-call; SQLite rolled that
            // transaction back, so the connection itself is still sound.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            let before = guard.total_changes();
            let result = f(&mut guard);
            // Here, not after the await: the commit counts even if the request is dropped meanwhile.
            if guard.total_changes() != before {
                cache.note_commit();
            }
            result
        })
        .await;
        crate::read_cache::forget_request_epoch();
        result.map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

/// A connection that can only read (the epoch's and the lookups').
fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(backend)
}

/// Creates the database file readable by its owner only; SQLite gives its
/// `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(code, _) = &e {
        // A taken primary key or unique name means "already exists"; a
        // missing row a write refers to (an alias whose key was just
        // destroyed) means "not found". Others stay backend errors.
        const PRIMARY_KEY: i32 = 1555; // SQLITE_CONSTRAINT_PRIMARYKEY
        const UNIQUE: i32 = 2067; // SQLITE_CONSTRAINT_UNIQUE
        const FOREIGN_KEY: i32 = 787; // SQLITE_CONSTRAINT_FOREIGNKEY
        if code.extended_code == PRIMARY_KEY || code.extended_code == UNIQUE {
            return StoreError::AlreadyExists;
        }
        if code.extended_code == FOREIGN_KEY {
            return StoreError::NotFound;
        }
    }
    StoreError::Backend(e.to_string())
}

fn key_from_row(doc: String, row_version: i64) -> Result<KeyRecord, StoreError> {
    let mut key: KeyRecord = serde_json::from_str(&doc).map_err(|e| StoreError::Backend(format!("corrupt key record: {e}")))?;
    key.row_version = row_version;
    Ok(key)
}

fn material_row(c: &Connection, key_id: &str, material_id: &str) -> Result<Option<MaterialRecord>, StoreError> {
    c.prepare_cached("SELECT key_id, material_id, stored, created_at FROM key_materials WHERE key_id = ?1 AND material_id = ?2")
        .map_err(backend)?
        .query_row(params![key_id, material_id], |r| Ok(MaterialRecord { key_id: r.get(0)?, material_id: r.get(1)?, stored: r.get(2)?, created_at: r.get(3)? }))
        .optional()
        .map_err(backend)
}

fn key_doc(key: &KeyRecord) -> Result<String, StoreError> {
    serde_json::to_string(key).map_err(|e| StoreError::Backend(e.to_string()))
}

/// A key's row. A `custom_key_store_id` naming no key store fails the
/// reference: `NotFound`, as the contract says.
fn insert_key_row(c: &Connection, key: &KeyRecord, doc: &str) -> Result<(), StoreError> {
    c.execute(
        KEY_INSERT,
        params![key.key_id, key.account_id, key.region, key.state.as_str(), key.deletion_date, key.rotation_due(), key.next_material_expiry(), doc, key.custom_key_store_id, key.xks_key_id],
    )
    .map(|_| ())
    .map_err(backend)
}

/// A new key and its first material, inside `tx`.
fn insert_key_rows(tx: &rusqlite::Transaction<'_>, key: &KeyRecord, material: &MaterialRecord, doc: &str) -> Result<(), StoreError> {
    insert_key_row(tx, key, doc)?;
    tx.execute(
        "INSERT INTO key_materials (key_id, material_id, stored, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![material.key_id, material.material_id, material.stored, material.created_at],
    )
    .map_err(backend)?;
    Ok(())
}

/// A principal, its account if new, and its access key, inside `tx`.
fn insert_principal_rows(tx: &rusqlite::Transaction<'_>, p: &PrincipalRecord, k: &AccessKeyRecord) -> Result<(), StoreError> {
    tx.execute("INSERT OR IGNORE INTO accounts (account_id, created_at) VALUES (?1, ?2)", params![p.account_id, p.created_at]).map_err(backend)?;
    tx.execute("INSERT INTO principals (arn, account_id, created_at) VALUES (?1, ?2, ?3)", params![p.arn, p.account_id, p.created_at]).map_err(backend)?;
    tx.execute(
        &format!("INSERT INTO access_keys ({}) VALUES (?1, ?2, ?3, ?4, ?5)", identity::ACCESS_KEY_COLUMNS),
        params![k.access_key_id, k.principal_arn, k.sealed_secret, k.created_at, k.active],
    )
    .map_err(backend)?;
    Ok(())
}

const ALIAS_COLUMNS: &str = "account_id, region, alias_name, target_key_id, created_at, updated_at";

fn alias_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AliasRecord> {
    Ok(AliasRecord {
        account_id: row.get(0)?,
        region: row.get(1)?,
        alias_name: row.get(2)?,
        target_key_id: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

/// The compare-and-set write of a key: only over the `row_version` it was
/// read at. Returns the new `row_version`.
const KEY_INSERT: &str = "INSERT INTO keys (key_id, account_id, region, state, deletion_date, next_rotation_at, material_valid_to, doc, custom_key_store_id, xks_key_id, row_version) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1)";

/// Keeps the later of the stored and the new use, only for a key that exists.
const USAGE_UPSERT: &str = "INSERT INTO key_last_usage (key_id, region, used_at, operation, request_id, event_id) \
     SELECT ?1, ?6, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM keys WHERE key_id = ?1 AND region = ?6) \
     ON CONFLICT (key_id, region) DO UPDATE SET used_at = excluded.used_at, operation = excluded.operation, request_id = excluded.request_id, event_id = excluded.event_id \
     WHERE excluded.used_at > key_last_usage.used_at";

impl SqliteStore {
    /// The key's row (optimistic concurrency) and one material of it, in
    /// one transaction: a rotation or an import.
    async fn save_key_with_material(&self, key: &KeyRecord, material: &MaterialRecord, stored: StoredMaterial) -> Result<i64, StoreError> {
        let sql = match stored {
            StoredMaterial::MustBeNew => "INSERT INTO key_materials (key_id, material_id, stored, created_at) VALUES (?1, ?2, ?3, ?4)",
            StoredMaterial::KeepStored => "INSERT INTO key_materials (key_id, material_id, stored, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (key_id, material_id) DO NOTHING",
        };
        let (key, material, doc) = (key.clone(), material.clone(), key_doc(key)?);
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            let row_version = save_key(&tx, &key, &doc)?;
            tx.execute(sql, params![material.key_id, material.material_id, material.stored, material.created_at]).map_err(backend)?;
            tx.commit().map_err(backend)?;
            Ok(row_version)
        })
        .await
    }
}

/// The compare-and-set write of a key; for a multi-Region primary, then
/// what its set shares, to every replica that differs. Callers run it in a
/// transaction (or alone, for a single-Region key).
fn save_key(c: &Connection, key: &KeyRecord, doc: &str) -> Result<i64, StoreError> {
    let changed = c
        .execute(
            "UPDATE keys SET state = ?1, deletion_date = ?2, next_rotation_at = ?3, material_valid_to = ?4, doc = ?5, row_version = row_version + 1 \
             WHERE key_id = ?6 AND region = ?7 AND row_version = ?8",
            params![key.state.as_str(), key.deletion_date, key.rotation_due(), key.next_material_expiry(), doc, key.key_id, key.region, key.row_version],
        )
        .map_err(backend)?;
    if changed != 1 {
        let exists: Option<i64> =
            c.query_row("SELECT 1 FROM keys WHERE key_id = ?1 AND region = ?2", params![key.key_id, key.region], |r| r.get(0)).optional().map_err(backend)?;
        return Err(if exists.is_some() { StoreError::Conflict } else { StoreError::NotFound });
    }
    if key.multi_region && !key.is_replica() {
        share_with_replicas(c, key)?;
    }
    Ok(key.row_version + 1)
}

/// The other members of `primary`'s set take what the set shares.
fn share_with_replicas(c: &Connection, primary: &KeyRecord) -> Result<(), StoreError> {
    for mut replica in members(c, &primary.key_id)?.into_iter().filter(|m| m.region != primary.region) {
        if replica.share_from(primary) {
            c.execute(
                "UPDATE keys SET state = ?1, next_rotation_at = ?2, material_valid_to = ?3, doc = ?4, row_version = row_version + 1 WHERE key_id = ?5 AND region = ?6",
                params![replica.state.as_str(), replica.rotation_due(), replica.next_material_expiry(), key_doc(&replica)?, replica.key_id, replica.region],
            )
            .map_err(backend)?;
        }
    }
    Ok(())
}

/// Every member of the set sharing `key_id`, by Region.
fn members(c: &Connection, key_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
    let mut stmt = c.prepare_cached("SELECT doc, row_version FROM keys WHERE key_id = ?1 ORDER BY region").map_err(backend)?;
    let rows = stmt.query_map(params![key_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(backend)?;
    rows.map(|r| r.map_err(backend).and_then(|(doc, v)| key_from_row(doc, v))).collect()
}

/// Key locations from a `SELECT key_id, region ...`.
fn locations(c: &Connection, sql: &str, now: Millis) -> Result<Vec<KeyLocation>, StoreError> {
    let mut stmt = c.prepare_cached(sql).map_err(backend)?;
    let rows = stmt.query_map(params![now], |r| Ok(KeyLocation { key_id: r.get(0)?, region: r.get(1)? })).map_err(backend)?;
    rows.map(|r| r.map_err(backend)).collect()
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn insert_key(&self, key: &KeyRecord, material: &MaterialRecord) -> Result<(), StoreError> {
        let (key, material, doc) = (key.clone(), material.clone(), key_doc(key)?);
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            insert_key_rows(&tx, &key, &material, &doc)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn insert_key_with_alias(&self, key: &KeyRecord, material: &MaterialRecord, alias: &AliasRecord) -> Result<(), StoreError> {
        let (key, material, a, doc) = (key.clone(), material.clone(), alias.clone(), key_doc(key)?);
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            insert_key_rows(&tx, &key, &material, &doc)?;
            tx.execute(
                &format!("INSERT INTO aliases ({ALIAS_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![a.account_id, a.region, a.alias_name, a.target_key_id, a.created_at, a.updated_at],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn get_key(&self, key_id: &str, region: &str) -> Result<Option<KeyRecord>, StoreError> {
        let (key_id, region) = (key_id.to_owned(), region.to_owned());
        let query = Query::Key(key_id.clone(), region.clone());
        // A cryptographic request asks for the key and then its current
        // material: a miss reads both in one read transaction, and the
        // cache keeps the material for the lookup that follows.
        let load = self.read(move |c| {
            let tx = c.transaction().map_err(backend)?;
            let row: Option<(String, i64)> = tx
                .prepare_cached("SELECT doc, row_version FROM keys WHERE key_id = ?1 AND region = ?2")
                .map_err(backend)?
                .query_row(params![key_id, region], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(backend)?;
            let key = row.map(|(doc, v)| key_from_row(doc, v)).transpose()?;
            let also = match &key {
                Some(k) if !k.current_material_id.is_empty() => {
                    let material = material_row(&tx, &k.key_id, &k.current_material_id)?;
                    Some((Query::Material(k.key_id.clone(), k.current_material_id.clone()), Answer::Material(material)))
                }
                _ => None,
            };
            tx.commit().map_err(backend)?;
            Ok((key, also))
        });
        self.cache.get_and_keep_also(self.epoch(), query, load).await
    }

    async fn key_members(&self, key_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let key_id = key_id.to_owned();
        self.read(move |c| members(c, &key_id)).await
    }

    async fn update_key(&self, key: &KeyRecord) -> Result<i64, StoreError> {
        let (key, doc) = (key.clone(), key_doc(key)?);
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            let row_version = save_key(&tx, &key, &doc)?;
            tx.commit().map_err(backend)?;
            Ok(row_version)
        })
        .await
    }

    async fn update_keys(&self, keys: &[KeyRecord]) -> Result<(), StoreError> {
        let keys = keys.iter().map(|k| Ok((k.clone(), key_doc(k)?))).collect::<Result<Vec<_>, StoreError>>()?;
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            for (key, doc) in &keys {
                save_key(&tx, key, doc)?;
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn insert_replica(&self, primary: &KeyRecord, replica: &KeyRecord) -> Result<(), StoreError> {
        let (primary, replica, doc) = (primary.clone(), replica.clone(), key_doc(replica)?);
        self.run(move |c| {
            // IMMEDIATE: the primary's check and the insert under one write lock.
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
            let bumped = tx
                .execute("UPDATE keys SET row_version = row_version + 1 WHERE key_id = ?1 AND region = ?2 AND row_version = ?3", params![
                    primary.key_id,
                    primary.region,
                    primary.row_version
                ])
                .map_err(backend)?;
            if bumped != 1 {
                let exists: Option<i64> = tx
                    .query_row("SELECT 1 FROM keys WHERE key_id = ?1 AND region = ?2", params![primary.key_id, primary.region], |r| r.get(0))
                    .optional()
                    .map_err(backend)?;
                return Err(if exists.is_some() { StoreError::Conflict } else { StoreError::NotFound });
            }
            insert_key_row(&tx, &replica, &doc)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn rotate_key(&self, key: &KeyRecord, material: &MaterialRecord) -> Result<i64, StoreError> {
        self.save_key_with_material(key, material, StoredMaterial::MustBeNew).await
    }

    async fn save_imported_material(&self, key: &KeyRecord, material: &MaterialRecord) -> Result<i64, StoreError> {
        self.save_key_with_material(key, material, StoredMaterial::KeepStored).await
    }

    async fn insert_key_without_material(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let (key, doc) = (key.clone(), key_doc(key)?);
        self.run(move |c| insert_key_row(c, &key, &doc)).await
    }

    async fn remove_key_material(&self, key: &KeyRecord, material_ids: &[String]) -> Result<i64, StoreError> {
        let (key, doc, ids) = (key.clone(), key_doc(key)?, material_ids.to_vec());
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            let row_version = save_key(&tx, &key, &doc)?;
            // Read under the write lock save_key took: no member's import slips in between.
            let in_use = KeyRecord::materials_in_use(&members(&tx, &key.key_id)?);
            for id in ids.iter().filter(|id| !in_use.contains(*id)) {
                tx.execute("DELETE FROM key_materials WHERE key_id = ?1 AND material_id = ?2", params![key.key_id, id]).map_err(backend)?;
            }
            tx.commit().map_err(backend)?;
            Ok(row_version)
        })
        .await
    }

    async fn keys_with_expired_material(&self, now: Millis) -> Result<Vec<KeyLocation>, StoreError> {
        self.run(move |c| locations(c, "SELECT key_id, region FROM keys WHERE material_valid_to <= ?1 ORDER BY material_valid_to", now)).await
    }

    async fn record_key_usage(&self, uses: &[KeyUsageRecord]) -> Result<(), StoreError> {
        let uses = uses.to_vec();
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            {
                // Prepared once for the batch (a spread of keys makes batches of thousands).
                let mut upsert = tx.prepare_cached(USAGE_UPSERT).map_err(backend)?;
                for u in &uses {
                    upsert.execute(params![u.key_id, u.used_at, u.operation, u.request_id, u.event_id, u.region]).map_err(backend)?;
                }
            }
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn get_key_usage(&self, key_id: &str, region: &str) -> Result<Option<KeyUsageRecord>, StoreError> {
        let (key_id, region) = (key_id.to_owned(), region.to_owned());
        self.run(move |c| {
            let sql = "SELECT key_id, region, used_at, operation, request_id, event_id FROM key_last_usage WHERE key_id = ?1 AND region = ?2";
            c.query_row(sql, params![key_id, region], |r| {
                Ok(KeyUsageRecord { key_id: r.get(0)?, region: r.get(1)?, used_at: r.get(2)?, operation: r.get(3)?, request_id: r.get(4)?, event_id: r.get(5)? })
            })
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn keys_due_for_rotation(&self, now: Millis) -> Result<Vec<KeyLocation>, StoreError> {
        self.run(move |c| locations(c, "SELECT key_id, region FROM keys WHERE state = 'Enabled' AND next_rotation_at <= ?1 ORDER BY next_rotation_at", now)).await
    }

    async fn list_keys(&self, account_id: &str, region: &str, after: After<'_>, limit: usize) -> Result<Vec<KeyRecord>, StoreError> {
        let (account_id, region, after) = (account_id.to_owned(), region.to_owned(), after.unwrap_or("").to_owned());
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT doc, row_version FROM keys WHERE account_id = ?1 AND region = ?2 AND key_id > ?3 ORDER BY key_id LIMIT ?4")
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![account_id, region, after, limit as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(backend)?;
            rows.map(|r| r.map_err(backend).and_then(|(doc, v)| key_from_row(doc, v))).collect()
        })
        .await
    }

    async fn get_material(&self, key_id: &str, material_id: &str) -> Result<Option<MaterialRecord>, StoreError> {
        let (key_id, material_id) = (key_id.to_owned(), material_id.to_owned());
        let query = Query::Material(key_id.clone(), material_id.clone());
        let load = self.read(move |c| material_row(c, &key_id, &material_id));
        self.cached(query, load).await
    }

    async fn keys_due_for_deletion(&self, now: Millis) -> Result<Vec<KeyLocation>, StoreError> {
        self.run(move |c| locations(c, "SELECT key_id, region FROM keys WHERE state = 'PendingDeletion' AND deletion_date <= ?1 ORDER BY deletion_date", now)).await
    }

    async fn delete_key(&self, key_id: &str, region: &str, row_version: i64) -> Result<(), StoreError> {
        let (key_id, region) = (key_id.to_owned(), region.to_owned());
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            let current: Option<i64> = tx
                .query_row("SELECT row_version FROM keys WHERE key_id = ?1 AND region = ?2", params![key_id, region], |r| r.get(0))
                .optional()
                .map_err(backend)?;
            match current {
                None => return Err(StoreError::NotFound),
                Some(v) if v != row_version => return Err(StoreError::Conflict),
                Some(_) => {}
            }
            tx.execute("DELETE FROM aliases WHERE target_key_id = ?1 AND region = ?2", params![key_id, region]).map_err(backend)?;
            tx.execute("DELETE FROM grants WHERE key_id = ?1 AND region = ?2", params![key_id, region]).map_err(backend)?;
            tx.execute("DELETE FROM key_last_usage WHERE key_id = ?1 AND region = ?2", params![key_id, region]).map_err(backend)?;
            tx.execute("DELETE FROM keys WHERE key_id = ?1 AND region = ?2", params![key_id, region]).map_err(backend)?;
            // The material goes with the set's last member.
            tx.execute("DELETE FROM key_materials WHERE key_id = ?1 AND NOT EXISTS (SELECT 1 FROM keys WHERE key_id = ?1)", params![key_id]).map_err(backend)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn insert_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let a = alias.clone();
        self.run(move |c| {
            c.execute(
                &format!("INSERT INTO aliases ({ALIAS_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![a.account_id, a.region, a.alias_name, a.target_key_id, a.created_at, a.updated_at],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn get_alias(&self, account_id: &str, region: &str, alias_name: &str) -> Result<Option<AliasRecord>, StoreError> {
        let (account_id, region, alias_name) = (account_id.to_owned(), region.to_owned(), alias_name.to_owned());
        let query = Query::Alias(account_id.clone(), region.clone(), alias_name.clone());
        let load = self.read(move |c| {
            c.prepare_cached(&format!("SELECT {ALIAS_COLUMNS} FROM aliases WHERE account_id = ?1 AND region = ?2 AND alias_name = ?3")).map_err(backend)?.query_row(
                params![account_id, region, alias_name],
                alias_from_row,
            )
            .optional()
            .map_err(backend)
        });
        self.cached(query, load).await
    }

    async fn update_alias(&self, alias: &AliasRecord, expected_target: &str) -> Result<(), StoreError> {
        let (a, expected) = (alias.clone(), expected_target.to_owned());
        self.run(move |c| {
            let n = c
                .execute(
                    "UPDATE aliases SET target_key_id = ?1, updated_at = ?2 WHERE account_id = ?3 AND region = ?4 AND alias_name = ?5 AND target_key_id = ?6",
                    params![a.target_key_id, a.updated_at, a.account_id, a.region, a.alias_name, expected],
                )
                .map_err(backend)?;
            if n == 0 { Err(alias_missing_or_moved(c, &a.account_id, &a.region, &a.alias_name)?) } else { Ok(()) }
        })
        .await
    }

    async fn delete_alias(&self, account_id: &str, region: &str, alias_name: &str, expected_target: &str) -> Result<(), StoreError> {
        let (account_id, region, alias_name, expected) = (account_id.to_owned(), region.to_owned(), alias_name.to_owned(), expected_target.to_owned());
        self.run(move |c| {
            let n = c
                .execute("DELETE FROM aliases WHERE account_id = ?1 AND region = ?2 AND alias_name = ?3 AND target_key_id = ?4", params![account_id, region, alias_name, expected])
                .map_err(backend)?;
            if n == 0 { Err(alias_missing_or_moved(c, &account_id, &region, &alias_name)?) } else { Ok(()) }
        })
        .await
    }

    async fn list_aliases(&self, account_id: &str, region: &str, key_id: Option<&str>, after: After<'_>, limit: usize) -> Result<Vec<AliasRecord>, StoreError> {
        let (account_id, region) = (account_id.to_owned(), region.to_owned());
        let (key_id, after) = (key_id.map(str::to_owned), after.unwrap_or("").to_owned());
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {ALIAS_COLUMNS} FROM aliases WHERE account_id = ?1 AND region = ?2 AND (?3 IS NULL OR target_key_id = ?3) AND alias_name > ?4 ORDER BY alias_name LIMIT ?5"
                ))
                .map_err(backend)?;
            let rows = stmt.query_map(params![account_id, region, key_id, after, limit as i64], alias_from_row).map_err(backend)?;
            rows.map(|r| r.map_err(backend)).collect()
        })
        .await
    }

    async fn insert_principal(&self, principal: &PrincipalRecord, key: &AccessKeyRecord) -> Result<(), StoreError> {
        let (p, k) = (principal.clone(), key.clone());
        self.run(move |c| {
            let tx = c.transaction().map_err(backend)?;
            insert_principal_rows(&tx, &p, &k)?;
            tx.commit().map_err(backend)
        })
        .await
    }

    async fn insert_first_principal(&self, principal: &PrincipalRecord, key: &AccessKeyRecord) -> Result<bool, StoreError> {
        let (p, k) = (principal.clone(), key.clone());
        self.run(move |c| {
            // IMMEDIATE: take the write lock before counting, so no other
            // connection can insert between the count and the insert.
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
            let existing: i64 = tx.query_row("SELECT COUNT(*) FROM principals", [], |r| r.get(0)).map_err(backend)?;
            if existing > 0 {
                return Ok(false);
            }
            insert_principal_rows(&tx, &p, &k)?;
            tx.commit().map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn get_principal(&self, arn: &str) -> Result<Option<PrincipalRecord>, StoreError> {
        let arn = arn.to_owned();
        let query = Query::Principal(arn.clone());
        let load = self.read(move |c| {
            c.prepare_cached("SELECT arn, account_id, created_at FROM principals WHERE arn = ?1").map_err(backend)?.query_row(params![arn], |r| {
                Ok(PrincipalRecord { arn: r.get(0)?, account_id: r.get(1)?, created_at: r.get(2)? })
            })
            .optional()
            .map_err(backend)
        });
        self.cached(query, load).await
    }

    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        let id = access_key_id.to_owned();
        let query = Query::AccessKey(id.clone());
        let load = self.read(move |c| {
            c.prepare_cached(&format!("SELECT {} FROM access_keys WHERE access_key_id = ?1", identity::ACCESS_KEY_COLUMNS)).map_err(backend)?.query_row(
                params![id],
                identity::access_key_from_row,
            )
            .optional()
            .map_err(backend)
        });
        self.cached(query, load).await
    }

    async fn count_principals(&self) -> Result<u64, StoreError> {
        self.run(|c| c.query_row("SELECT COUNT(*) FROM principals", [], |r| r.get::<_, i64>(0)).map(|n| n as u64).map_err(backend)).await
    }

    async fn insert_account(&self, account_id: &str, created_at: Millis) -> Result<(), StoreError> {
        let account_id = account_id.to_owned();
        self.run(move |c| identity::insert_account(c, &account_id, created_at)).await
    }

    async fn insert_entity(&self, entity: &EntityRecord, key: Option<&AccessKeyRecord>) -> Result<(), StoreError> {
        let (e, k) = (entity.clone(), key.cloned());
        self.run(move |c| identity::insert_entity(c, &e, k.as_ref())).await
    }

    async fn get_entity(&self, account_id: &str, kind: EntityKind, name: &str) -> Result<Option<EntityRecord>, StoreError> {
        let (account_id, name) = (account_id.to_owned(), name.to_owned());
        let query = Query::Entity(account_id.clone(), kind, name.clone());
        let load = self.read(move |c| identity::get_entity(c, &account_id, kind, &name));
        self.cached(query, load).await
    }

    async fn update_entity(&self, entity: &EntityRecord) -> Result<i64, StoreError> {
        let e = entity.clone();
        self.run(move |c| identity::update_entity(c, &e)).await
    }

    async fn delete_entity(&self, account_id: &str, kind: EntityKind, name: &str, row_version: i64) -> Result<(), StoreError> {
        let (account_id, name) = (account_id.to_owned(), name.to_owned());
        self.run(move |c| identity::delete_entity(c, &account_id, kind, &name, row_version)).await
    }

    async fn list_entities(&self, account_id: &str, kind: EntityKind, after: After<'_>, limit: usize) -> Result<Vec<EntityRecord>, StoreError> {
        let (account_id, after) = (account_id.to_owned(), after.unwrap_or("").to_owned());
        self.run(move |c| identity::list_entities(c, &account_id, kind, &after, limit)).await
    }

    async fn insert_grant(&self, grant: &GrantRecord, max_per_key: usize) -> Result<bool, StoreError> {
        let g = grant.clone();
        self.run(move |c| grants::insert(c, &g, max_per_key)).await
    }

    async fn get_grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        let id = grant_id.to_owned();
        self.run(move |c| grants::get(c, &id)).await
    }

    async fn list_grants(&self, key_id: &str, region: &str, after: After<'_>, limit: usize) -> Result<Vec<GrantRecord>, StoreError> {
        let (key_id, region, after) = (key_id.to_owned(), region.to_owned(), after.unwrap_or("").to_owned());
        self.run(move |c| grants::list_for_key(c, &key_id, &region, &after, limit)).await
    }

    async fn list_retirable_grants(&self, principal: &str, after: After<'_>, limit: usize) -> Result<Vec<GrantRecord>, StoreError> {
        let (principal, after) = (principal.to_owned(), after.unwrap_or("").to_owned());
        self.run(move |c| grants::list_retirable(c, &principal, &after, limit)).await
    }

    async fn grants_for(&self, key_id: &str, region: &str, grantees: &[String]) -> Result<Vec<GrantRecord>, StoreError> {
        let (key_id, region, grantees) = (key_id.to_owned(), region.to_owned(), grantees.to_vec());
        let query = Query::GrantsFor(key_id.clone(), region.clone(), grantees.clone());
        let load = self.read(move |c| grants::for_grantees(c, &key_id, &region, &grantees));
        self.cached(query, load).await
    }

    async fn delete_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        let id = grant_id.to_owned();
        self.run(move |c| grants::delete(c, &id)).await
    }

    async fn insert_access_key(&self, key: &AccessKeyRecord, max_per_principal: usize) -> Result<bool, StoreError> {
        let k = key.clone();
        self.run(move |c| identity::insert_access_key(c, &k, max_per_principal)).await
    }

    async fn list_access_keys(&self, principal_arn: &str) -> Result<Vec<AccessKeyRecord>, StoreError> {
        let arn = principal_arn.to_owned();
        self.run(move |c| identity::list_access_keys(c, &arn)).await
    }

    async fn set_access_key_active(&self, access_key_id: &str, active: bool) -> Result<(), StoreError> {
        let id = access_key_id.to_owned();
        self.run(move |c| identity::set_access_key_active(c, &id, active)).await
    }

    async fn delete_access_key(&self, access_key_id: &str) -> Result<(), StoreError> {
        let id = access_key_id.to_owned();
        self.run(move |c| identity::delete_access_key(c, &id)).await
    }

    async fn insert_custom_key_store(&self, store: &CustomKeyStoreRecord) -> Result<Option<KeyStoreConflict>, StoreError> {
        let s = store.clone();
        self.run(move |c| key_stores::insert(c, &s)).await
    }

    async fn get_custom_key_store(&self, id: &str) -> Result<Option<CustomKeyStoreRecord>, StoreError> {
        // Every request on a key in a key store reads it: cached, on a reader.
        let query = Query::CustomKeyStore(id.to_owned());
        let id = id.to_owned();
        self.cached(query, self.read(move |c| key_stores::get(c, &id))).await
    }

    async fn get_custom_key_store_by_name(&self, account_id: &str, region: &str, name: &str) -> Result<Option<CustomKeyStoreRecord>, StoreError> {
        let (account_id, region, name) = (account_id.to_owned(), region.to_owned(), name.to_owned());
        self.run(move |c| key_stores::get_by_name(c, &account_id, &region, &name)).await
    }

    async fn list_custom_key_stores(&self, account_id: &str, region: &str, after: After<'_>, limit: usize) -> Result<Vec<CustomKeyStoreRecord>, StoreError> {
        let (account_id, region, after) = (account_id.to_owned(), region.to_owned(), after.unwrap_or("").to_owned());
        self.run(move |c| key_stores::list(c, &account_id, &region, &after, limit)).await
    }

    async fn update_custom_key_store(&self, store: &CustomKeyStoreRecord) -> Result<Result<i64, KeyStoreConflict>, StoreError> {
        let s = store.clone();
        self.run(move |c| key_stores::update(c, &s)).await
    }

    async fn delete_custom_key_store(&self, id: &str, row_version: i64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.run(move |c| key_stores::delete(c, &id, row_version)).await
    }

    async fn count_keys_in_custom_key_store(&self, id: &str) -> Result<u64, StoreError> {
        let id = id.to_owned();
        self.run(move |c| key_stores::count_keys(c, &id)).await
    }

    async fn get_setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let name = name.to_owned();
        self.run(move |c| c.query_row("SELECT value FROM settings WHERE name = ?1", params![name], |r| r.get(0)).optional().map_err(backend)).await
    }

    async fn insert_setting(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.run(move |c| c.execute("INSERT INTO settings (name, value) VALUES (?1, ?2)", params![name, value]).map(|_| ()).map_err(backend)).await
    }

    async fn replace_setting(&self, name: &str, expected: &[u8], value: &[u8]) -> Result<bool, StoreError> {
        let (name, expected, value) = (name.to_owned(), expected.to_vec(), value.to_vec());
        self.run(move |c| c.execute("UPDATE settings SET value = ?3 WHERE name = ?1 AND value = ?2", params![name, expected, value]).map(|n| n == 1).map_err(backend)).await
    }

    async fn delete_setting(&self, name: &str, expected: &[u8]) -> Result<bool, StoreError> {
        let (name, expected) = (name.to_owned(), expected.to_vec());
        self.run(move |c| c.execute("DELETE FROM settings WHERE name = ?1 AND value = ?2", params![name, expected]).map(|n| n == 1).map_err(backend)).await
    }

    async fn list_sealed(&self, column: SealedColumn, after: Option<&(String, String)>, limit: usize) -> Result<Vec<SealedValue>, StoreError> {
        let after = after.cloned();
        self.run(move |c| sealed::list(c, column, after.as_ref(), limit)).await
    }

    async fn replace_sealed(&self, column: SealedColumn, changes: &[(SealedValue, Vec<u8>)]) -> Result<usize, StoreError> {
        let changes = changes.to_vec();
        self.run(move |c| sealed::replace(c, column, &changes)).await
    }

    async fn try_lease(&self, name: &str, holder: &str, now: Millis, ttl: Millis) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.run(move |c| {
            let taken = c
                .execute(
                    "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                     WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4",
                    params![name, holder, now + ttl, now],
                )
                .map_err(backend)?;
            Ok(taken == 1)
        })
        .await
    }

    fn read_cache_stats(&self) -> Option<crate::read_cache::CacheStats> {
        // An in-memory database has no cache in use.
        self.watch.as_ref().map(|_| self.cache.stats())
    }
}

/// Why a compare-and-set on an alias changed nothing: `NotFound` if the
/// alias is gone, `Conflict` if it now points at another key.
fn alias_missing_or_moved(c: &rusqlite::Connection, account_id: &str, region: &str, alias_name: &str) -> Result<StoreError, StoreError> {
    let exists: Option<i64> = c
        .query_row("SELECT 1 FROM aliases WHERE account_id = ?1 AND region = ?2 AND alias_name = ?3", params![account_id, region, alias_name], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    Ok(if exists.is_some() { StoreError::Conflict } else { StoreError::NotFound })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_passes_the_conformance_suite() {
        let store = SqliteStore::open_in_memory().unwrap();
        crate::conformance::run_all(&store).await;
    }

    fn temp_db() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("trent-store-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("trent.db")
    }

    #[tokio::test]
    async fn a_file_store_with_its_read_cache_passes_the_conformance_suite() {
        let store = SqliteStore::open(&temp_db()).unwrap();
        assert!(store.epoch().is_some(), "a file store reads its epoch, so its cache is on");
        crate::conformance::run_all(&store).await;
    }

    /// A key read from the file brings its current material into the cache
    /// with it, in the same read transaction.
    #[tokio::test]
    async fn a_key_read_from_the_file_brings_its_current_material_along() {
        crate::conformance::a_key_brings_its_current_material_along(&SqliteStore::open(&temp_db()).unwrap()).await;
    }

    /// Two stores on one file stand for two processes (a server and `trent
    /// account create`): what one commits, the other's cache must not hide.
    #[tokio::test]
    async fn the_read_cache_never_answers_from_before_a_commit_by_another_connection() {
        let path = temp_db();
        let (server, other) = (SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap());
        let (key, material) = crate::conformance::sample_key("111122223333", "k-1");
        server.insert_key(&key, &material).await.unwrap();
        assert_eq!(server.get_key("k-1", "us-east-1").await.unwrap().unwrap().description, key.description);
        assert!(server.get_access_key("AKIANEW").await.unwrap().is_none(), "an absent key is cached too");

        let mut changed = other.get_key("k-1", "us-east-1").await.unwrap().unwrap();
        changed.description = "changed by another connection".into();
        other.update_key(&changed).await.unwrap();
        let p = PrincipalRecord { arn: "arn:aws:iam::111122223333:user/new".into(), account_id: "111122223333".into(), created_at: 1 };
        let k = AccessKeyRecord { access_key_id: "AKIANEW".into(), principal_arn: p.arn.clone(), sealed_secret: vec![1], created_at: 1, active: true };
        other.insert_principal(&p, &k).await.unwrap();

        assert_eq!(server.get_key("k-1", "us-east-1").await.unwrap().unwrap().description, "changed by another connection");
        assert!(server.get_access_key("AKIANEW").await.unwrap().is_some());
        other.set_access_key_active("AKIANEW", false).await.unwrap();
        assert!(!server.get_access_key("AKIANEW").await.unwrap().unwrap().active);
    }

    /// Two processes on one file: a change through one holds on the other
    /// for every request that begins more than `EXTERNAL_WINDOW` after it.
    #[tokio::test]
    async fn changes_through_another_connection_hold_within_the_window() {
        let path = temp_db();
        let (other, server) = (SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap());
        crate::conformance::changes_hold_on_every_node_within(&other, &server, crate::read_cache::EXTERNAL_WINDOW).await;
        assert!(server.cache.stats().hits > 100, "the server answered from its cache: {:?}", server.cache.stats());
    }

    /// Within one request the epoch is read once; the request's own writes
    /// are seen by its next lookup, and this process's by the next request
    /// at once; another process's by requests that begin more than
    /// `EXTERNAL_WINDOW` after its commit.
    #[tokio::test]
    async fn requests_see_this_process_commits_at_once_and_others_within_the_window() {
        use crate::read_cache::{request_scope, EXTERNAL_WINDOW};
        let path = temp_db();
        let (server, other) = (SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap());
        let (key, material) = crate::conformance::sample_key("111122223333", "k-2");
        server.insert_key(&key, &material).await.unwrap();
        request_scope(async {
            let mut k = server.get_key("k-2", "us-east-1").await.unwrap().unwrap();
            k.description = "own write".into();
            server.update_key(&k).await.unwrap();
            assert_eq!(server.get_key("k-2", "us-east-1").await.unwrap().unwrap().description, "own write");
        })
        .await;
        // Many requests in a row, each after a write of this process: none may miss it.
        for i in 0..50 {
            request_scope(async {
                let mut k = server.get_key("k-2", "us-east-1").await.unwrap().unwrap();
                assert_eq!(k.description, format!("write {}", i - 1).replace("write -1", "own write"));
                k.description = format!("write {i}");
                server.update_key(&k).await.unwrap();
            })
            .await;
            request_scope(async { assert_eq!(server.get_key("k-2", "us-east-1").await.unwrap().unwrap().description, format!("write {i}")) }).await;
        }
        let mut k = other.get_key("k-2", "us-east-1").await.unwrap().unwrap();
        k.description = "another's write".into();
        other.update_key(&k).await.unwrap();
        tokio::time::sleep(EXTERNAL_WINDOW * 2).await;
        request_scope(async {
            assert_eq!(server.get_key("k-2", "us-east-1").await.unwrap().unwrap().description, "another's write");
        })
        .await;
    }

    #[tokio::test]
    async fn the_first_principal_is_made_once_on_an_empty_store() {
        let store = SqliteStore::open_in_memory().unwrap();
        let p = PrincipalRecord { arn: "arn:aws:iam::111111111111:user/admin".into(), account_id: "111111111111".into(), created_at: 1 };
        let k = AccessKeyRecord { access_key_id: "AKIA1".into(), principal_arn: p.arn.clone(), sealed_secret: vec![1], created_at: 1, active: true };
        assert!(store.insert_first_principal(&p, &k).await.unwrap());
        let q = PrincipalRecord { arn: "arn:aws:iam::222222222222:user/admin".into(), account_id: "222222222222".into(), created_at: 1 };
        let l = AccessKeyRecord { access_key_id: "AKIA2".into(), principal_arn: q.arn.clone(), sealed_secret: vec![1], created_at: 1, active: true };
        assert!(!store.insert_first_principal(&q, &l).await.unwrap());
        assert_eq!(store.count_principals().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_database_from_before_identities_is_upgraded_in_place() {
        let dir = std::env::temp_dir().join(format!("trent-store-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.db");
        {
            // The schema as the release before IAM left it (migrations 1 and 2), with its first admin.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY);").unwrap();
            for (i, sql) in schema::MIGRATIONS[..2].iter().enumerate() {
                conn.execute_batch(sql).unwrap();
                conn.execute("INSERT INTO schema_migrations (version) VALUES (?1)", params![i as i64 + 1]).unwrap();
            }
            conn.execute_batch(
                "INSERT INTO accounts VALUES ('111111111111', 1);
                 INSERT INTO principals VALUES ('arn:aws:iam::111111111111:user/admin', '111111111111', 1);
                 INSERT INTO access_keys VALUES ('AKIAOLD0000000000001', 'arn:aws:iam::111111111111:user/admin', x'0102', 1);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let key = store.get_access_key("AKIAOLD0000000000001").await.unwrap().unwrap();
        assert!(key.active, "keys made before access keys had a status are active");
        assert_eq!(store.list_access_keys("arn:aws:iam::111111111111:user/admin").await.unwrap().len(), 1);
        // The old admin can now become an IAM user of its account.
        let user = EntityRecord {
            account_id: "111111111111".into(),
            kind: EntityKind::User,
            name: "admin".into(),
            arn: "arn:aws:iam::111111111111:user/admin".into(),
            created_at: 2,
            doc: "{}".into(),
            row_version: 0,
        };
        store.insert_entity(&user, None).await.unwrap();
        assert!(store.get_principal(&user.arn).await.unwrap().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn last_uses_from_before_event_ids_are_kept_without_one() {
        let dir = std::env::temp_dir().join(format!("trent-store-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.db");
        let key_id = "e0000000-0000-4000-8000-00000000000e";
        {
            // The schema as the release before event ids left it (migrations 1 to 6), with a use.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY);").unwrap();
            for (i, sql) in schema::MIGRATIONS[..6].iter().enumerate() {
                conn.execute_batch(sql).unwrap();
                conn.execute("INSERT INTO schema_migrations (version) VALUES (?1)", params![i as i64 + 1]).unwrap();
            }
            conn.execute("INSERT INTO keys VALUES (?1, '111122223333', 'eu-west-1', 'Enabled', NULL, '{}', 1, NULL, NULL)", params![key_id]).unwrap();
            conn.execute("INSERT INTO key_last_usage VALUES (?1, 10, 'Encrypt', 'r1')", params![key_id]).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let old = KeyUsageRecord { key_id: key_id.into(), region: "eu-west-1".into(), used_at: 10, operation: "Encrypt".into(), request_id: "r1".into(), event_id: None };
        assert_eq!(store.get_key_usage(key_id, "eu-west-1").await.unwrap(), Some(old), "the use takes its key's Region");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Migration 11 rebuilds `keys` and the tables that refer to it: a key
    /// made before, its material, alias, grant and last use come through,
    /// now found by id and Region.
    #[tokio::test]
    async fn keys_from_before_replicas_are_found_by_id_and_region() {
        let dir = std::env::temp_dir().join(format!("trent-store-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.db");
        let (key, material) = crate::conformance::sample_key("111122223333", "f0000000-0000-4000-8000-00000000000f");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "foreign_keys", "ON").unwrap();
            conn.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY);").unwrap();
            for (i, sql) in schema::MIGRATIONS[..10].iter().enumerate() {
                conn.execute_batch(sql).unwrap();
                conn.execute("INSERT INTO schema_migrations (version) VALUES (?1)", params![i as i64 + 1]).unwrap();
            }
            let doc = key_doc(&key).unwrap();
            conn.execute(
                "INSERT INTO keys (key_id, account_id, region, state, doc, row_version, next_rotation_at) VALUES (?1, ?2, ?3, 'Enabled', ?4, 7, 99)",
                params![key.key_id, key.account_id, key.region, doc],
            )
            .unwrap();
            conn.execute("INSERT INTO key_materials VALUES (?1, ?2, x'010203', 1)", params![key.key_id, material.material_id]).unwrap();
            conn.execute("INSERT INTO aliases VALUES ('111122223333', 'us-east-1', 'alias/old', ?1, 1, 1)", params![key.key_id]).unwrap();
            conn.execute("INSERT INTO grants VALUES ('g-old', ?1, 'arn:aws:iam::111122223333:user/dave', NULL, NULL, 1, '{}')", params![key.key_id]).unwrap();
            conn.execute("INSERT INTO key_last_usage VALUES (?1, 10, 'Encrypt', 'r1', 'e1')", params![key.key_id]).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let got = store.get_key(&key.key_id, "us-east-1").await.unwrap().unwrap();
        assert_eq!((got.description.as_str(), got.row_version), ("sample", 7));
        assert_eq!(store.get_material(&key.key_id, &material.material_id).await.unwrap().unwrap().stored, vec![1, 2, 3]);
        let conn = Connection::open(&path).unwrap();
        assert!(conn.prepare("SELECT rowid FROM key_materials").is_err(), "migration 12 made key_materials a table WITHOUT ROWID");
        assert_eq!(store.get_alias("111122223333", "us-east-1", "alias/old").await.unwrap().unwrap().target_key_id, key.key_id);
        assert_eq!(store.get_grant("g-old").await.unwrap().unwrap().region, "us-east-1");
        assert_eq!(store.get_key_usage(&key.key_id, "us-east-1").await.unwrap().unwrap().event_id.as_deref(), Some("e1"));
        assert_eq!(store.keys_due_for_rotation(99).await.unwrap(), vec![crate::conformance::east(&key.key_id)], "the indexed columns came through");
        // And a replica now has room beside it.
        store.insert_replica(&got, &crate::conformance::replica_of(&got, "eu-west-1")).await.unwrap();
        assert_eq!(store.key_members(&key.key_id).await.unwrap().len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn reopening_a_file_is_idempotent() {
        let dir = std::env::temp_dir().join(format!("trent-store-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("reopen.db");
        let first = SqliteStore::open(&path).unwrap();
        crate::conformance::reopening_is_idempotent(&first, || async { SqliteStore::open(&path).unwrap() }).await;
        drop(first);
        // And once more after every handle was closed, as after a restart.
        assert!(SqliteStore::open(&path).unwrap().get_key("70000000-0000-4000-8000-000000000007", "us-east-1").await.unwrap().is_some());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
