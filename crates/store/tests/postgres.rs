//! The store conformance suite and the several-node cases against a real
//! PostgreSQL.
//!
//! The server comes from `TRENT_TEST_POSTGRES_URL`, else the local default
//! `postgres://postgres@127.0.0.1:5432/test` (CI's). Only when the variable
//! is unset and nothing listens at the default do the tests say "skipping"
//! and pass: PostgreSQL is optional on a developer's machine, but a server
//! that was asked for and fails is a failure. Each test works in a fresh
//! schema of its own, dropped at the end even if the test panics.

#![cfg(feature = "postgres")]

use std::time::Duration;

use tokio_postgres::NoTls;
use trent_store::postgres::PostgresStore;
use trent_store::read_cache::POLL_WINDOW;
use trent_store::{Store, StoreError};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh schema on the test server; dropped with the value.
struct Scratch {
    base_url: String,
    schema: String,
    admin: tokio_postgres::Client,
}

impl Scratch {
    /// None (with a message) if no server runs at the default address.
    async fn new() -> Option<Scratch> {
        let from_env = std::env::var("TRENT_TEST_POSTGRES_URL").ok();
        let base_url = from_env.clone().unwrap_or_else(|| DEFAULT_URL.to_owned());
        let admin = match connect(&base_url).await {
            Ok(admin) => admin,
            Err(e) if from_env.is_none() && refused(&e) => {
                eprintln!("skipping: no PostgreSQL at {base_url} (connection refused); set TRENT_TEST_POSTGRES_URL to run these tests");
                return None;
            }
            Err(e) => panic!("PostgreSQL at {base_url}: {e:?}"),
        };
        let schema = format!("trent_test_{}", uuid::Uuid::new_v4().simple());
        admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("create the test schema");
        Some(Scratch { base_url, schema, admin })
    }

    /// The URL a store uses to live in this schema: every pooled connection
    /// starts with it as its `search_path`, and is named after it so a test
    /// can find its backends in `pg_stat_activity`.
    fn url(&self) -> String {
        let sep = if self.base_url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{schema}&application_name={schema}", self.base_url, schema = self.schema)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be unwinding: a
        // thread of its own with its own runtime and connection does it.
        let (url, schema) = (self.base_url.clone(), self.schema.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime to drop the test schema");
            rt.block_on(async {
                let admin = connect(&url).await?;
                // A test that panicked stopped its runtime, so its store's
                // connections may sit mid-transaction holding locks the DROP
                // would wait on forever: a failing test must fail, not hang.
                let stray = format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{schema}'");
                admin.batch_execute(&stray).await?;
                admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}: {dropped:?}", self.schema);
        }
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn refused(e: &tokio_postgres::Error) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
            return true;
        }
        cause = c.source();
    }
    false
}

#[tokio::test]
async fn a_refused_connection_is_told_apart_from_other_failures() {
    // What the skip above rests on; port 1 has no listener.
    let Err(e) = connect("postgres://postgres@127.0.0.1:1/test").await else { panic!("nothing listens on port 1") };
    assert!(refused(&e), "{e:?}");
}

#[tokio::test]
async fn postgres_passes_the_conformance_suite() {
    let Some(scratch) = Scratch::new().await else { return };
    let store = PostgresStore::connect(&scratch.url()).await.unwrap();
    trent_store::conformance::run_all(&store).await;
}

