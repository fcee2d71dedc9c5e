//! Custom key stores in the PostgreSQL store. A check and the write it
//! decides run in one transaction; two nodes racing past the check meet at
//! the UNIQUE constraints, whose names say which conflict it was.

use deadpool_postgres::GenericClient;
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use super::backend;
use super::sql::{begin, commit, execute, get, in_time, query, query_opt, sql_limit, Params};
use crate::{ConnectionState, CustomKeyStoreRecord, KeyStoreConflict, StoreError, XksProxy};

const COLUMNS: &str = "id, account_id, region, name, store_type, cluster_id, trust_anchor, sealed_password, state, error_code, connection_id, created_at, row_version, \
                       xks_uri_endpoint, xks_uri_path, xks_connectivity, xks_access_key_id";

/// The four proxy columns, all set or all NULL.
fn xks_from_row(r: &Row) -> Result<Option<XksProxy>, StoreError> {
    let (endpoint, path, connectivity, key): (Option<String>, Option<String>, Option<String>, Option<String>) = (get(r, 13)?, get(r, 14)?, get(r, 15)?, get(r, 16)?);
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

fn from_row(r: &Row) -> Result<CustomKeyStoreRecord, StoreError> {
    let state: &str = get(r, 8)?;
    let state = ConnectionState::parse(state).ok_or_else(|| StoreError::Backend(format!("corrupt key store state {state}")))?;
    Ok(CustomKeyStoreRecord {
        id: get(r, 0)?,
        account_id: get(r, 1)?,
        region: get(r, 2)?,
        name: get(r, 3)?,
        store_type: get(r, 4)?,
        cluster_id: get(r, 5)?,
        trust_anchor: get(r, 6)?,
        sealed_password: get(r, 7)?,
        state,
        error_code: get(r, 9)?,
        connection_id: get(r, 10)?,
        created_at: get(r, 11)?,
        row_version: get(r, 12)?,
        xks: xks_from_row(r)?,
    })
}

/// The conflict a racing node's row caused, by the constraint it hit
/// (named in the schema's migration 8).
fn race_conflict(e: &tokio_postgres::Error) -> Option<KeyStoreConflict> {
    let db = e.as_db_error()?;
    if db.code() != &SqlState::UNIQUE_VIOLATION {
        return None;
    }
    match db.constraint()? {
        "custom_key_stores_name_key" => Some(KeyStoreConflict::NameInUse),
        "custom_key_stores_cluster_key" => Some(KeyStoreConflict::ClusterInUse),
        "custom_key_stores_xks_uri_key" => Some(KeyStoreConflict::XksUriInUse),
        _ => None,
    }
}

/// A write that a racing node's row may turn into a conflict.
async fn write(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Result<u64, KeyStoreConflict>, StoreError> {
    in_time("a statement", async {
        let stmt = c.prepare_cached(sql).await.map_err(backend)?;
        match c.execute(&stmt, params).await {
            Ok(n) => Ok(Ok(n)),
            Err(e) => race_conflict(&e).map(Err).ok_or_else(|| backend(e)),
        }
    })
    .await
}

/// Whether another key store (not `s.id`) has `s`'s name in its account
/// and Region, or `s`'s cluster; the name is checked first.
async fn conflict(c: &impl GenericClient, s: &CustomKeyStoreRecord) -> Result<Option<KeyStoreConflict>, StoreError> {
    let sql = "SELECT 1 FROM custom_key_stores WHERE account_id = $1 AND region = $2 AND name = $3 AND id <> $4";
    if query_opt(c, sql, &[&s.account_id, &s.region, &s.name, &s.id]).await?.is_some() {
        return Ok(Some(KeyStoreConflict::NameInUse));
    }
    if query_opt(c, "SELECT 1 FROM custom_key_stores WHERE cluster_id = $1 AND id <> $2", &[&s.cluster_id, &s.id]).await?.is_some() {
        return Ok(Some(KeyStoreConflict::ClusterInUse));
    }
    if let Some(x) = &s.xks {
        let sql = "SELECT 1 FROM custom_key_stores WHERE account_id = $1 AND region = $2 AND xks_uri_endpoint = $3 AND xks_uri_path = $4 AND id <> $5";
        if query_opt(c, sql, &[&s.account_id, &s.region, &x.uri_endpoint, &x.uri_path, &s.id]).await?.is_some() {
            return Ok(Some(KeyStoreConflict::XksUriInUse));
        }
    }
    Ok(None)
}

pub(super) async fn insert(c: &mut deadpool_postgres::Client, s: &CustomKeyStoreRecord) -> Result<Option<KeyStoreConflict>, StoreError> {
    let tx = begin(c).await?;
    if let Some(conflict) = conflict(&tx, s).await? {
        return Ok(Some(conflict));
    }
    let sql = format!("INSERT INTO custom_key_stores ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $14, $15, $16)");
    let state = s.state.as_str();
    let [endpoint, path, connectivity, key] = xks_params(s);
    let params: Params<'_> = &[
        &s.id,
        &s.account_id,
        &s.region,
        &s.name,
        &s.store_type,
        &s.cluster_id,
        &s.trust_anchor,
        &s.sealed_password,
        &state,
        &s.error_code,
        &s.connection_id,
        &s.created_at,
        &endpoint,
        &path,
        &connectivity,
        &key,
    ];
    if let Err(conflict) = write(&tx, &sql, params).await? {
        return Ok(Some(conflict));
    }
    commit(tx).await?;
    Ok(None)
}

pub(super) async fn get_one(c: &impl GenericClient, id: &str) -> Result<Option<CustomKeyStoreRecord>, StoreError> {
    query_opt(c, &format!("SELECT {COLUMNS} FROM custom_key_stores WHERE id = $1"), &[&id]).await?.as_ref().map(from_row).transpose()
}

pub(super) async fn get_by_name(c: &impl GenericClient, account_id: &str, region: &str, name: &str) -> Result<Option<CustomKeyStoreRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM custom_key_stores WHERE account_id = $1 AND region = $2 AND name = $3");
    query_opt(c, &sql, &[&account_id, &region, &name]).await?.as_ref().map(from_row).transpose()
}

