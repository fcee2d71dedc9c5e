//! Sealed columns on SQLite, for the root rotation (`crate::sealed`).

use rusqlite::{params, Connection};

use super::backend;
use crate::{SealedColumn, SealedValue, StoreError};

pub(super) fn list(c: &mut Connection, column: SealedColumn, after: Option<&(String, String)>, limit: usize) -> Result<Vec<SealedValue>, StoreError> {
    let (table, id1, id2, sealed, _) = column.sql();
    let sql = format!("SELECT {id1}, {id2}, {sealed} FROM {table} WHERE ({id1}, {id2}) > (?1, ?2) ORDER BY {id1}, {id2} LIMIT ?3");
    let (a, b) = after.map_or(("", ""), |(a, b)| (a.as_str(), b.as_str()));
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = c.prepare_cached(&sql).map_err(backend)?;
    let rows = stmt.query_map(params![a, b, limit], |r| Ok(SealedValue { id: (r.get(0)?, r.get(1)?), sealed: r.get(2)? })).map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(backend)
}

pub(super) fn replace(c: &mut Connection, column: SealedColumn, changes: &[(SealedValue, Vec<u8>)]) -> Result<usize, StoreError> {
    let (table, id1, id2, sealed, also) = column.sql();
    let sql = format!("UPDATE {table} SET {sealed} = ?4{also} WHERE {id1} = ?1 AND {id2} = ?2 AND {sealed} = ?3");
    let tx = c.transaction().map_err(backend)?;
    let mut written = 0;
    {
        let mut stmt = tx.prepare_cached(&sql).map_err(backend)?;
        for (old, new) in changes {
            written += stmt.execute(params![old.id.0, old.id.1, old.sealed, new]).map_err(backend)?;
        }
    }
    tx.commit().map_err(backend)?;
    Ok(written)
}