/// Migration 11 (keys by id and Region) on a database an older release
/// left: its key, material, alias, grant and last use come through, now
/// found by id and Region, and a replica has room beside the key.
#[tokio::test]
async fn keys_from_before_replicas_are_found_by_id_and_region() {
    let Some(scratch) = Scratch::new().await else { return };
    let (key, material) = trent_store::conformance::sample_key("111122223333", "f0000000-0000-4000-8000-00000000000f");
    let mut sql = format!("SET search_path TO {}; CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY);", scratch.schema);
    for (i, migration) in trent_store::postgres::migrations()[..10].iter().enumerate() {
        sql.push_str(migration);
        sql.push_str(&format!(";INSERT INTO schema_migrations VALUES ({});", i + 1));
    }
    let doc = serde_json::to_string(&key).unwrap().replace('\'', "''");
    sql.push_str(&format!(
        "INSERT INTO keys (key_id, account_id, region, state, doc, row_version, next_rotation_at) VALUES ('{id}', '111122223333', 'us-east-1', 'Enabled', '{doc}', 7, 99);
         INSERT INTO key_materials VALUES ('{id}', '{m}', '\\x010203', 1);
         INSERT INTO aliases VALUES ('111122223333', 'us-east-1', 'alias/old', '{id}', 1, 1);
         INSERT INTO grants VALUES ('g-old', '{id}', 'arn:aws:iam::111122223333:user/dave', NULL, NULL, 1, '{{}}');
         INSERT INTO key_last_usage VALUES ('{id}', 10, 'Encrypt', 'r1', 'e1');
         INSERT INTO key_last_usage VALUES ('dead0000-0000-4000-8000-000000000000', 10, 'Encrypt', 'r0', NULL);
         SET search_path TO public;",
        id = key.key_id,
        m = material.material_id
    ));
    scratch.admin.batch_execute(&sql).await.unwrap();

    let store = PostgresStore::connect(&scratch.url()).await.unwrap();
    let got = store.get_key(&key.key_id, "us-east-1").await.unwrap().unwrap();
    assert_eq!((got.description.as_str(), got.row_version), ("sample", 7));
    assert_eq!(store.get_material(&key.key_id, &material.material_id).await.unwrap().unwrap().stored, vec![1, 2, 3]);
    assert_eq!(store.get_alias("111122223333", "us-east-1", "alias/old").await.unwrap().unwrap().target_key_id, key.key_id);
    assert_eq!(store.get_grant("g-old").await.unwrap().unwrap().region, "us-east-1");
    assert_eq!(store.get_key_usage(&key.key_id, "us-east-1").await.unwrap().unwrap().event_id.as_deref(), Some("e1"));
    assert_eq!(store.keys_due_for_rotation(99).await.unwrap().len(), 1);
    store.insert_replica(&got, &trent_store::conformance::replica_of(&got, "eu-west-1")).await.unwrap();
    assert_eq!(store.key_members(&key.key_id).await.unwrap().len(), 2);
    assert_migrations_applied_once(&scratch).await;
}

#[tokio::test]
async fn connecting_again_to_a_migrated_schema_is_idempotent() {
    let Some(scratch) = Scratch::new().await else { return };
    let url = scratch.url();
    let first = PostgresStore::connect(&url).await.unwrap();
    trent_store::conformance::reopening_is_idempotent(&first, || async { PostgresStore::connect(&url).await.unwrap() }).await;
    assert_migrations_applied_once(&scratch).await;
}

async fn assert_migrations_applied_once(scratch: &Scratch) {
    let rows = scratch.admin.query(&format!("SELECT version FROM {}.schema_migrations ORDER BY version", scratch.schema), &[]).await.unwrap();
    let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert!(versions.len() >= 2, "{versions:?}");
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>(), "each migration applied once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn nodes_starting_at_once_migrate_once_and_share_the_data() {
    let Some(scratch) = Scratch::new().await else { return };
    let nodes: Vec<_> = (0..3)
        .map(|_| {
            let url = scratch.url();
            tokio::spawn(async move { PostgresStore::connect(&url).await })
        })
        .collect();
    let mut started = Vec::new();
    for node in nodes {
        started.push(node.await.unwrap().expect("every node starts"));
    }
    assert_migrations_applied_once(&scratch).await;
    // What one node writes, the others read.
    let (key, material) = trent_store::conformance::sample_key("111111111111", "50000000-0000-4000-8000-000000000005");
    started[0].insert_key(&key, &material).await.unwrap();
    for node in &started[1..] {
        assert_eq!(node.get_key(&key.key_id, &key.region).await.unwrap().map(|k| k.key_id), Some(key.key_id.clone()));
    }
}

