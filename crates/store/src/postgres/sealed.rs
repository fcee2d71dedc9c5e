//! Sealed columns on PostgreSQL, for the root rotation (`crate::sealed`).

use super::sql::{begin, commit, execute, get, query, sql_limit};
use crate::{SealedColumn, SealedValue, StoreError};

/// The second id column as PostgreSQL types it (`''` alone has no type).
fn typed(id2: &str) -> &str {
    if id2 == "''" { "''::text" } else { id2 }
}

pub(super) async fn list(c: &deadpool_postgres::Client, column: SealedColumn, after: Option<&(String, String)>, limit: usize) -> Result<Vec<SealedValue>, StoreError> {
    let (table, id1, id2, sealed, _) = column.sql();
    let id2 = typed(id2);
    let sql = format!("SELECT {id1}, {id2}, {sealed} FROM {table} WHERE ({id1}, {id2}) > ($1, $2) ORDER BY {id1}, {id2} LIMIT $3");
    let (a, b) = after.map_or(("", ""), |(a, b)| (a.as_str(), b.as_str()));
    let rows = query(c, &sql, &[&a, &b, &sql_limit(limit)]).await?;
    rows.iter().map(|r| Ok(SealedValue { id: (get(r, 0)?, get(r, 1)?), sealed: get(r, 2)? })).collect()
}

pub(super) async fn replace(c: &mut deadpool_postgres::Client, column: SealedColumn, changes: &[(SealedValue, Vec<u8>)]) -> Result<usize, StoreError> {
    let (table, id1, id2, sealed, also) = column.sql();
    let sql = format!("UPDATE {table} SET {sealed} = $4{also} WHERE {id1} = $1 AND {} = $2 AND {sealed} = $3", typed(id2));
    let tx = begin(c).await?;
    let mut written = 0;
    for (old, new) in changes {
        written += execute(&tx, &sql, &[&old.id.0, &old.id.1, &old.sealed, new]).await?;
    }
    commit(tx).await?;
    usize::try_from(written).map_err(|e| StoreError::Backend(e.to_string()))
}
