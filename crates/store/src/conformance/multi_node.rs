//! What several nodes sharing one database rely on: of racing writers
//! exactly one wins and the others are told so, never both, never neither.
//! The races run as concurrent futures on one store; a backend with a
//! connection pool (PostgreSQL) really interleaves them on the server, a
//! serial one (SQLite) must give the same answers in whatever order.

use std::future::Future;

use futures_util::future::join_all;

use super::{alias, sample_key};
use crate::*;

/// Races are timing-dependent; several rounds give the interleavings a chance.
const ROUNDS: u64 = 8;

pub(super) async fn run_all(store: &dyn Store) {
    racing_writers_of_one_key(store).await;
    racing_creators_of_one_alias(store).await;
    a_deletion_racing_its_cancellation(store).await;
    leases_have_one_holder_until_they_expire(store).await;
}

const RACE_KEY: &str = "40000000-0000-4000-8000-000000000004";

/// Several nodes (or requests) updating one key from the same read: exactly
/// one write wins, every other one is told it lost.
async fn racing_writers_of_one_key(store: &dyn Store) {
    let (key, material) = sample_key("555555555555", RACE_KEY);
    store.insert_key(&key, &material).await.unwrap();
    let read = store.get_key(RACE_KEY, "us-east-1").await.unwrap().unwrap();
    let writes = (0..8).map(|i| {
        let mut mine = read.clone();
        mine.description = format!("writer {i}");
        async move { store.update_key(&mine).await }
    });
    let results = join_all(writes).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "exactly one racing update must win: {results:?}");
    assert!(results.iter().all(|r| r.is_ok() || matches!(r, Err(StoreError::Conflict))), "{results:?}");
    let winner = store.get_key(RACE_KEY, "us-east-1").await.unwrap().unwrap();
    assert!(winner.description.starts_with("writer "));
    assert_eq!(winner.row_version, read.row_version + 1);
}

/// Two creators of one alias name: one gets it, the other AlreadyExists.
async fn racing_creators_of_one_alias(store: &dyn Store) {
    let inserts = (0..4).map(|_| async { store.insert_alias(&alias("555555555555", "alias/race", RACE_KEY)).await });
    let results = join_all(inserts).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok() || matches!(r, Err(StoreError::AlreadyExists))), "{results:?}");
}

/// A node's sweep destroying a key while another node cancels its deletion,
/// both decided on the same read: exactly one of them takes effect. (Both
/// succeeding would destroy a key whose owner was told it was saved.)
async fn a_deletion_racing_its_cancellation(store: &dyn Store) {
    for round in 0..ROUNDS {
        let key_id = format!("60000000-0000-4000-8000-{round:012}");
        let (mut key, material) = sample_key("555555555555", &key_id);
        key.state = KeyState::PendingDeletion;
        key.deletion_date = Some(1);
        store.insert_key(&key, &material).await.unwrap();
        let due = store.get_key(&key_id, "us-east-1").await.unwrap().unwrap();
        let mut cancelled = due.clone();
        cancelled.state = KeyState::Disabled;
        cancelled.deletion_date = None;
        match tokio::join!(store.delete_key(&key_id, "us-east-1", due.row_version), store.update_key(&cancelled)) {
            (Ok(()), Err(StoreError::NotFound)) => {
                assert!(store.get_key(&key_id, "us-east-1").await.unwrap().is_none());
                assert!(store.get_material(&key_id, &material.material_id).await.unwrap().is_none());
            }
            (Err(StoreError::Conflict), Ok(_)) => assert_eq!(store.get_key(&key_id, "us-east-1").await.unwrap().unwrap().state, KeyState::Disabled),
            other => panic!("exactly one of a deletion and its cancellation must win: {other:?}"),
        }
    }
    assert!(store.keys_due_for_deletion(i64::MAX).await.unwrap().is_empty());
}

