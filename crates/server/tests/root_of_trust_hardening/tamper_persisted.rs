//! The unseal tamper delay is kept in the store: a restart does not reset
//! it, and every node of a PostgreSQL deployment shares it.

use crate::common::Trent;
use crate::common::seal::{drop_schema, init, plain_shares, postgres_schema, unseal};

const STRICT: [&str; 4] = ["--unseal-failures-allowed", "1", "--unseal-delay-secs", "600"];

/// Two failed attempts (one past the allowance of one): the next must wait.
fn fail_twice(trent: &Trent) {
    for _ in 0..2 {
        let err = unseal(trent, "share 9: not hex").unwrap_err();
        assert!(err.contains("(400)"), "{err}");
    }
}

fn must_wait(trent: &Trent, share: &str) {
    let err = unseal(trent, share).unwrap_err();
    assert!(err.contains("(429)") && err.contains("try again"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_delay_survives_a_restart() {
    let mut trent = Trent::unstarted(&[]);
    let (ok, out, err) = init(&trent, &["--seal", "shamir", "--shares", "2", "--threshold", "2"], &[]);
    assert!(ok, "{err}");
    let shares = plain_shares(&out);
    trent.start_again(&STRICT);
    fail_twice(&trent);
    must_wait(&trent, &shares[0]);
    // A restart (or a crash) does not reset the count or the wait.
    trent.restart(&STRICT);
    must_wait(&trent, &shares[0]);
    trent.crash_restart(&STRICT);
    must_wait(&trent, &shares[0]);
    // Ten minutes on (the server's clock moved on), the right shares unseal,
    // and the audit event counts the failures made before the restarts.
    trent.restart(&[STRICT[0], STRICT[1], STRICT[2], STRICT[3], "--clock-offset-secs", "601"]);
    unseal(&trent, &shares[0]).unwrap();
    assert!(unseal(&trent, &shares[1]).unwrap().contains("Unsealed"));
    trent.stop();
    let log = std::fs::read_to_string(trent.data_dir().join("audit/audit-00000000000000000001.jsonl")).unwrap();
    assert!(log.contains("\"failedAttemptsWhileSealed\":2"), "{log}");
    // The unseal cleared the count: one failure is allowed again.
    trent.start_again(&STRICT);
    let err = unseal(&trent, "share 9: not hex").unwrap_err();
    assert!(err.contains("(400)"), "{err}");
    unseal(&trent, &shares[1]).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_postgres_node_shares_the_delay() {
    let Some((url, base, schema)) = postgres_schema("trent_tamper").await else { return };
    let store = ["--store", url.as_str()];
    let first = Trent::unstarted(&[]);
    let mut args = vec!["--seal", "shamir", "--shares", "2", "--threshold", "2"];
    args.extend_from_slice(&store);
    let (ok, out, err) = init(&first, &args, &[]);
    assert!(ok, "{err}");
    let shares = plain_shares(&out);
    let mut serve_args = STRICT.to_vec();
    serve_args.extend_from_slice(&store);
    let (mut first, mut second) = (first, Trent::unstarted(&[]));
    first.start_again(&serve_args);
    second.start_again(&serve_args);
    // Guesses on one node make the other wait too.
    fail_twice(&first);
    must_wait(&second, &shares[0]);
    must_wait(&first, &shares[0]);
    // A third node started later waits as well.
    let mut third = Trent::unstarted(&[]);
    third.start_again(&serve_args);
    must_wait(&third, &shares[1]);
    first.stop();
    second.stop();
    third.stop();
    drop_schema(&base, &schema).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_count_refuses_the_attempt_as_unavailable() {
    use trent_store::Store;
    let mut trent = Trent::unstarted(&[]);
    let (ok, out, err) = init(&trent, &["--seal", "shamir", "--shares", "2", "--threshold", "2"], &[]);
    assert!(ok, "{err}");
    let shares = plain_shares(&out);
    trent.start_again(&[]);
    // The count unreadable (as when its database cannot be reached): 503, still sealed.
    let store = trent_store::sqlite::SqliteStore::open(&trent.data_dir().join("trent.db")).unwrap();
    store.insert_setting("unseal_failures", b"not json").await.unwrap();
    let err = unseal(&trent, &shares[0]).unwrap_err();
    assert!(err.contains("(503)") && err.contains("failed unseal attempts"), "{err}");
    let (_, status, _) = trent.cli(&["operator", "status", "--endpoint", &trent.endpoint()], &[], "");
    assert!(status.contains("\"sealed\":true"), "{status}");
}
