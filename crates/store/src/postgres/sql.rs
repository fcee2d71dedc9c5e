//! Statement helpers and row mapping shared by the store's operations.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::Row;

use super::backend;
use crate::{AccessKeyRecord, AliasRecord, EntityKind, EntityRecord, KeyLocation, KeyRecord, Millis, PrincipalRecord, StoreError};

pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// How long one statement (its preparing included), `BEGIN` or `COMMIT`
/// may take. Without it, a call on a connection to a database host that
/// vanished without closing the socket waits until TCP gives up: minutes
/// for a write in flight. After it the call fails with a backend error
/// (retryable for the client), and [`release`](super::release) closes the
/// connection instead of giving it back. A `COMMIT` that timed out may
/// still have committed: as when a connection dies mid-commit, the client
/// is told the call failed, not that nothing changed.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// `work` (one round trip, or a prepare and one), failed after [`STATEMENT_TIMEOUT`].
pub(super) async fn in_time<T>(what: &str, work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    match tokio::time::timeout(STATEMENT_TIMEOUT, work).await {
        Ok(done) => done,
        Err(_) => Err(StoreError::Backend(format!("the database did not answer {what} within {STATEMENT_TIMEOUT:?}"))),
    }
}

/// Runs `sql` (prepared once per connection) on a connection or in a transaction.
pub(super) async fn query(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StoreError> {
    in_time("a statement", async {
        let stmt = c.prepare_cached(sql).await.map_err(backend)?;
        c.query(&stmt, params).await.map_err(backend)
    })
    .await
}

pub(super) async fn query_opt(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Option<Row>, StoreError> {
    in_time("a statement", async {
        let stmt = c.prepare_cached(sql).await.map_err(backend)?;
        c.query_opt(&stmt, params).await.map_err(backend)
    })
    .await
}

pub(super) async fn execute(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
    in_time("a statement", async {
        let stmt = c.prepare_cached(sql).await.map_err(backend)?;
        c.execute(&stmt, params).await.map_err(backend)
    })
    .await
}

/// `BEGIN`, in [`STATEMENT_TIMEOUT`].
pub(super) async fn begin(c: &mut deadpool_postgres::Client) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    in_time("BEGIN", async { c.transaction().await.map_err(backend) }).await
}

/// `COMMIT`, in [`STATEMENT_TIMEOUT`].
pub(super) async fn commit(tx: deadpool_postgres::Transaction<'_>) -> Result<(), StoreError> {
    in_time("COMMIT", async { tx.commit().await.map_err(backend) }).await
}

/// Column `i`; a type mismatch is an error, not a panic as `Row::get`'s.
pub(super) fn get<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i).map_err(backend)
}

/// The single number a `SELECT COUNT(*)` returns.
pub(super) async fn count(c: &impl GenericClient, sql: &str) -> Result<i64, StoreError> {
    query(c, sql, &[]).await?.first().map(|r| get(r, 0)).transpose().map(|n| n.unwrap_or(0))
}

pub(super) fn key_from_row(row: &Row) -> Result<KeyRecord, StoreError> {
    let doc: &str = get(row, 0)?;
    let mut key: KeyRecord = serde_json::from_str(doc).map_err(|e| StoreError::Backend(format!("corrupt key record: {e}")))?;
    key.row_version = get(row, 1)?;
    Ok(key)
}

pub(super) fn key_doc(key: &KeyRecord) -> Result<String, StoreError> {
    serde_json::to_string(key).map_err(|e| StoreError::Backend(e.to_string()))
}

/// A page size as SQL wants it; no page is ever larger than i64::MAX rows.
pub(super) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

pub(super) const ALIAS_COLUMNS: &str = "account_id, region, alias_name, target_key_id, created_at, updated_at";

pub(super) fn alias_from_row(row: &Row) -> Result<AliasRecord, StoreError> {
    Ok(AliasRecord {
        account_id: get(row, 0)?,
        region: get(row, 1)?,
        alias_name: get(row, 2)?,
        target_key_id: get(row, 3)?,
        created_at: get(row, 4)?,
        updated_at: get(row, 5)?,
    })
}

