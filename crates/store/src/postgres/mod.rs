//! PostgreSQL, for several Trent nodes sharing one database.
//!
//! Every [`Store`] call is one statement or one transaction on a pooled
//! connection, and PostgreSQL's commit (with the default
//! `synchronous_commit=on`) is durable when it returns. Transactions run at
//! READ COMMITTED; where a read decides a later write (`delete_key`) the row
//! is locked `FOR UPDATE` so that no other node can slip a write in between.
//!
//! The pool is deadpool-postgres rather than a hand-made one: it is small,
//! caches prepared statements per connection, and already does the two
//! things a home-grown pool would have to get right: a connection whose
//! socket closed (server restart, failover, idle timeout) is dropped when it
//! is next taken from the pool and a new one is made, and waiting for or
//! opening a connection has a timeout instead of hanging a request. A call
//! that was on a connection when it died fails with [`StoreError::Backend`]
//! (retryable for the client); the next call gets a fresh connection.

mod schema;

use std::error::Error as StdError;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::{After, AccessKeyRecord, AliasRecord, KeyRecord, MaterialRecord, Millis, PrincipalRecord, Store, StoreError};

/// Enough for a node's concurrent requests; each call holds a connection
/// only for its own statements.
const POOL_SIZE: usize = 16;
/// How long a call waits for a free or new connection before it fails.
const POOL_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db?options=...`, no TLS)
    /// and brings the schema up to date. The tables live in the connection's
    /// `search_path`, so a deployment can be put in its own schema with
    /// `options=-csearch_path%3Dname`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| backend_in("database url", e))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_TIMEOUT);
        }
        // libpq's and tokio-postgres' default of 2 hours would leave a call
        // hanging that long on a database host that vanished without closing
        // the socket; a URL that sets its own `keepalives_idle` wins.
        if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(Duration::from_secs(30));
        }
        // Fast: a pooled connection is reused unless its socket is known to be
        // closed; a dead one not yet noticed costs one failed call, not a
        // round trip on every call as `Verified` would.
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(|e| backend_in("connection pool", e))?;
        let store = PostgresStore { pool };
        schema::migrate(&mut store.client().await?).await?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(|e| backend_in("connection pool", e))
    }
}

/// The error, its causes (tokio-postgres' own text is only "db error"),
/// and what it happened in.
fn describe(context: &str, e: &dyn StdError) -> String {
    let mut text = format!("{context}: {e}");
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

fn backend_in(context: &str, e: impl StdError) -> StoreError {
    StoreError::Backend(describe(context, &e))
}

fn backend(e: tokio_postgres::Error) -> StoreError {
    // Only a taken primary key or unique name means "already exists"; other
    // constraint failures (a foreign key, say) are bugs and stay backend errors.
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return StoreError::AlreadyExists;
    }
    backend_in("postgres", e)
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Runs `sql` (prepared once per connection) on a connection or in a transaction.
async fn query(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(backend)?;
    c.query(&stmt, params).await.map_err(backend)
}

async fn query_opt(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Option<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(backend)?;
    c.query_opt(&stmt, params).await.map_err(backend)
}

async fn execute(c: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(backend)?;
    c.execute(&stmt, params).await.map_err(backend)
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i).map_err(backend)
}

fn key_from_row(row: &Row) -> Result<KeyRecord, StoreError> {
    let doc: &str = get(row, 0)?;
    let mut key: KeyRecord = serde_json::from_str(doc).map_err(|e| StoreError::Backend(format!("corrupt key record: {e}")))?;
    key.row_version = get(row, 1)?;
    Ok(key)
}

fn key_doc(key: &KeyRecord) -> Result<String, StoreError> {
    serde_json::to_string(key).map_err(|e| StoreError::Backend(e.to_string()))
}

/// A page size as SQL wants it; no page is ever larger than i64::MAX rows.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

const ALIAS_COLUMNS: &str = "account_id, region, alias_name, target_key_id, created_at, updated_at";

fn alias_from_row(row: &Row) -> Result<AliasRecord, StoreError> {
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
fn one_row(n: u64) -> Result<(), StoreError> {
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn insert_key(&self, key: &KeyRecord, material: &MaterialRecord) -> Result<(), StoreError> {
        let (doc, state) = (key_doc(key)?, key.state.as_str());
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(backend)?;
        execute(
            &tx,
            "INSERT INTO keys (key_id, account_id, region, state, deletion_date, doc, row_version) VALUES ($1, $2, $3, $4, $5, $6, 1)",
            &[&key.key_id, &key.account_id, &key.region, &state, &key.deletion_date, &doc],
        )
        .await?;
        execute(
            &tx,
            "INSERT INTO key_materials (key_id, material_id, stored, created_at) VALUES ($1, $2, $3, $4)",
            &[&material.key_id, &material.material_id, &material.stored, &material.created_at],
        )
        .await?;
        tx.commit().await.map_err(backend)
    }

    async fn get_key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let c = self.client().await?;
        let row = query_opt(&c, "SELECT doc, row_version FROM keys WHERE key_id = $1", &[&key_id]).await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn update_key(&self, key: &KeyRecord) -> Result<i64, StoreError> {
        let (doc, state) = (key_doc(key)?, key.state.as_str());
        let c = self.client().await?;
        // One statement: a concurrent writer of the same row waits for our
        // commit, then re-checks `row_version` and matches nothing.
        let updated = query_opt(
            &c,
            "UPDATE keys SET state = $1, deletion_date = $2, doc = $3, row_version = row_version + 1 WHERE key_id = $4 AND row_version = $5 RETURNING row_version",
            &[&state, &key.deletion_date, &doc, &key.key_id, &key.row_version],
        )
        .await?;
        if let Some(row) = updated {
            return get(&row, 0);
        }
        let exists = query_opt(&c, "SELECT 1 FROM keys WHERE key_id = $1", &[&key.key_id]).await?;
        Err(if exists.is_some() { StoreError::Conflict } else { StoreError::NotFound })
    }

    async fn list_keys(&self, account_id: &str, region: &str, after: After<'_>, limit: usize) -> Result<Vec<KeyRecord>, StoreError> {
        let c = self.client().await?;
        let rows = query(
            &c,
            "SELECT doc, row_version FROM keys WHERE account_id = $1 AND region = $2 AND key_id > $3 ORDER BY key_id LIMIT $4",
            &[&account_id, &region, &after.unwrap_or(""), &sql_limit(limit)],
        )
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn get_material(&self, key_id: &str, material_id: &str) -> Result<Option<MaterialRecord>, StoreError> {
        let c = self.client().await?;
        let row = query_opt(&c, "SELECT key_id, material_id, stored, created_at FROM key_materials WHERE key_id = $1 AND material_id = $2", &[&key_id, &material_id])
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(MaterialRecord { key_id: get(&r, 0)?, material_id: get(&r, 1)?, stored: get(&r, 2)?, created_at: get(&r, 3)? }))
    }

    async fn keys_due_for_deletion(&self, now: Millis) -> Result<Vec<String>, StoreError> {
        let c = self.client().await?;
        let rows = query(&c, "SELECT key_id FROM keys WHERE state = 'PendingDeletion' AND deletion_date <= $1 ORDER BY deletion_date, key_id", &[&now]).await?;
        rows.iter().map(|r| get(r, 0)).collect()
    }

    async fn delete_key(&self, key_id: &str, row_version: i64) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(backend)?;
        // FOR UPDATE: without the lock another node could cancel the deletion
        // (bumping row_version) between this check and the deletes below.
        let current = query_opt(&tx, "SELECT row_version FROM keys WHERE key_id = $1 FOR UPDATE", &[&key_id]).await?;
        match current.as_ref().map(|r| get::<i64>(r, 0)).transpose()? {
            None => return Err(StoreError::NotFound),
            Some(v) if v != row_version => return Err(StoreError::Conflict),
            Some(_) => {}
        }
        execute(&tx, "DELETE FROM aliases WHERE target_key_id = $1", &[&key_id]).await?;
        execute(&tx, "DELETE FROM key_materials WHERE key_id = $1", &[&key_id]).await?;
        execute(&tx, "DELETE FROM keys WHERE key_id = $1", &[&key_id]).await?;
        tx.commit().await.map_err(backend)
    }

    async fn insert_alias(&self, a: &AliasRecord) -> Result<(), StoreError> {
        let c = self.client().await?;
        execute(
            &c,
            &format!("INSERT INTO aliases ({ALIAS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"),
            &[&a.account_id, &a.region, &a.alias_name, &a.target_key_id, &a.created_at, &a.updated_at],
        )
        .await?;
        Ok(())
    }

    async fn get_alias(&self, account_id: &str, region: &str, alias_name: &str) -> Result<Option<AliasRecord>, StoreError> {
        let c = self.client().await?;
        let sql = format!("SELECT {ALIAS_COLUMNS} FROM aliases WHERE account_id = $1 AND region = $2 AND alias_name = $3");
        query_opt(&c, &sql, &[&account_id, &region, &alias_name]).await?.as_ref().map(alias_from_row).transpose()
    }

    async fn update_alias(&self, a: &AliasRecord) -> Result<(), StoreError> {
        let c = self.client().await?;
        let n = execute(
            &c,
            "UPDATE aliases SET target_key_id = $1, updated_at = $2 WHERE account_id = $3 AND region = $4 AND alias_name = $5",
            &[&a.target_key_id, &a.updated_at, &a.account_id, &a.region, &a.alias_name],
        )
        .await?;
        one_row(n)
    }

    async fn delete_alias(&self, account_id: &str, region: &str, alias_name: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        let n = execute(&c, "DELETE FROM aliases WHERE account_id = $1 AND region = $2 AND alias_name = $3", &[&account_id, &region, &alias_name]).await?;
        one_row(n)
    }

    async fn list_aliases(&self, account_id: &str, region: &str, key_id: Option<&str>, after: After<'_>, limit: usize) -> Result<Vec<AliasRecord>, StoreError> {
        let c = self.client().await?;
        let sql = format!(
            "SELECT {ALIAS_COLUMNS} FROM aliases WHERE account_id = $1 AND region = $2 AND ($3::text IS NULL OR target_key_id = $3) AND alias_name > $4 ORDER BY alias_name LIMIT $5"
        );
        let rows = query(&c, &sql, &[&account_id, &region, &key_id, &after.unwrap_or(""), &sql_limit(limit)]).await?;
        rows.iter().map(alias_from_row).collect()
    }

    async fn insert_principal(&self, p: &PrincipalRecord, k: &AccessKeyRecord) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(backend)?;
        insert_principal_rows(&tx, p, k).await?;
        tx.commit().await.map_err(backend)
    }

    async fn insert_first_principal(&self, p: &PrincipalRecord, k: &AccessKeyRecord) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(backend)?;
        // Nodes starting together on an empty database queue here, so the
        // count below cannot go stale before the insert.
        execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&BOOTSTRAP_LOCK]).await?;
        let existing: i64 = query(&tx, "SELECT COUNT(*) FROM principals", &[]).await?.first().map(|r| get(r, 0)).transpose()?.unwrap_or(0);
        if existing > 0 {
            return Ok(false);
        }
        insert_principal_rows(&tx, p, k).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn get_principal(&self, arn: &str) -> Result<Option<PrincipalRecord>, StoreError> {
        let c = self.client().await?;
        let Some(r) = query_opt(&c, "SELECT arn, account_id, created_at FROM principals WHERE arn = $1", &[&arn]).await? else { return Ok(None) };
        Ok(Some(PrincipalRecord { arn: get(&r, 0)?, account_id: get(&r, 1)?, created_at: get(&r, 2)? }))
    }

    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        let c = self.client().await?;
        let sql = "SELECT access_key_id, principal_arn, sealed_secret, created_at FROM access_keys WHERE access_key_id = $1";
        let Some(r) = query_opt(&c, sql, &[&access_key_id]).await? else { return Ok(None) };
        Ok(Some(AccessKeyRecord { access_key_id: get(&r, 0)?, principal_arn: get(&r, 1)?, sealed_secret: get(&r, 2)?, created_at: get(&r, 3)? }))
    }

    async fn count_principals(&self) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let rows = query(&c, "SELECT COUNT(*) FROM principals", &[]).await?;
        let n: i64 = rows.first().map(|r| get(r, 0)).transpose()?.unwrap_or(0);
        u64::try_from(n).map_err(|e| backend_in("principal count", e))
    }

    async fn get_setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let c = self.client().await?;
        let row = query_opt(&c, "SELECT value FROM settings WHERE name = $1", &[&name]).await?;
        row.as_ref().map(|r| get(r, 0)).transpose()
    }

    async fn insert_setting(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let c = self.client().await?;
        execute(&c, "INSERT INTO settings (name, value) VALUES ($1, $2)", &[&name, &value]).await.map(|_| ())
    }

    async fn try_lease(&self, name: &str, holder: &str, now: Millis, ttl: Millis) -> Result<bool, StoreError> {
        let c = self.client().await?;
        // One statement: concurrent takers of a free lease serialize on the
        // row, and the loser's WHERE sees the winner's unexpired lease.
        let taken = execute(
            &c,
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
            &[&name, &holder, &(now + ttl), &now],
        )
        .await?;
        Ok(taken == 1)
    }
}

/// The advisory lock nodes take to create the first admin ("trent_bs").
const BOOTSTRAP_LOCK: i64 = 0x7472_656e_745f_6273;

/// A principal, its account if new, and its access key, inside `tx`.
async fn insert_principal_rows(tx: &impl GenericClient, p: &PrincipalRecord, k: &AccessKeyRecord) -> Result<(), StoreError> {
    // ON CONFLICT: an account may already exist (SQLite's INSERT OR IGNORE).
    execute(tx, "INSERT INTO accounts (account_id, created_at) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING", &[&p.account_id, &p.created_at]).await?;
    execute(tx, "INSERT INTO principals (arn, account_id, created_at) VALUES ($1, $2, $3)", &[&p.arn, &p.account_id, &p.created_at]).await?;
    execute(
        tx,
        "INSERT INTO access_keys (access_key_id, principal_arn, sealed_secret, created_at) VALUES ($1, $2, $3, $4)",
        &[&k.access_key_id, &k.principal_arn, &k.sealed_secret, &k.created_at],
    )
    .await?;
    Ok(())
}