#[tokio::test]
async fn of_nodes_starting_on_an_empty_database_one_makes_the_admin() {
    let Some(scratch) = Scratch::new().await else { return };
    let store = PostgresStore::connect(&scratch.url()).await.unwrap();
    let attempts = (0..4).map(|i| {
        let store = &store;
        async move {
            let account = format!("{i}00000000000");
            let p = trent_store::PrincipalRecord { arn: format!("arn:aws:iam::{account}:user/admin"), account_id: account, created_at: 1 };
            let k = trent_store::AccessKeyRecord { access_key_id: format!("AKIANODE{i}"), principal_arn: p.arn.clone(), sealed_secret: vec![1], created_at: 1, active: true };
            store.insert_first_principal(&p, &k).await.unwrap()
        }
    });
    let made = futures_util::future::join_all(attempts).await;
    assert_eq!(made.iter().filter(|m| **m).count(), 1, "{made:?}");
    assert_eq!(store.count_principals().await.unwrap(), 1);
}

/// A connection killed under a call (database restart, failover, a proxy
/// dropping it) fails that call as a retryable backend error; the pool then
/// replaces the connection without help, and the killed write did not happen.
#[tokio::test]
async fn a_lost_connection_is_a_backend_error_and_the_next_call_reconnects() {
    let Some(scratch) = Scratch::new().await else { return };
    let store = PostgresStore::connect(&scratch.url()).await.unwrap();
    let (key, material) = trent_store::conformance::sample_key("111111111111", "80000000-0000-4000-8000-000000000008");
    store.insert_key(&key, &material).await.unwrap();
    let read = store.get_key(&key.key_id, &key.region).await.unwrap().unwrap();

    // Hold the key's row so the store's update waits on the server, where
    // its connection is then killed: the call is certainly in flight.
    let holder = connect(&scratch.base_url).await.unwrap();
    holder.batch_execute(&format!("BEGIN; SELECT 1 FROM {}.keys WHERE key_id = '{}' FOR UPDATE", scratch.schema, key.key_id)).await.unwrap();
    let mut changed = read.clone();
    changed.description = "never written".to_owned();
    let (result, killed) = tokio::join!(store.update_key(&changed), kill_when_waiting(&scratch));
    assert!(killed >= 1);
    assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
    holder.batch_execute("ROLLBACK").await.unwrap();

    let now = store.get_key(&key.key_id, &key.region).await.expect("the pool reconnects by itself").unwrap();
    assert_eq!(now.description, read.description);
    assert_eq!(store.update_key(&read).await.unwrap(), read.row_version + 1);
}

