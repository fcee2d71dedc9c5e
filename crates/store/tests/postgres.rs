//! The store conformance suite against a real PostgreSQL.
//!
//! The server comes from `TRENT_TEST_POSTGRES_URL`, else the local default
//! `postgres://postgres@127.0.0.1:5432/test` (CI's). Where no server answers
//! the tests say so and pass: PostgreSQL is optional on a developer's machine.
//! Each test works in a fresh schema of its own, dropped at the end.

#![cfg(feature = "postgres")]

use trent_store::postgres::PostgresStore;
use trent_store::Store;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh schema on the test server, or None (with a message) if there is none.
struct Scratch {
    base_url: String,
    schema: String,
    admin: tokio_postgres::Client,
}

impl Scratch {
    async fn new() -> Option<Scratch> {
        let base_url = std::env::var("TRENT_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let (admin, connection) = match tokio_postgres::connect(&base_url, tokio_postgres::NoTls).await {
            Ok(pair) => pair,
            Err(e) => {
                eprintln!("skipping: no PostgreSQL at {base_url} ({e}); set TRENT_TEST_POSTGRES_URL to run these tests");
                return None;
            }
        };
        tokio::spawn(connection);
        let schema = format!("trent_test_{}", uuid::Uuid::new_v4().simple());
        admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("create the test schema");
        Some(Scratch { base_url, schema, admin })
    }

    /// The URL a store uses to live in this schema.
    fn url(&self) -> String {
        let sep = if self.base_url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.base_url, self.schema)
    }

    async fn drop(self) {
        self.admin.batch_execute(&format!("DROP SCHEMA {} CASCADE", self.schema)).await.expect("drop the test schema");
    }
}

#[tokio::test]
async fn postgres_passes_the_conformance_suite() {
    let Some(scratch) = Scratch::new().await else { return };
    let store = PostgresStore::connect(&scratch.url()).await.unwrap();
    trent_store::conformance::run_all(&store).await;
    scratch.drop().await;
}

#[tokio::test]
async fn nodes_starting_at_once_migrate_once_and_share_the_data() {
    let Some(scratch) = Scratch::new().await else { return };
    let url = scratch.url();
    let nodes = futures_util::future::join_all((0..3).map(|_| PostgresStore::connect(&url))).await;
    let nodes: Vec<PostgresStore> = nodes.into_iter().map(|n| n.expect("every node starts")).collect();
    let rows = scratch.admin.query(&format!("SELECT version FROM {}.schema_migrations ORDER BY version", scratch.schema), &[]).await.unwrap();
    let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert!(versions.len() >= 2, "{versions:?}");
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>(), "each migration applied once, in order");

    // What one node writes, the others read.
    let (key, material) = trent_store::conformance::sample_key("111111111111", "50000000-0000-4000-8000-000000000005");
    nodes[0].insert_key(&key, &material).await.unwrap();
    for node in &nodes[1..] {
        assert_eq!(node.get_key(&key.key_id).await.unwrap().map(|k| k.key_id), Some(key.key_id.clone()));
    }
    // Connecting again to a migrated schema changes nothing.
    let again = PostgresStore::connect(&url).await.unwrap();
    assert!(again.get_key(&key.key_id).await.unwrap().is_some());
    scratch.drop().await;
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
            let k = trent_store::AccessKeyRecord { access_key_id: format!("AKIANODE{i}"), principal_arn: p.arn.clone(), sealed_secret: vec![1], created_at: 1 };
            store.insert_first_principal(&p, &k).await.unwrap()
        }
    });
    let made = futures_util::future::join_all(attempts).await;
    assert_eq!(made.iter().filter(|m| **m).count(), 1, "{made:?}");
    assert_eq!(store.count_principals().await.unwrap(), 1);
    scratch.drop().await;
}
