//! Grants in the PostgreSQL store.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::sql::{begin, commit, execute, get, query, query_opt, sql_limit};
use crate::{GrantRecord, StoreError};

const COLUMNS: &str = "grant_id, key_id, region, grantee_principal, retiring_principal, name, created_at, doc";

fn from_row(r: &Row) -> Result<GrantRecord, StoreError> {
    Ok(GrantRecord {
        grant_id: get(r, 0)?,
        key_id: get(r, 1)?,
        region: get(r, 2)?,
        grantee_principal: get(r, 3)?,
        retiring_principal: get(r, 4)?,
        name: get(r, 5)?,
        created_at: get(r, 6)?,
        doc: get(r, 7)?,
    })
}

pub(super) async fn insert(c: &mut deadpool_postgres::Client, g: &GrantRecord, max_per_key: usize) -> Result<bool, StoreError> {
    let tx = begin(c).await?;
    // Lock the key's row: two CreateGrant calls on two nodes then count one
    // after the other instead of both seeing room; a key being destroyed waits.
    if query_opt(&tx, "SELECT 1 FROM keys WHERE key_id = $1 AND region = $2 FOR UPDATE", &[&g.key_id, &g.region]).await?.is_none() {
        return Err(StoreError::NotFound);
    }
    let existing = query(&tx, "SELECT COUNT(*) FROM grants WHERE key_id = $1 AND region = $2", &[&g.key_id, &g.region]).await?;
    let existing: i64 = existing.first().map(|r| get(r, 0)).transpose()?.unwrap_or(0);
    if usize::try_from(existing).unwrap_or(usize::MAX) >= max_per_key {
        return Ok(false);
    }
    let sql = format!("INSERT INTO grants ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
    execute(&tx, &sql, &[&g.grant_id, &g.key_id, &g.region, &g.grantee_principal, &g.retiring_principal, &g.name, &g.created_at, &g.doc]).await?;
    commit(tx).await?;
    Ok(true)
}

pub(super) async fn get_one(c: &impl GenericClient, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
    query_opt(c, &format!("SELECT {COLUMNS} FROM grants WHERE grant_id = $1"), &[&grant_id]).await?.as_ref().map(from_row).transpose()
}

pub(super) async fn list_for_key(c: &impl GenericClient, key_id: &str, region: &str, after: &str, limit: usize) -> Result<Vec<GrantRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM grants WHERE key_id = $1 AND region = $2 AND grant_id > $3 ORDER BY grant_id LIMIT $4");
    query(c, &sql, &[&key_id, &region, &after, &sql_limit(limit)]).await?.iter().map(from_row).collect()
}

pub(super) async fn list_retirable(c: &impl GenericClient, principal: &str, after: &str, limit: usize) -> Result<Vec<GrantRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM grants WHERE retiring_principal = $1 AND grant_id > $2 ORDER BY grant_id LIMIT $3");
    query(c, &sql, &[&principal, &after, &sql_limit(limit)]).await?.iter().map(from_row).collect()
}

pub(super) async fn for_grantees(c: &impl GenericClient, key_id: &str, region: &str, grantees: &[String]) -> Result<Vec<GrantRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM grants WHERE key_id = $1 AND region = $2 AND grantee_principal = ANY($3) ORDER BY grant_id");
    query(c, &sql, &[&key_id, &region, &grantees]).await?.iter().map(from_row).collect()
}

pub(super) async fn delete(c: &impl GenericClient, grant_id: &str) -> Result<(), StoreError> {
    match execute(c, "DELETE FROM grants WHERE grant_id = $1", &[&grant_id]).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}