/// Terminates the store's backends once one waits for a lock; how many.
async fn kill_when_waiting(scratch: &Scratch) -> i64 {
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'";
    for _ in 0..500 {
        let n: i64 = scratch.admin.query_one(waiting, &[&scratch.schema]).await.unwrap().get(0);
        if n > 0 {
            let kill = "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) AS t";
            return scratch.admin.query_one(kill, &[&scratch.schema]).await.unwrap().get(0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the store's update never waited for the held row");
}

#[tokio::test]
async fn a_database_that_is_not_there_is_a_backend_error() {
    // Port 1: nothing listens there; the error must come back, not hang or panic.
    let result = PostgresStore::connect("postgres://postgres@127.0.0.1:1/test?connect_timeout=5").await;
    assert!(matches!(result, Err(StoreError::Backend(_))), "{:?}", result.err());
}

/// Two nodes on one schema, the second answering from its read cache: a
/// change through the first holds on the second for every request that
/// begins more than `POLL_WINDOW` after it was acknowledged.
#[tokio::test]
async fn a_change_on_one_node_holds_on_every_node_within_the_poll_window() {
    let Some(scratch) = Scratch::new().await else { return };
    let (a, b) = (PostgresStore::connect(&scratch.url()).await.unwrap(), PostgresStore::connect(&scratch.url()).await.unwrap());
    trent_store::conformance::changes_hold_on_every_node_within(&a, &b, POLL_WINDOW).await;
    let stats = b.read_cache_stats().unwrap();
    assert!(stats.hits > 100, "the second node answered from its cache: {stats:?}");
}

/// The tables whose writes do not move the change counter, and why each
/// may: no cached answer (`read_cache::Query`) is read from it.
const UNWATCHED: &[(&str, &str)] = &[
    ("schema_migrations", "written only by migrations, read at start"),
    ("change_counter", "the counter itself"),
    ("key_last_usage", "read only by GetKeyLastUsage, never cached (migration 13)"),
    ("leases", "read only by the lease's own upsert, never cached (migration 13)"),
];

/// What the caches' coherence rests on: every table but [`UNWATCHED`]
/// moves the change counter when a transaction writing it commits (a
/// write made by hand in psql too), once per transaction, and a
/// rolled-back one moves nothing.
#[tokio::test]
async fn every_committed_write_to_any_table_moves_the_change_counter() {
    let Some(scratch) = Scratch::new().await else { return };
    let _store = PostgresStore::connect(&scratch.url()).await.unwrap();
    let unwatched = "SELECT c.relname::TEXT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
        WHERE n.nspname = $1 AND c.relkind = 'r' \
        AND NOT (EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'note_change') \
             AND EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'note_truncate')) \
        ORDER BY 1";
    let rows = scratch.admin.query(unwatched, &[&scratch.schema]).await.unwrap();
    let mut missing: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let mut exempt: Vec<String> = UNWATCHED.iter().map(|(t, _)| t.to_string()).collect();
    missing.sort();
    exempt.sort();
    assert_eq!(missing, exempt, "tables whose writes do not reach the other nodes' caches; only those of UNWATCHED may");
    let tables: i64 = scratch.admin.query_one("SELECT count(*) FROM pg_tables WHERE schemaname = $1", &[&scratch.schema]).await.unwrap().get(0);
    assert!(tables >= 14, "{tables}");

    let counter = || async {
        let sql = format!("SELECT SUM(changes)::BIGINT FROM {}.change_counter", scratch.schema);
        scratch.admin.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0)
    };
    let s = &scratch.schema;
    let before = counter().await;
    scratch.admin.batch_execute(&format!("INSERT INTO {s}.settings VALUES ('a', '\\x01'), ('b', '\\x02'), ('c', '\\x03')")).await.unwrap();
    assert_eq!(counter().await, before + 1, "one transaction, one move, however many rows");
    scratch.admin.batch_execute(&format!("BEGIN; DELETE FROM {s}.settings; ROLLBACK")).await.unwrap();
    assert_eq!(counter().await, before + 1, "a rolled-back transaction moves nothing");
    scratch.admin.batch_execute(&format!("BEGIN; UPDATE {s}.settings SET value = '\\x09'; DELETE FROM {s}.accounts; COMMIT")).await.unwrap();
    assert_eq!(counter().await, before + 2);
    scratch.admin.batch_execute(&format!("TRUNCATE {s}.settings")).await.unwrap();
    assert_eq!(counter().await, before + 3);
}

/// A node that cannot read the change counter (its connection lost, the
/// counter gone) serves nothing from its cache: every lookup reads the
/// database, so it answers what is there, never what it kept.
#[tokio::test]
async fn a_node_that_cannot_read_the_counter_answers_from_the_database() {
    let Some(scratch) = Scratch::new().await else { return };
    let store = PostgresStore::connect(&scratch.url()).await.unwrap();
    let (key, material) = trent_store::conformance::sample_key("111111111111", "a0000000-0000-4000-8000-00000000000a");
    store.insert_key(&key, &material).await.unwrap();
    let description = || trent_store::read_cache::request_scope(async { store.get_key(&key.key_id, "us-east-1").await.unwrap().unwrap().description });
    tokio::time::sleep(POLL_WINDOW * 2).await;
    assert_eq!(description().await, "sample");
    let hits = store.read_cache_stats().unwrap().hits;
    tokio::time::sleep(POLL_WINDOW * 2).await;
    assert_eq!(description().await, "sample");
    assert_eq!(store.read_cache_stats().unwrap().hits, hits + 1, "the key was cached");

    // Behind the counter's back: it is renamed away and the row changed
    // with triggers off, as no node ever writes.
    let s = &scratch.schema;
    let sql = format!(
        "ALTER TABLE {s}.change_counter RENAME TO change_counter_away; SET session_replication_role = replica; \
         UPDATE {s}.keys SET doc = replace(doc, '\"description\":\"sample\"', '\"description\":\"behind the cache\"'); RESET session_replication_role"
    );
    scratch.admin.batch_execute(&sql).await.unwrap();
    tokio::time::sleep(POLL_WINDOW * 2).await;
    assert_eq!(description().await, "behind the cache", "without its counter a node must not answer from its cache");
}