pub(super) async fn list(c: &impl GenericClient, account_id: &str, region: &str, after: &str, limit: usize) -> Result<Vec<CustomKeyStoreRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM custom_key_stores WHERE account_id = $1 AND region = $2 AND id > $3 ORDER BY id LIMIT $4");
    query(c, &sql, &[&account_id, &region, &after, &sql_limit(limit)]).await?.iter().map(from_row).collect()
}

/// Locks the row (FOR UPDATE: no other node writes it, and no key naming
/// it is inserted, until the commit); `NotFound` / `Conflict` if it is gone
/// / moved on from `row_version`.
async fn lock_version(c: &impl GenericClient, id: &str, row_version: i64) -> Result<(), StoreError> {
    let current = query_opt(c, "SELECT row_version FROM custom_key_stores WHERE id = $1 FOR UPDATE", &[&id]).await?;
    match current.as_ref().map(|r| get::<i64>(r, 0)).transpose()? {
        None => Err(StoreError::NotFound),
        Some(v) if v != row_version => Err(StoreError::Conflict),
        Some(_) => Ok(()),
    }
}

pub(super) async fn update(c: &mut deadpool_postgres::Client, s: &CustomKeyStoreRecord) -> Result<Result<i64, KeyStoreConflict>, StoreError> {
    let tx = begin(c).await?;
    lock_version(&tx, &s.id, s.row_version).await?;
    if let Some(conflict) = conflict(&tx, s).await? {
        return Ok(Err(conflict));
    }
    // Owner, type and creation time never change.
    let sql = "UPDATE custom_key_stores SET name = $1, cluster_id = $2, trust_anchor = $3, sealed_password = $4, state = $5, error_code = $6, \
               connection_id = $7, xks_uri_endpoint = $9, xks_uri_path = $10, xks_connectivity = $11, xks_access_key_id = $12, \
               row_version = row_version + 1 WHERE id = $8";
    let state = s.state.as_str();
    let [endpoint, path, connectivity, key] = xks_params(s);
    let params: Params<'_> =
        &[&s.name, &s.cluster_id, &s.trust_anchor, &s.sealed_password, &state, &s.error_code, &s.connection_id, &s.id, &endpoint, &path, &connectivity, &key];
    if let Err(conflict) = write(&tx, sql, params).await? {
        return Ok(Err(conflict));
    }
    commit(tx).await?;
    Ok(Ok(s.row_version + 1))
}

pub(super) async fn delete(c: &mut deadpool_postgres::Client, id: &str, row_version: i64) -> Result<bool, StoreError> {
    let tx = begin(c).await?;
    // A key inserted meanwhile either committed before the lock (and is
    // counted) or waits on it and then fails its reference.
    lock_version(&tx, id, row_version).await?;
    if count_keys(&tx, id).await? > 0 {
        return Ok(false);
    }
    execute(&tx, "DELETE FROM custom_key_stores WHERE id = $1", &[&id]).await?;
    commit(tx).await?;
    Ok(true)
}

/// Keys in any state (the index on `keys.custom_key_store_id`).
pub(super) async fn count_keys(c: &impl GenericClient, id: &str) -> Result<u64, StoreError> {
    let rows = query(c, "SELECT COUNT(*) FROM keys WHERE custom_key_store_id = $1", &[&id]).await?;
    let n: i64 = rows.first().map(|r| get(r, 0)).transpose()?.unwrap_or(0);
    u64::try_from(n).map_err(|e| StoreError::Backend(format!("key count: {e}")))
}
