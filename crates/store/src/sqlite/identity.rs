//! The IAM part of the SQLite store: accounts, users, roles, managed
//! policies and access keys. Each function runs inside [`super::SqliteStore::run`].

use rusqlite::{params, Connection, OptionalExtension};

use super::backend;
use crate::{AccessKeyRecord, EntityKind, EntityRecord, StoreError};

const ENTITY_COLUMNS: &str = "account_id, kind, name, arn, created_at, doc, row_version";

fn kind_from(text: &str) -> rusqlite::Result<EntityKind> {
    match text {
        "user" => Ok(EntityKind::User),
        "role" => Ok(EntityKind::Role),
        "policy" => Ok(EntityKind::Policy),
        other => Err(rusqlite::Error::InvalidColumnType(1, format!("entity kind {other}"), rusqlite::types::Type::Text)),
    }
}

fn entity_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntityRecord> {
    Ok(EntityRecord {
        account_id: r.get(0)?,
        kind: kind_from(&r.get::<_, String>(1)?)?,
        name: r.get(2)?,
        arn: r.get(3)?,
        created_at: r.get(4)?,
        doc: r.get(5)?,
        row_version: r.get(6)?,
    })
}

pub(super) const ACCESS_KEY_COLUMNS: &str = "access_key_id, principal_arn, sealed_secret, created_at, active";

pub(super) fn access_key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccessKeyRecord> {
    Ok(AccessKeyRecord { access_key_id: r.get(0)?, principal_arn: r.get(1)?, sealed_secret: r.get(2)?, created_at: r.get(3)?, active: r.get(4)? })
}

pub(super) fn insert_account(c: &mut Connection, account_id: &str, created_at: i64) -> Result<(), StoreError> {
    c.execute("INSERT INTO accounts (account_id, created_at) VALUES (?1, ?2)", params![account_id, created_at]).map_err(backend)?;
    Ok(())
}

pub(super) fn insert_entity(c: &mut Connection, e: &EntityRecord, key: Option<&AccessKeyRecord>) -> Result<(), StoreError> {
    let tx = c.transaction().map_err(backend)?;
    tx.execute("INSERT OR IGNORE INTO accounts (account_id, created_at) VALUES (?1, ?2)", params![e.account_id, e.created_at]).map_err(backend)?;
    tx.execute(
        "INSERT INTO iam_entities (account_id, kind, folded_name, name, arn, created_at, doc, row_version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)",
        params![e.account_id, e.kind.as_str(), EntityRecord::folded_name(&e.name), e.name, e.arn, e.created_at, e.doc],
    )
    .map_err(backend)?;
    if e.kind == EntityKind::User {
        // The bootstrap admin's principal row may already be there.
        tx.execute("INSERT OR IGNORE INTO principals (arn, account_id, created_at) VALUES (?1, ?2, ?3)", params![e.arn, e.account_id, e.created_at])
            .map_err(backend)?;
    }
    if let Some(k) = key {
        tx.execute(
            &format!("INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
            params![k.access_key_id, k.principal_arn, k.sealed_secret, k.created_at, k.active],
        )
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

pub(super) fn get_entity(c: &mut Connection, account_id: &str, kind: EntityKind, name: &str) -> Result<Option<EntityRecord>, StoreError> {
    c.prepare_cached(&format!("SELECT {ENTITY_COLUMNS} FROM iam_entities WHERE account_id = ?1 AND kind = ?2 AND folded_name = ?3")).map_err(backend)?.query_row(
        params![account_id, kind.as_str(), EntityRecord::folded_name(name)],
        entity_from_row,
    )
    .optional()
    .map_err(backend)
}

pub(super) fn update_entity(c: &mut Connection, e: &EntityRecord) -> Result<i64, StoreError> {
    let folded = EntityRecord::folded_name(&e.name);
    let changed = c
        .execute(
            "UPDATE iam_entities SET doc = ?1, row_version = row_version + 1 WHERE account_id = ?2 AND kind = ?3 AND folded_name = ?4 AND row_version = ?5",
            params![e.doc, e.account_id, e.kind.as_str(), folded, e.row_version],
        )
        .map_err(backend)?;
    if changed == 1 {
        return Ok(e.row_version + 1);
    }
    Err(if get_entity(c, &e.account_id, e.kind, &e.name)?.is_some() { StoreError::Conflict } else { StoreError::NotFound })
}

pub(super) fn delete_entity(c: &mut Connection, account_id: &str, kind: EntityKind, name: &str, row_version: i64) -> Result<(), StoreError> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
    let current: Option<(String, i64)> = tx
        .query_row(
            "SELECT arn, row_version FROM iam_entities WHERE account_id = ?1 AND kind = ?2 AND folded_name = ?3",
            params![account_id, kind.as_str(), EntityRecord::folded_name(name)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(backend)?;
    let arn = match current {
        None => return Err(StoreError::NotFound),
        Some((_, v)) if v != row_version => return Err(StoreError::Conflict),
        Some((arn, _)) => arn,
    };
    tx.execute("DELETE FROM iam_entities WHERE arn = ?1", params![arn]).map_err(backend)?;
    if kind == EntityKind::User {
        tx.execute("DELETE FROM access_keys WHERE principal_arn = ?1", params![arn]).map_err(backend)?;
        tx.execute("DELETE FROM principals WHERE arn = ?1", params![arn]).map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

pub(super) fn list_entities(c: &mut Connection, account_id: &str, kind: EntityKind, after: &str, limit: usize) -> Result<Vec<EntityRecord>, StoreError> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {ENTITY_COLUMNS} FROM iam_entities WHERE account_id = ?1 AND kind = ?2 AND folded_name > ?3 ORDER BY folded_name LIMIT ?4"
        ))
        .map_err(backend)?;
    let rows = stmt.query_map(params![account_id, kind.as_str(), after, limit as i64], entity_from_row).map_err(backend)?;
    rows.map(|r| r.map_err(backend)).collect()
}

pub(super) fn insert_access_key(c: &mut Connection, k: &AccessKeyRecord, max: usize) -> Result<bool, StoreError> {
    // IMMEDIATE: the count and the insert happen under the write lock.
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(backend)?;
    let existing: i64 = tx.query_row("SELECT COUNT(*) FROM access_keys WHERE principal_arn = ?1", params![k.principal_arn], |r| r.get(0)).map_err(backend)?;
    if existing as usize >= max {
        return Ok(false);
    }
    tx.execute(
        &format!("INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
        params![k.access_key_id, k.principal_arn, k.sealed_secret, k.created_at, k.active],
    )
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    Ok(true)
}

pub(super) fn list_access_keys(c: &mut Connection, principal_arn: &str) -> Result<Vec<AccessKeyRecord>, StoreError> {
    let mut stmt = c
        .prepare_cached(&format!("SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE principal_arn = ?1 ORDER BY created_at, access_key_id"))
        .map_err(backend)?;
    let rows = stmt.query_map(params![principal_arn], access_key_from_row).map_err(backend)?;
    rows.map(|r| r.map_err(backend)).collect()
}

pub(super) fn set_access_key_active(c: &mut Connection, access_key_id: &str, active: bool) -> Result<(), StoreError> {
    let n = c.execute("UPDATE access_keys SET active = ?1 WHERE access_key_id = ?2", params![active, access_key_id]).map_err(backend)?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub(super) fn delete_access_key(c: &mut Connection, access_key_id: &str) -> Result<(), StoreError> {
    let n = c.execute("DELETE FROM access_keys WHERE access_key_id = ?1", params![access_key_id]).map_err(backend)?;
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}