/// A key read from the database brings its current material into the
/// cache with it, in the same statement: one round trip, not two.
#[tokio::test]
async fn a_key_read_from_the_database_brings_its_current_material_along() {
    let Some(scratch) = Scratch::new().await else { return };
    trent_store::conformance::a_key_brings_its_current_material_along(&PostgresStore::connect(&scratch.url()).await.unwrap()).await;
}

/// A node's own writes hold on its very next lookup, within the poll
/// window too: they move its cache's epoch as they return, without
/// waiting for the counter's next reading.
#[tokio::test]
async fn a_node_sees_its_own_writes_at_once() {
    use trent_store::read_cache::request_scope;
    let Some(scratch) = Scratch::new().await else { return };
    let store = PostgresStore::connect(&scratch.url()).await.unwrap();
    let (key, material) = trent_store::conformance::sample_key("111111111111", "b0000000-0000-4000-8000-00000000000b");
    store.insert_key(&key, &material).await.unwrap();
    for i in 0..50 {
        request_scope(async {
            let mut k = store.get_key(&key.key_id, "us-east-1").await.unwrap().unwrap();
            k.description = format!("write {i}");
            store.update_key(&k).await.unwrap();
            assert_eq!(store.get_key(&key.key_id, "us-east-1").await.unwrap().unwrap().description, format!("write {i}"), "in the writing request");
        })
        .await;
        let next = request_scope(async { store.get_key(&key.key_id, "us-east-1").await.unwrap().unwrap().description }).await;
        assert_eq!(next, format!("write {i}"), "on the next request");
    }
    assert!(store.read_cache_stats().unwrap().hits > 0);
}

/// What CreateKey's insert, the flush of last uses and a lease write leave
/// alone: every node's cache (none of them changes a cached answer), while
/// a key inserted under an id that was known before (a seed) still moves
/// the counter, so a node that had looked that id up sees the key.
#[tokio::test]
async fn a_fresh_key_empties_no_cache_and_a_known_id_still_reaches_every_node() {
    use trent_store::read_cache::request_scope;
    let Some(scratch) = Scratch::new().await else { return };
    let (a, b) = (PostgresStore::connect(&scratch.url()).await.unwrap(), PostgresStore::connect(&scratch.url()).await.unwrap());
    const WARM: &str = "c1000000-0000-4000-8000-0000000000c1";
    const FRESH: &str = "c2000000-0000-4000-8000-0000000000c2";
    const SEEDED: &str = "c3000000-0000-4000-8000-0000000000c3";
    let (warm, material) = trent_store::conformance::sample_key("131313131313", WARM);
    a.insert_key(&warm, &material).await.unwrap();
    async fn lookup(store: &PostgresStore, id: &str) -> Option<trent_store::KeyRecord> {
        request_scope(store.get_key(id, "us-east-1")).await.unwrap()
    }
    // Both nodes cache the warm key; b also that the seeded one is not there.
    tokio::time::sleep(POLL_WINDOW * 2).await;
    assert!(lookup(&a, WARM).await.is_some() && lookup(&b, WARM).await.is_some());
    assert!(lookup(&b, SEEDED).await.is_none());

    let (fresh, material) = trent_store::conformance::sample_key("131313131313", FRESH);
    a.insert_fresh_key(&fresh, &material).await.unwrap();
    let used = trent_store::KeyUsageRecord {
        key_id: WARM.into(),
        region: "us-east-1".into(),
        used_at: 5,
        operation: "Encrypt".into(),
        request_id: "r1".into(),
        event_id: Some("e1".into()),
    };
    a.record_key_usage(&[used]).await.unwrap();
    assert!(a.try_lease("deletion-sweeper", "node-a", 1, 1_000).await.unwrap());
    tokio::time::sleep(POLL_WINDOW * 2).await;
    for (node, store) in [("a", &a), ("b", &b)] {
        let hits = store.read_cache_stats().unwrap().hits;
        assert!(lookup(store, WARM).await.is_some());
        assert_eq!(store.read_cache_stats().unwrap().hits, hits + 1, "node {node}'s cache was emptied by writes no cached answer depends on");
    }
    assert_eq!(lookup(&b, FRESH).await.map(|k| k.key_id).as_deref(), Some(FRESH), "a fresh key is found on every node");

    let (seeded, material) = trent_store::conformance::sample_key("131313131313", SEEDED);
    a.insert_key(&seeded, &material).await.unwrap();
    tokio::time::sleep(POLL_WINDOW * 2).await;
    assert!(lookup(&b, SEEDED).await.is_some(), "a node that looked up an id before its key was made must see the key");
}

