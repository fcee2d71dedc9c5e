//! Grants in the SQLite store. Each function runs inside [`super::SqliteStore::run`].

use rusqlite::{params, Connection, OptionalExtension};

use super::backend;
use crate::{GrantRecord, StoreError};

const COLUMNS: &str = "grant_id, key_id, region, grantee_principal, retiring_principal, name, created_at, doc";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GrantRecord> {
    Ok(GrantRecord {
        grant_id: r.get(0)?,
        key_id: r.get(1)?,
        region: r.get(2)?,
        grantee_principal: r.get(3)?,
        retiring_principal: r.get(4)?,
        name: r.get(5)?,
        created_at: r.get(6)?,
        doc: r.get(7)?,
    })
}

pub(super) fn insert(c: &mut Connection, g: &GrantRecord, max_per_key: usize) -> Result<bool, StoreError> {
    // IMMEDIATE: the count and the insert happen under the write lock.
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
    if tx.query_row("SELECT 1 FROM keys WHERE key_id = ?1 AND region = ?2", params![g.key_id, g.region], |_| Ok(())).optional().map_err(backend)?.is_none() {
        return Err(StoreError::NotFound);
    }
    let existing: i64 = tx.query_row("SELECT COUNT(*) FROM grants WHERE key_id = ?1 AND region = ?2", params![g.key_id, g.region], |r| r.get(0)).map_err(backend)?;
    if usize::try_from(existing).unwrap_or(usize::MAX) >= max_per_key {
        return Ok(false);
    }
    tx.execute(
        &format!("INSERT INTO grants ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![g.grant_id, g.key_id, g.region, g.grantee_principal, g.retiring_principal, g.name, g.created_at, g.doc],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(true)
}

pub(super) fn get(c: &mut Connection, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
    c.query_row(&format!("SELECT {COLUMNS} FROM grants WHERE grant_id = ?1"), params![grant_id], from_row).optional().map_err(backend)
}

pub(super) fn list_for_key(c: &mut Connection, key_id: &str, region: &str, after: &str, limit: usize) -> Result<Vec<GrantRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM grants WHERE key_id = ?1 AND region = ?2 AND grant_id > ?3 ORDER BY grant_id LIMIT ?4");
    let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![key_id, region, after, limit], from_row).map_err(backend)?;
    rows.map(|r| r.map_err(backend)).collect()
}

pub(super) fn list_retirable(c: &mut Connection, principal: &str, after: &str, limit: usize) -> Result<Vec<GrantRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM grants WHERE retiring_principal = ?1 AND grant_id > ?2 ORDER BY grant_id LIMIT ?3");
    let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![principal, after, limit], from_row).map_err(backend)?;
    rows.map(|r| r.map_err(backend)).collect()
}

pub(super) fn for_grantees(c: &mut Connection, key_id: &str, region: &str, grantees: &[String]) -> Result<Vec<GrantRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM grants WHERE key_id = ?1 AND region = ?2 AND grantee_principal = ?3 ORDER BY grant_id");
    let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
    let mut out = Vec::new();
    for grantee in grantees {
        let rows = stmt.query_map(params![key_id, region, grantee], from_row).map_err(backend)?;
        for r in rows {
            out.push(r.map_err(backend)?);
        }
    }
    Ok(out)
}

pub(super) fn delete(c: &mut Connection, grant_id: &str) -> Result<(), StoreError> {
    match c.execute("DELETE FROM grants WHERE grant_id = ?1", params![grant_id]).map_err(backend)? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}