async fn leases_have_one_holder_until_they_expire(store: &dyn Store) {
    // Racing takers of a free lease: exactly one gets it.
    let takers = ["node-a", "node-b", "node-c"].map(|node| async move { store.try_lease("sweeper", node, 1_000, 100).await.unwrap() });
    let taken = join_all(takers).await;
    assert_eq!(taken.iter().filter(|t| **t).count(), 1, "{taken:?}");
    let holder = ["node-a", "node-b", "node-c"][taken.iter().position(|t| *t).unwrap()];
    let other = if holder == "node-a" { "node-b" } else { "node-a" };
    // The holder renews; others wait until it expires.
    assert!(store.try_lease("sweeper", holder, 1_050, 100).await.unwrap());
    assert!(!store.try_lease("sweeper", other, 1_149, 100).await.unwrap());
    assert!(store.try_lease("sweeper", other, 1_150, 100).await.unwrap());
    assert!(!store.try_lease("sweeper", holder, 1_160, 100).await.unwrap());
    // Leases are independent by name.
    assert!(store.try_lease("rotation", holder, 1_160, 100).await.unwrap());
}

const REOPEN_KEY: &str = "70000000-0000-4000-8000-000000000007";

/// Opening a database that is already in use, as a second node or a restart
/// does, runs the migrations again: they must change nothing, and both
/// handles must then work on the same data. `first` is a fresh store;
/// `reopen` opens the same database once more.
pub async fn reopening_is_idempotent<S, F>(first: &dyn Store, reopen: impl FnOnce() -> F)
where
    S: Store,
    F: Future<Output = S>,
{
    let (key, material) = sample_key("777777777777", REOPEN_KEY);
    first.insert_key(&key, &material).await.unwrap();
    first.insert_setting("reopen_check", b"kept").await.unwrap();
    let second = reopen().await;
    let mut read = second.get_key(REOPEN_KEY, "us-east-1").await.unwrap().expect("a second migration run keeps the data");
    assert_eq!(second.get_setting("reopen_check").await.unwrap().as_deref(), Some(&b"kept"[..]));
    read.description = "written through the second handle".to_owned();
    second.update_key(&read).await.unwrap();
    assert_eq!(first.get_key(REOPEN_KEY, "us-east-1").await.unwrap().unwrap().description, read.description);
    // The constraints are still there, not recreated without them.
    assert!(matches!(second.insert_key(&key, &material).await, Err(StoreError::AlreadyExists)));
    assert!(matches!(first.update_key(&key).await, Err(StoreError::Conflict)));
}

const SEEN_KEY: &str = "90000000-0000-4000-8000-000000000009";
const SEEN_ACCOUNT: &str = "999999999999";
const SEEN_GRANTEE: &str = "arn:aws:iam::999999999999:user/grantee";
const SEEN_ACCESS_KEY: &str = "AKIASEENBYEVERYNODE1";

/// What a request on the other node saw of each change, and when it began.
struct Seen {
    began: std::time::Instant,
    disabled: bool,
    grant_revoked: bool,
    policy_changed: bool,
    access_key_deleted: bool,
}

impl Seen {
    fn of(&self, change: usize) -> bool {
        [self.disabled, self.grant_revoked, self.policy_changed, self.access_key_deleted][change]
    }
}

/// One request's lookups, as a request authorizing an Encrypt makes them.
async fn look(store: &dyn Store) -> Seen {
    let began = std::time::Instant::now();
    crate::read_cache::request_scope(async {
        let key = store.get_key(SEEN_KEY, "us-east-1").await.unwrap().expect("the key exists");
        let grants = store.grants_for(SEEN_KEY, "us-east-1", &[SEEN_GRANTEE.to_owned()]).await.unwrap();
        let policy = store.get_entity(SEEN_ACCOUNT, EntityKind::Policy, "team").await.unwrap().expect("the policy exists");
        let access_key = store.get_access_key(SEEN_ACCESS_KEY).await.unwrap();
        Seen { began, disabled: key.state == KeyState::Disabled, grant_revoked: grants.is_empty(), policy_changed: policy.doc == "v2", access_key_deleted: access_key.is_none() }
    })
    .await
}