/// A TCP proxy to the test server. Frozen, it holds every connection open
/// and passes nothing on, new ones included: a database host gone without
/// closing its sockets.
struct Proxy {
    port: u16,
    frozen: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    /// A store on `scratch`'s database through a new proxy.
    async fn store_through(scratch: &Scratch) -> (PostgresStore, Proxy) {
        let config: tokio_postgres::Config = scratch.base_url.parse().unwrap();
        let tokio_postgres::config::Host::Tcp(host) = &config.get_hosts()[0] else { panic!("a TCP test server") };
        let server = format!("{host}:{}", config.get_ports().first().copied().unwrap_or(5432));
        let proxy = Proxy::to(server.clone()).await;
        let url = scratch.url().replacen(&server, &format!("127.0.0.1:{}", proxy.port), 1);
        assert_ne!(url, scratch.url(), "the store goes through the proxy");
        (PostgresStore::connect(&url).await.unwrap(), proxy)
    }

    async fn to(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (frozen, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (watch, target) = (watch.clone(), target.clone());
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                    let ((from_client, to_client), (from_server, to_server)) = (inbound.into_split(), outbound.into_split());
                    tokio::join!(Self::pipe(from_client, to_server, watch.clone()), Self::pipe(from_server, to_client, watch));
                });
            }
        });
        Proxy { port, frozen }
    }

    async fn pipe(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, mut frozen: tokio::sync::watch::Receiver<bool>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = vec![0; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            // While frozen, what came in is held back.
            if frozen.wait_for(|f| !*f).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }
}

/// A poll of the change counter that the database never answers holds a
/// node's lookups for at most `POLL_TIMEOUT`: they then fail (a retryable
/// backend error) instead of waiting on a host that is gone, and the node
/// serves again once the database answers.
#[tokio::test]
async fn lookups_behind_a_poll_that_hangs_fail_after_the_poll_timeout() {
    use trent_store::postgres::POLL_TIMEOUT;
    use trent_store::read_cache::request_scope;
    let Some(scratch) = Scratch::new().await else { return };
    let (store, proxy) = Proxy::store_through(&scratch).await;
    let (key, material) = trent_store::conformance::sample_key("141414141414", "d1000000-0000-4000-8000-0000000000d1");
    store.insert_key(&key, &material).await.unwrap();
    let lookup = || request_scope(store.get_key(&key.key_id, "us-east-1"));
    tokio::time::sleep(POLL_WINDOW * 2).await;
    assert!(lookup().await.unwrap().is_some());

    proxy.frozen.send(true).unwrap();
    tokio::time::sleep(POLL_WINDOW * 2).await;
    let began = std::time::Instant::now();
    let lookups = futures_util::future::join_all((0..8).map(|_| lookup()));
    let results = tokio::time::timeout(Duration::from_secs(30), lookups).await.expect("lookups behind a hung poll must not hang");
    let took = began.elapsed();
    assert!(results.iter().all(|r| matches!(r, Err(StoreError::Backend(_)))), "{results:?}");
    assert!(took < POLL_TIMEOUT * 2, "the lookups took {took:?}");

    proxy.frozen.send(false).unwrap();
    tokio::time::sleep(POLL_WINDOW * 2).await;
    assert!(lookup().await.expect("the node serves again once the database answers").is_some());
}