/// `NotFound` when a statement that must touch one row touched none.
pub(super) fn one_row(n: u64) -> Result<(), StoreError> {
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// A principal, its account if new, and its access key, inside `tx`.
pub(super) async fn insert_principal_rows(tx: &impl GenericClient, p: &PrincipalRecord, k: &AccessKeyRecord) -> Result<(), StoreError> {
    // ON CONFLICT: an account may already exist (SQLite's INSERT OR IGNORE).
    execute(tx, "INSERT INTO accounts (account_id, created_at) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING", &[&p.account_id, &p.created_at]).await?;
    execute(tx, "INSERT INTO principals (arn, account_id, created_at) VALUES ($1, $2, $3)", &[&p.arn, &p.account_id, &p.created_at]).await?;
    insert_access_key_row(tx, k).await
}

pub(super) const ACCESS_KEY_COLUMNS: &str = "access_key_id, principal_arn, sealed_secret, created_at, active";

pub(super) async fn insert_access_key_row(tx: &impl GenericClient, k: &AccessKeyRecord) -> Result<(), StoreError> {
    let sql = format!("INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)");
    execute(tx, &sql, &[&k.access_key_id, &k.principal_arn, &k.sealed_secret, &k.created_at, &k.active]).await.map(|_| ())
}

pub(super) fn access_key_from_row(r: &Row) -> Result<AccessKeyRecord, StoreError> {
    Ok(AccessKeyRecord { access_key_id: get(r, 0)?, principal_arn: get(r, 1)?, sealed_secret: get(r, 2)?, created_at: get(r, 3)?, active: get(r, 4)? })
}

pub(super) const ENTITY_COLUMNS: &str = "account_id, kind, name, arn, created_at, doc, row_version";

pub(super) fn entity_from_row(r: &Row) -> Result<EntityRecord, StoreError> {
    let kind = match get::<&str>(r, 1)? {
        "user" => EntityKind::User,
        "role" => EntityKind::Role,
        "policy" => EntityKind::Policy,
        other => return Err(StoreError::Backend(format!("corrupt entity kind {other}"))),
    };
    Ok(EntityRecord { account_id: get(r, 0)?, kind, name: get(r, 2)?, arn: get(r, 3)?, created_at: get(r, 4)?, doc: get(r, 5)?, row_version: get(r, 6)? })
}

/// The compare-and-set write of a key, in one statement: a concurrent writer
/// of the same row waits for our commit, then re-checks `row_version` and
/// matches nothing. For a multi-Region primary, then what its set shares,
/// to every replica that differs (run it in a transaction). Returns the new
/// `row_version`.
pub(super) async fn save_key(c: &impl GenericClient, key: &KeyRecord, doc: &str) -> Result<i64, StoreError> {
    let primary = key.multi_region && !key.is_replica();
    // A primary's write changes its replicas too: lock the whole set first,
    // in the one order every multi-member write takes ([`lock_members`]).
    let set = if primary { lock_members(c, &key.key_id).await? } else { Vec::new() };
    let updated = query_opt(
        c,
        "UPDATE keys SET state = $1, deletion_date = $2, next_rotation_at = $3, material_valid_to = $4, doc = $5, row_version = row_version + 1 \
         WHERE key_id = $6 AND region = $7 AND row_version = $8 RETURNING row_version",
        &[&key.state.as_str(), &key.deletion_date, &key.rotation_due(), &key.next_material_expiry(), &doc, &key.key_id, &key.region, &key.row_version],
    )
    .await?;
    let Some(row) = updated else {
        let exists = query_opt(c, "SELECT 1 FROM keys WHERE key_id = $1 AND region = $2", &[&key.key_id, &key.region]).await?;
        return Err(if exists.is_some() { StoreError::Conflict } else { StoreError::NotFound });
    };
    for mut replica in set.into_iter().filter(|m| m.region != key.region) {
        if replica.share_from(key) {
            let sql = "UPDATE keys SET state = $1, next_rotation_at = $2, material_valid_to = $3, doc = $4, row_version = row_version + 1 WHERE key_id = $5 AND region = $6";
            execute(c, sql, &[&replica.state.as_str(), &replica.rotation_due(), &replica.next_material_expiry(), &key_doc(&replica)?, &replica.key_id, &replica.region]).await?;
        }
    }
    get(&row, 0)
}

/// Every member of the set sharing `key_id`, locked (FOR UPDATE) until the
/// transaction ends, in Region order: the one order every write of several
/// members takes, so two of them never deadlock; each row as last committed.
pub(super) async fn lock_members(c: &impl GenericClient, key_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
    query(c, "SELECT doc, row_version FROM keys WHERE key_id = $1 ORDER BY region FOR UPDATE", &[&key_id]).await?.iter().map(key_from_row).collect()
}

/// Every member of the set sharing `key_id`, by Region.
pub(super) async fn members(c: &impl GenericClient, key_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
    query(c, "SELECT doc, row_version FROM keys WHERE key_id = $1 ORDER BY region", &[&key_id]).await?.iter().map(key_from_row).collect()
}

/// Key locations from a `SELECT key_id, region ... WHERE ... $1`.
pub(super) async fn locations(c: &impl GenericClient, sql: &str, now: Millis) -> Result<Vec<KeyLocation>, StoreError> {
    query(c, sql, &[&now]).await?.iter().map(|r| Ok(KeyLocation { key_id: get(r, 0)?, region: get(r, 1)? })).collect()
}

/// Why a compare-and-set on an alias changed nothing: `NotFound` if the
/// alias is gone, `Conflict` if it now points at another key.
pub(super) async fn alias_missing_or_moved(c: &impl GenericClient, account_id: &str, region: &str, alias_name: &str) -> Result<StoreError, StoreError> {
    let row = query_opt(c, "SELECT 1 FROM aliases WHERE account_id = $1 AND region = $2 AND alias_name = $3", &[&account_id, &region, &alias_name]).await?;
    Ok(if row.is_some() { StoreError::Conflict } else { StoreError::NotFound })
}
