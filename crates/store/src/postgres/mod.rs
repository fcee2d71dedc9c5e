//! PostgreSQL, for several Trent nodes sharing one database.
//!
//! Every [`Store`](crate::Store) call is one statement or one transaction on
//! a pooled connection, and PostgreSQL's commit (with the default
//! `synchronous_commit=on`) is durable when it returns. Transactions run at
//! READ COMMITTED; where a read decides a later write (`delete_key`) the row
//! is locked `FOR UPDATE` so that no other node can slip a write in between.
//!
//! The pool is deadpool-postgres rather than a hand-made one: it is small,
//! caches prepared statements per connection, and already does what a
//! home-grown pool would have to get right: a connection whose socket
//! closed (server restart, failover, idle timeout) is dropped when it is
//! next taken from the pool and a new one is made, and waiting for or
//! opening a connection has a timeout instead of hanging a request. A call
//! that was on a connection when it died fails with [`StoreError::Backend`]
//! (retryable for the client), and [`release`] retires that connection, so
//! the next call gets a fresh one.
//!
//! The lookups of the request path go through a [`ReadCache`] kept
//! coherent across nodes by the `change_counter` every write transaction
//! moves at its commit (migration 12), polled at most once per
//! [`POLL_WINDOW`](crate::read_cache::POLL_WINDOW). This node's own writes
//! move its cache's epoch as their call ends ([`Conn`]), so what a node
//! acknowledged holds on its very next request; another node's, on every
//! request that begins more than the window after it was acknowledged.

mod grants;
mod key_stores;
mod ops;
mod schema;
mod sealed;
mod sql;

use std::error::Error as StdError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use crate::read_cache::{forget_request_epoch, Answer, Cacheable, Query, ReadCache, POLL_WINDOW};
use crate::StoreError;

/// Enough for a node's concurrent requests; each call holds a connection
/// only for its own statements.
const POOL_SIZE: usize = 16;
/// How long a call waits for a free or new connection before it fails.
const POOL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a poll of the change counter (one tiny query) may take. Every
/// lookup of the node's requests waits for it, so a poll hung on a
/// database host that vanished without closing the socket would hold them
/// all, until the operating system gives up on the connection: after this,
/// lookups fail (a retryable error) until a poll is answered again.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(1);
/// How long data sent on a connection may go unacknowledged by the database
/// host (`TCP_USER_TIMEOUT`) unless the URL sets `tcp_user_timeout`.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);
pub use sql::STATEMENT_TIMEOUT;

/// The schema migrations, in order: for tests that build a database as an
/// older release left it.
#[doc(hidden)]
pub fn migrations() -> &'static [&'static str] {
    schema::MIGRATIONS
}