/// A write the database never answers (its host gone without closing the
/// socket) fails after `STATEMENT_TIMEOUT` with a retryable backend error,
/// instead of holding its request until TCP gives up; its connection is
/// not reused, and the node writes again once the database answers.
#[tokio::test]
async fn a_write_the_database_never_answers_fails_after_the_statement_timeout() {
    use trent_store::postgres::STATEMENT_TIMEOUT;
    let Some(scratch) = Scratch::new().await else { return };
    let (store, proxy) = Proxy::store_through(&scratch).await;
    let (first, material) = trent_store::conformance::sample_key("151515151515", "d1000000-0000-4000-8000-0000000000e1");
    store.insert_fresh_key(&first, &material).await.unwrap();

    proxy.frozen.send(true).unwrap();
    let (hung, material) = trent_store::conformance::sample_key("151515151515", "d1000000-0000-4000-8000-0000000000e2");
    let began = std::time::Instant::now();
    let written = tokio::time::timeout(STATEMENT_TIMEOUT * 4, store.insert_fresh_key(&hung, &material)).await.expect("a write the database does not answer must not hang");
    let took = began.elapsed();
    assert!(matches!(written, Err(StoreError::Backend(_))), "{written:?}");
    assert!(took >= STATEMENT_TIMEOUT && took < STATEMENT_TIMEOUT * 2, "the write took {took:?}");

    proxy.frozen.send(false).unwrap();
    let (next, material) = trent_store::conformance::sample_key("151515151515", "d1000000-0000-4000-8000-0000000000e3");
    store.insert_fresh_key(&next, &material).await.expect("the node writes again once the database answers");
    let found = trent_store::read_cache::request_scope(store.get_key(&next.key_id, "us-east-1")).await.unwrap();
    assert!(found.is_some());
}

/// A value sealed under root key generation `generation` (its header; the
/// fence reads nothing else), as a bytea literal.
fn sealed_under(generation: u32) -> String {
    match generation {
        0 => "'\\x01aabbcc'".to_owned(),
        g => format!("'\\x02{g:08x}aabbcc'"),
    }
}

