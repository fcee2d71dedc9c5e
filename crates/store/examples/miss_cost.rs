//! What a read cache miss costs a store: the two lookups of an Encrypt
//! (its key, then the key's current material) for keys picked at random
//! from a data directory's `trent.db` or a PostgreSQL database, one after
//! another on one thread, with no HTTP, signing or audit around them.
//! Prints, per Encrypt's worth of lookups, the time, the read system calls
//! (on SQLite, the `pread`s of pages its cache did not hold), and the read
//! cache's hits and misses (a miss is a lookup that reached the database).
//!
//! ```sh
//! cargo run --release -p trent-store --example miss_cost -- /var/tmp/trent-1m/trent.db 100000
//! cargo run --release -p trent-store --example miss_cost -- postgres://postgres@127.0.0.1:5432/DB 100000
//! ```
//!
//! On PostgreSQL each lookup that reaches the database is a round trip.
//! Run it on a database or directory no server is using: opening the store
//! brings its schema up to date, as `trent serve` would.

use std::time::Instant;

use trent_store::postgres::PostgresStore;
use trent_store::sqlite::SqliteStore;
use trent_store::Store;

/// Read system calls made by this process so far (`syscr` in /proc/self/io).
fn read_syscalls() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("reading /proc/self/io");
    io.lines().find_map(|l| l.strip_prefix("syscr: ")).and_then(|v| v.trim().parse().ok()).expect("syscr in /proc/self/io")
}

/// A small xorshift: the same keys every run, without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: miss_cost TRENT_DB [LOOKUPS]");
    let count: usize = args.next().map(|n| n.parse().expect("LOOKUPS is a number")).unwrap_or(100_000);
    let (store, ids): (Box<dyn Store>, Vec<(String, String)>) = if path.starts_with("postgres://") {
        let (client, connection) = tokio_postgres::connect(&path, tokio_postgres::NoTls).await.expect("connecting to the database");
        tokio::spawn(connection);
        let store = PostgresStore::connect(&path).await.expect("opening the store");
        let rows = client.query("SELECT key_id, region FROM keys", &[]).await.unwrap();
        (Box::new(store), rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    } else {
        let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("opening the database");
        let mut stmt = conn.prepare("SELECT key_id, region FROM keys").unwrap();
        let ids = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
        (Box::new(SqliteStore::open(std::path::Path::new(&path)).expect("opening the store")), ids)
    };
    println!("{} keys in {path}", ids.len());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for round in 1..=3 {
        let (stats, reads, began) = (store.read_cache_stats().unwrap(), read_syscalls(), Instant::now());
        for _ in 0..count {
            let (key_id, region) = &ids[(next(&mut state) % ids.len() as u64) as usize];
            // In a request's scope, as the server asks: the database's
            // version is read once per window, not at every lookup.
            trent_store::read_cache::request_scope(async {
                let key = store.get_key(key_id, region).await.unwrap().expect("a listed key");
                if !key.current_material_id.is_empty() {
                    store.get_material(key_id, &key.current_material_id).await.unwrap().expect("its current material");
                }
            })
            .await;
        }
        let (elapsed, reads, after) = (began.elapsed(), read_syscalls() - reads, store.read_cache_stats().unwrap());
        println!(
            "round {round}: {:.1} us and {:.2} read syscalls per key and material; cache hits {}, misses {}",
            elapsed.as_secs_f64() * 1e6 / count as f64,
            reads as f64 / count as f64,
            after.hits - stats.hits,
            after.misses - stats.misses,
        );
    }
}