pub struct PostgresStore {
    pool: Pool,
    cache: ReadCache,
    /// The latest poll of the change counter did not finish in [`POLL_TIMEOUT`].
    poll_timed_out: AtomicBool,
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
        // And a connection whose sent data goes unacknowledged this long is
        // closed by the kernel, instead of after ~15 minutes of retransmits:
        // a connection a call gave up on (`sql::STATEMENT_TIMEOUT`) does not
        // linger with its task and socket.
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        // Fast: a pooled connection is reused unless its socket is known to be
        // closed, instead of a round trip on every call as `Verified` would
        // cost; `release` covers the connections that failed but still look open.
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(|e| backend_in("connection pool", e))?;
        let store = PostgresStore { pool, cache: ReadCache::default(), poll_timed_out: AtomicBool::new(false) };
        let mut c = store.client().await?;
        let migrated = schema::migrate(&mut c).await;
        release(c, migrated)?;
        Ok(store)
    }

    /// A connection for a call that may write: when the call ends (or is
    /// dropped mid-way), this node's read cache moves on.
    async fn client(&self) -> Result<Conn<'_>, StoreError> {
        Ok(Conn { client: self.pooled().await?, done: Done { cache: &self.cache, wrote: true } })
    }

    /// A connection for a call that only reads.
    async fn reader(&self) -> Result<Conn<'_>, StoreError> {
        Ok(Conn { client: self.pooled().await?, done: Done { cache: &self.cache, wrote: false } })
    }

    /// A connection for a call that writes only what no cached answer can
    /// hold (the tables migration 13 leaves unwatched; a fresh key, see
    /// [`Store::insert_fresh_key`](crate::Store::insert_fresh_key)): it
    /// leaves the epoch, and so this node's cache, alone.
    async fn quiet_writer(&self) -> Result<Conn<'_>, StoreError> {
        self.reader().await
    }

    async fn pooled(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(|e| backend_in("connection pool", e))
    }

    /// `load`'s answer to `query`, from the cache while nothing was committed.
    /// While the database does not answer the poll in time, not even from
    /// the database: the lookup fails at once rather than queue on it too.
    async fn cached<T: Cacheable>(&self, query: Query, load: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        self.cached_and_keep_also(query, async { Ok((load.await?, None)) }).await
    }

    /// As [`PostgresStore::cached`], for a load that read one more answer
    /// in the same statement ([`ReadCache::get_and_keep_also`]).
    async fn cached_and_keep_also<T: Cacheable>(
        &self,
        query: Query,
        load: impl std::future::Future<Output = Result<(T, Option<(Query, Answer)>), StoreError>>,
    ) -> Result<T, StoreError> {
        let epoch = self.cache.epoch_polled(POLL_WINDOW, || self.changes()).await;
        if epoch.is_none() && self.poll_timed_out.load(Ordering::SeqCst) {
            return Err(StoreError::Backend(format!("the database did not answer a poll of its change counter within {POLL_TIMEOUT:?}")));
        }
        self.cache.get_and_keep_also(epoch, query, load).await
    }

    /// The change counter's sum, which every committed write transaction
    /// moves (`None` if it cannot be read in [`POLL_TIMEOUT`]: then the
    /// cache serves nothing).
    async fn changes(&self) -> Option<u64> {
        let answer = self.read_changes(tokio::time::Instant::now() + POLL_TIMEOUT).await;
        self.poll_timed_out.store(answer.is_err(), Ordering::SeqCst);
        answer.ok().flatten()
    }

    /// The counter (`None` if it cannot be read), `Err` if `deadline` came first.
    async fn read_changes(&self, deadline: tokio::time::Instant) -> Result<Option<u64>, tokio::time::error::Elapsed> {
        let Ok(c) = tokio::time::timeout_at(deadline, self.pooled()).await? else { return Ok(None) };
        let read = async {
            let row = sql::query_opt(&c, "SELECT COALESCE(SUM(changes), 0)::BIGINT FROM change_counter", &[]).await?;
            row.as_ref().map(|r| sql::get::<i64>(r, 0)).transpose()
        };
        match tokio::time::timeout_at(deadline, read).await {
            Ok(read) => Ok(release_client(c, read).ok().flatten().map(|sum| sum as u64)),
            Err(elapsed) => {
                // Its answer may come late or never: the connection is closed,
                // not given back for the next call to hang on.
                drop(deadpool_postgres::Object::take(c));
                Err(elapsed)
            }
        }
    }
}

/// A pooled connection, and what its end means for the read cache.
struct Conn<'a> {
    client: deadpool_postgres::Client,
    done: Done<'a>,
}

impl std::ops::Deref for Conn<'_> {
    type Target = deadpool_postgres::Client;
    fn deref(&self) -> &Self::Target {
        &self.client
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.client
    }
}

/// Runs when a call's connection goes back (also when a cancelled request
/// drops it): after a write the epoch moves on, as the commit may have
/// happened whatever the call returned; after any call the request's next
/// lookup takes a fresh reading, so it sees what this call saw.
struct Done<'a> {
    cache: &'a ReadCache,
    wrote: bool,
}

impl Drop for Done<'_> {
    fn drop(&mut self) {
        if self.wrote {
            self.cache.note_commit();
        }
        forget_request_epoch();
    }
}

/// Gives a connection back to the pool, unless the call on it failed with a
/// backend error: then the connection is closed instead. Such errors are
/// rare (an outage or a bug), and after one the connection cannot cheaply be
/// trusted: a server that sent FATAL (restart, `pg_terminate_backend`) is
/// about to close it, yet for a moment it still looks open, and the pool
/// would hand it to the very next call. Expected answers (AlreadyExists,
/// Conflict, NotFound) keep the connection.
fn release<T>(c: Conn<'_>, result: Result<T, StoreError>) -> Result<T, StoreError> {
    let Conn { client, done } = c;
    let result = release_client(client, result);
    drop(done);
    result
}

fn release_client<T>(c: deadpool_postgres::Client, result: Result<T, StoreError>) -> Result<T, StoreError> {
    if matches!(result, Err(StoreError::Backend(_))) {
        drop(deadpool_postgres::Object::take(c));
    }
    result
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

/// What the root key fence raises (migration 14).
const ROOT_FENCE_SQLSTATE: &str = "TR001";

fn backend(e: tokio_postgres::Error) -> StoreError {
    // A taken primary key or unique name means "already exists"; a missing
    // row a write refers to (an alias whose key was just destroyed) means
    // "not found". Other failures stay backend errors.
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        return StoreError::AlreadyExists;
    }
    if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
        return StoreError::NotFound;
    }
    if e.code().map(SqlState::code) == Some(ROOT_FENCE_SQLSTATE) {
        return StoreError::RootKeyRotated;
    }
    backend_in("postgres", e)
}
