//! Custom key stores in the SQLite store. Each function runs inside
//! [`super::SqliteStore::run`] (writes move the read cache's epoch there).
//! Writes take the write lock first (IMMEDIATE), so a check and the write
//! it decides cannot be split by another connection; the UNIQUE
//! constraints stay as the backstop.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::backend;
use crate::{ConnectionState, CustomKeyStoreRecord, KeyStoreConflict, StoreError, XksProxy};

const COLUMNS: &str = "id, account_id, region, name, store_type, cluster_id, trust_anchor, sealed_password, state, error_code, connection_id, created_at, row_version, \
                       xks_uri_endpoint, xks_uri_path, xks_connectivity, xks_access_key_id";

/// The four proxy columns, all set or all NULL.
fn xks_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<XksProxy>> {
    let (endpoint, path, connectivity, key): (Option<String>, Option<String>, Option<String>, Option<String>) = (r.get(13)?, r.get(14)?, r.get(15)?, r.get(16)?);
    Ok(match (endpoint, path, connectivity, key) {
        (Some(uri_endpoint), Some(uri_path), Some(connectivity), Some(access_key_id)) => Some(XksProxy { uri_endpoint, uri_path, connectivity, access_key_id }),
        _ => None,
    })
}

/// The proxy columns' values (NULLs for a CloudHSM key store).
fn xks_params(s: &CustomKeyStoreRecord) -> [Option<&str>; 4] {
    match &s.xks {
        Some(x) => [Some(&x.uri_endpoint), Some(&x.uri_path), Some(&x.connectivity), Some(&x.access_key_id)],
        None => [None; 4],
    }
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CustomKeyStoreRecord> {
    let state: String = r.get(8)?;
    let state = ConnectionState::parse(&state)
        .ok_or_else(|| rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, format!("corrupt key store state {state}").into()))?;
    Ok(CustomKeyStoreRecord {
        id: r.get(0)?,
        account_id: r.get(1)?,
        region: r.get(2)?,
        name: r.get(3)?,
        store_type: r.get(4)?,
        cluster_id: r.get(5)?,
        trust_anchor: r.get(6)?,
        sealed_password: r.get(7)?,
        state,
        error_code: r.get(9)?,
        connection_id: r.get(10)?,
        created_at: r.get(11)?,
        row_version: r.get(12)?,
        xks: xks_from_row(r)?,
    })
}

/// Whether another key store (not `s.id`) has `s`'s name in its account
/// and Region, or `s`'s cluster; the name is checked first.
fn conflict(c: &Connection, s: &CustomKeyStoreRecord) -> Result<Option<KeyStoreConflict>, StoreError> {
    let taken = |sql: &str, p: &[&dyn rusqlite::ToSql]| c.query_row(sql, p, |_| Ok(())).optional().map(|r| r.is_some()).map_err(backend);
    if taken("SELECT 1 FROM custom_key_stores WHERE account_id = ?1 AND region = ?2 AND name = ?3 AND id <> ?4", &[&s.account_id, &s.region, &s.name, &s.id])? {
        return Ok(Some(KeyStoreConflict::NameInUse));
    }
    if taken("SELECT 1 FROM custom_key_stores WHERE cluster_id = ?1 AND id <> ?2", &[&s.cluster_id, &s.id])? {
        return Ok(Some(KeyStoreConflict::ClusterInUse));
    }
    if let Some(x) = &s.xks {
        let sql = "SELECT 1 FROM custom_key_stores WHERE account_id = ?1 AND region = ?2 AND xks_uri_endpoint = ?3 AND xks_uri_path = ?4 AND id <> ?5";
        if taken(sql, &[&s.account_id, &s.region, &x.uri_endpoint, &x.uri_path, &s.id])? {
            return Ok(Some(KeyStoreConflict::XksUriInUse));
        }
    }
    Ok(None)
}