/// The root key fence (migration 14): once raised, the database itself
/// refuses a new value sealed under a lower generation, in every sealed
/// column, whichever node writes it; the store says `RootKeyRotated`.
#[tokio::test]
async fn the_root_key_fence_refuses_values_sealed_below_it() {
    let Some(scratch) = Scratch::new().await else { return };
    let store = PostgresStore::connect(&scratch.url()).await.unwrap();
    let s = &scratch.schema;
    let insert = |id: &str, generation: u32| format!("INSERT INTO {s}.key_materials (key_id, material_id, stored, created_at) VALUES ('{id}', 'm', {}, 0)", sealed_under(generation));
    scratch.admin.batch_execute(&insert("before", 0)).await.expect("generation 0 passes the fence at 0");

    store.raise_root_fence(1).await.unwrap();
    let refused = scratch.admin.batch_execute(&insert("old", 0)).await.expect_err("a value under generation 0 after the fence rose to 1");
    assert_eq!(refused.code().map(|c| c.code()), Some("TR001"), "{refused:?}");
    scratch.admin.batch_execute(&insert("new", 1)).await.expect("the fence's own generation passes");
    scratch.admin.batch_execute(&insert("newer", 7)).await.expect("a higher generation passes");
    // A write that leaves the old value as it was stores nothing new.
    scratch.admin.batch_execute(&format!("UPDATE {s}.key_materials SET created_at = 1, stored = stored WHERE key_id = 'before'")).await.unwrap();
    // The other sealed columns carry the same two triggers.
    for (table, column) in [("access_keys", "sealed_secret"), ("custom_key_stores", "sealed_password")] {
        let fenced: i64 = scratch
            .admin
            .query_one("SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND t.tgname LIKE 'root_fence_%'", &[s, &table])
            .await
            .unwrap()
            .get(0);
        assert_eq!(fenced, 2, "{table}.{column} is fenced on INSERT and UPDATE");
    }
    let row = |generation: u32| trent_store::SealedValue { id: ("before".to_owned(), "m".to_owned()), sealed: if generation == 0 { vec![1, 0xaa, 0xbb, 0xcc] } else { [&[2][..], &generation.to_be_bytes(), &[0xaa, 0xbb, 0xcc]].concat() } };
    let back = store.replace_sealed(trent_store::SealedColumn::KeyMaterial, &[(row(0), row(0).sealed[..3].to_vec())]).await;
    assert!(matches!(back, Err(StoreError::RootKeyRotated)), "{back:?}");
    assert_eq!(store.replace_sealed(trent_store::SealedColumn::KeyMaterial, &[(row(0), row(1).sealed)]).await.unwrap(), 1, "resealing under the new generation passes");
    let moved = store.replace_sealed(trent_store::SealedColumn::KeyMaterial, &[(row(1), row(0).sealed)]).await;
    assert!(matches!(moved, Err(StoreError::RootKeyRotated)), "{moved:?}");

    store.raise_root_fence(0).await.unwrap();
    assert!(scratch.admin.batch_execute(&insert("still", 0)).await.is_err(), "the fence never goes down");
    store.raise_root_fence(1).await.expect("raised twice is harmless");
    let fence: i64 = scratch.admin.query_one(&format!("SELECT generation FROM {s}.root_fence"), &[]).await.unwrap().get(0);
    assert_eq!(fence, 1);
}

/// What makes the fence safe across nodes: its raise waits for every
/// transaction that passed it under the old generation, so once the raise
/// returns, each such value is committed (the reseal passes find it) and
/// none can follow.
#[tokio::test]
async fn raising_the_fence_waits_for_writes_that_passed_it() {
    let Some(scratch) = Scratch::new().await else { return };
    let store = std::sync::Arc::new(PostgresStore::connect(&scratch.url()).await.unwrap());
    let s = &scratch.schema;
    let node = connect(&scratch.url()).await.unwrap();
    node.batch_execute(&format!("BEGIN; INSERT INTO key_materials (key_id, material_id, stored, created_at) VALUES ('inflight', 'm', {}, 0)", sealed_under(0))).await.unwrap();

    let raising = tokio::spawn({
        let store = store.clone();
        async move { store.raise_root_fence(1).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!raising.is_finished(), "the raise went on while a write under the old generation was in flight");
    // A write that comes after the raise asked waits behind it and is refused.
    let late = connect(&scratch.url()).await.unwrap();
    let refused = tokio::spawn(async move { late.batch_execute(&format!("INSERT INTO key_materials (key_id, material_id, stored, created_at) VALUES ('late', 'm', {}, 0)", sealed_under(0))).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    node.batch_execute("COMMIT").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), raising).await.expect("the raise ends with the write").unwrap().unwrap();
    let refused = refused.await.unwrap().expect_err("a write queued behind the raise reads the raised fence");
    assert_eq!(refused.code().map(|c| c.code()), Some("TR001"));
    let stored: Vec<String> = scratch.admin.query(&format!("SELECT key_id FROM {s}.key_materials ORDER BY 1"), &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(stored, ["inflight"], "the write in flight is committed, visible to the reseal passes that follow the raise");
}