/// Two nodes on one database (`a` and `b`, two stores), `b` serving
/// requests from its read cache all along: each of DisableKey, RevokeGrant,
/// a policy change and DeleteAccessKey made through `a` holds on `a`'s
/// very next request, and on every request to `b` that begins more than
/// `bound` after `a` acknowledged it: a cached answer is never served
/// after the bound. (A store without a cache passes trivially; the caller
/// checks that `b` answered from its cache.)
pub async fn changes_hold_on_every_node_within(a: &dyn Store, b: &dyn Store, bound: std::time::Duration) {
    let (key, material) = sample_key(SEEN_ACCOUNT, SEEN_KEY);
    a.insert_key(&key, &material).await.unwrap();
    let grant = GrantRecord {
        grant_id: "seen-grant".into(),
        key_id: SEEN_KEY.into(),
        region: "us-east-1".into(),
        grantee_principal: SEEN_GRANTEE.into(),
        retiring_principal: None,
        name: None,
        created_at: 1,
        doc: "{}".into(),
    };
    assert!(a.insert_grant(&grant, 50_000).await.unwrap());
    let policy = EntityRecord {
        account_id: SEEN_ACCOUNT.into(),
        kind: EntityKind::Policy,
        name: "team".into(),
        arn: format!("arn:aws:iam::{SEEN_ACCOUNT}:policy/team"),
        created_at: 1,
        doc: "v1".into(),
        row_version: 0,
    };
    a.insert_entity(&policy, None).await.unwrap();
    let p = PrincipalRecord { arn: format!("arn:aws:iam::{SEEN_ACCOUNT}:user/seen"), account_id: SEEN_ACCOUNT.into(), created_at: 1 };
    let k = AccessKeyRecord { access_key_id: SEEN_ACCESS_KEY.into(), principal_arn: p.arn.clone(), sealed_secret: vec![1], created_at: 1, active: true };
    a.insert_principal(&p, &k).await.unwrap();
    tokio::time::sleep(bound * 2).await;
    let first = look(b).await;
    assert!(!(first.disabled || first.grant_revoked || first.policy_changed || first.access_key_deleted));

    // Set by the writer once done: the reader stops after a request begun
    // past the bound of the last change (however slow the machine).
    let last_due = std::sync::Mutex::new(None::<std::time::Instant>);
    let reader = async {
        let mut seen: Vec<Seen> = Vec::new();
        loop {
            let due = *last_due.lock().unwrap();
            if due.is_some_and(|due| seen.last().is_some_and(|s| s.began >= due)) {
                return seen;
            }
            seen.push(look(b).await);
            tokio::task::yield_now().await;
        }
    };
    let writer = async {
        let mut acknowledged = Vec::new();
        let pause = || tokio::time::sleep(bound * 5);
        pause().await;
        let mut disabled = a.get_key(SEEN_KEY, "us-east-1").await.unwrap().unwrap();
        disabled.state = KeyState::Disabled;
        a.update_key(&disabled).await.unwrap();
        acknowledged.push(std::time::Instant::now());
        assert!(look(a).await.disabled, "the writing node sees its own change on its next request");
        pause().await;
        a.delete_grant("seen-grant").await.unwrap();
        acknowledged.push(std::time::Instant::now());
        assert!(look(a).await.grant_revoked);
        pause().await;
        let mut changed = a.get_entity(SEEN_ACCOUNT, EntityKind::Policy, "team").await.unwrap().unwrap();
        changed.doc = "v2".into();
        a.update_entity(&changed).await.unwrap();
        acknowledged.push(std::time::Instant::now());
        assert!(look(a).await.policy_changed);
        pause().await;
        a.delete_access_key(SEEN_ACCESS_KEY).await.unwrap();
        acknowledged.push(std::time::Instant::now());
        assert!(look(a).await.access_key_deleted);
        *last_due.lock().unwrap() = acknowledged.last().map(|at| *at + bound);
        acknowledged
    };
    let (seen, acknowledged) = tokio::join!(reader, writer);
    for (change, at) in acknowledged.iter().enumerate() {
        let due: Vec<&Seen> = seen.iter().filter(|s| s.began >= *at + bound).collect();
        assert!(!due.is_empty(), "change {change}: no request on the other node began after the bound");
        let stale = due.iter().filter(|s| !s.of(change)).count();
        assert_eq!(stale, 0, "change {change}: {stale} of {} requests that began more than {bound:?} after it was acknowledged did not see it", due.len());
    }
}