pub(super) fn insert(c: &mut Connection, s: &CustomKeyStoreRecord) -> Result<Option<KeyStoreConflict>, StoreError> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    if let Some(conflict) = conflict(&tx, s)? {
        return Ok(Some(conflict));
    }
    let [endpoint, path, connectivity, key] = xks_params(s);
    tx.execute(
        &format!("INSERT INTO custom_key_stores ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 1, ?13, ?14, ?15, ?16)"),
        params![
            s.id,
            s.account_id,
            s.region,
            s.name,
            s.store_type,
            s.cluster_id,
            s.trust_anchor,
            s.sealed_password,
            s.state.as_str(),
            s.error_code,
            s.connection_id,
            s.created_at,
            endpoint,
            path,
            connectivity,
            key
        ],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(None)
}

pub(super) fn get(c: &mut Connection, id: &str) -> Result<Option<CustomKeyStoreRecord>, StoreError> {
    let mut stmt = c.prepare_cached(&format!("SELECT {COLUMNS} FROM custom_key_stores WHERE id = ?1")).map_err(backend)?;
    stmt.query_row(params![id], from_row).optional().map_err(backend)
}

pub(super) fn get_by_name(c: &mut Connection, account_id: &str, region: &str, name: &str) -> Result<Option<CustomKeyStoreRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM custom_key_stores WHERE account_id = ?1 AND region = ?2 AND name = ?3");
    c.query_row(&sql, params![account_id, region, name], from_row).optional().map_err(backend)
}

pub(super) fn list(c: &mut Connection, account_id: &str, region: &str, after: &str, limit: usize) -> Result<Vec<CustomKeyStoreRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM custom_key_stores WHERE account_id = ?1 AND region = ?2 AND id > ?3 ORDER BY id LIMIT ?4");
    let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![account_id, region, after, limit], from_row).map_err(backend)?;
    rows.map(|r| r.map_err(backend)).collect()
}

/// `NotFound` / `Conflict` if the stored row is gone / moved on from
/// `row_version`, read under the write lock.
fn check_version(c: &Connection, id: &str, row_version: i64) -> Result<(), StoreError> {
    let current: Option<i64> = c.query_row("SELECT row_version FROM custom_key_stores WHERE id = ?1", params![id], |r| r.get(0)).optional().map_err(backend)?;
    match current {
        None => Err(StoreError::NotFound),
        Some(v) if v != row_version => Err(StoreError::Conflict),
        Some(_) => Ok(()),
    }
}

pub(super) fn update(c: &mut Connection, s: &CustomKeyStoreRecord) -> Result<Result<i64, KeyStoreConflict>, StoreError> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    check_version(&tx, &s.id, s.row_version)?;
    if let Some(conflict) = conflict(&tx, s)? {
        return Ok(Err(conflict));
    }
    // Owner, type and creation time never change.
    let [endpoint, path, connectivity, key] = xks_params(s);
    tx.execute(
        "UPDATE custom_key_stores SET name = ?1, cluster_id = ?2, trust_anchor = ?3, sealed_password = ?4, state = ?5, error_code = ?6, \
         connection_id = ?7, xks_uri_endpoint = ?9, xks_uri_path = ?10, xks_connectivity = ?11, xks_access_key_id = ?12, \
         row_version = row_version + 1 WHERE id = ?8",
        params![s.name, s.cluster_id, s.trust_anchor, s.sealed_password, s.state.as_str(), s.error_code, s.connection_id, s.id, endpoint, path, connectivity, key],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(Ok(s.row_version + 1))
}

pub(super) fn delete(c: &mut Connection, id: &str, row_version: i64) -> Result<bool, StoreError> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(backend)?;
    check_version(&tx, id, row_version)?;
    if count_keys(&tx, id)? > 0 {
        return Ok(false);
    }
    tx.execute("DELETE FROM custom_key_stores WHERE id = ?1", params![id]).map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(true)
}

/// Keys in any state (the index on `keys.custom_key_store_id`).
pub(super) fn count_keys(c: &Connection, id: &str) -> Result<u64, StoreError> {
    let n: i64 = c.query_row("SELECT COUNT(*) FROM keys WHERE custom_key_store_id = ?1", params![id], |r| r.get(0)).map_err(backend)?;
    Ok(u64::try_from(n).unwrap_or(0))
}
