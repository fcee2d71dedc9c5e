//! Custom key stores: names unique per account and Region, clusters unique
//! in the whole deployment, optimistic updates, and keys that name a store
//! only while it exists (so a store is deleted only once no key names it).

use futures_util::future::join_all;

use crate::*;

const A: &str = "616161616161";
const B: &str = "626262626262";
const S1: &str = "cks-00000000000000001";
const S2: &str = "cks-00000000000000002";
const S3: &str = "cks-00000000000000003";
const S4: &str = "cks-00000000000000004";
const S5: &str = "cks-00000000000000005";
const MISSING: &str = "cks-0000000000000dead";
const K1: &str = "f1000000-0000-4000-8000-0000000000f1";
const K2: &str = "f2000000-0000-4000-8000-0000000000f2";
const K3: &str = "f3000000-0000-4000-8000-0000000000f3";

fn ks(id: &str, account_id: &str, region: &str, name: &str, cluster_id: &str) -> CustomKeyStoreRecord {
    CustomKeyStoreRecord {
        id: id.to_owned(),
        account_id: account_id.to_owned(),
        region: region.to_owned(),
        name: name.to_owned(),
        store_type: "AWS_CLOUDHSM".to_owned(),
        cluster_id: cluster_id.to_owned(),
        trust_anchor: format!("-----BEGIN CERTIFICATE-----\n{id}\n-----END CERTIFICATE-----\n"),
        sealed_password: id.as_bytes().to_vec(),
        state: ConnectionState::Disconnected,
        error_code: None,
        connection_id: String::new(),
        created_at: 9,
        row_version: 0,
        xks: None,
    }
}

/// An external key store: its own id in `cluster_id` (no cluster), a proxy.
fn xks(id: &str, account_id: &str, region: &str, name: &str, endpoint: &str, path: &str) -> CustomKeyStoreRecord {
    let proxy = XksProxy {
        uri_endpoint: endpoint.to_owned(),
        uri_path: path.to_owned(),
        connectivity: "PUBLIC_ENDPOINT".to_owned(),
        access_key_id: format!("AKIA{}", id.len()),
    };
    CustomKeyStoreRecord { store_type: "EXTERNAL_KEY_STORE".to_owned(), trust_anchor: String::new(), xks: Some(proxy), ..ks(id, account_id, region, name, id) }
}

/// The stores the cases below start from.
fn seeded() -> [CustomKeyStoreRecord; 5] {
    [
        ks(S1, A, "us-east-1", "alpha", "cluster-1"),
        ks(S3, A, "us-east-1", "gamma", "cluster-3"),
        ks(S2, A, "us-east-1", "beta", "cluster-2"),
        // The same name in another Region and in another account.
        ks(S4, A, "eu-west-1", "alpha", "cluster-4"),
        ks(S5, B, "us-east-1", "alpha", "cluster-5"),
    ]
}

pub async fn run_all(store: &dyn Store) {
    stores_are_found_and_listed_per_account_and_region(store).await;
    names_and_clusters_are_not_shared(store).await;
    updates_are_optimistic_and_keep_names_and_clusters_unique(store).await;
    keys_name_only_existing_stores(store).await;
    a_store_named_by_a_key_is_not_deleted(store).await;
    racing_creators_of_one_name_or_cluster(store).await;
    a_deletion_racing_a_new_key(store).await;
    external_key_stores_keep_their_proxy_and_share_no_proxy_uri(store).await;
    racing_creators_of_one_proxy_uri(store).await;
    an_external_key_serves_one_kms_key_per_store(store).await;
}

fn ids(stores: Vec<CustomKeyStoreRecord>) -> Vec<String> {
    stores.into_iter().map(|s| s.id).collect()
}

async fn stores_are_found_and_listed_per_account_and_region(store: &dyn Store) {
    for s in seeded() {
        assert_eq!(store.insert_custom_key_store(&s).await.unwrap(), None, "{s:?}");
    }
    let [s1, ..] = seeded();
    // Every field round-trips; a new row starts at row_version 1.
    assert_eq!(store.get_custom_key_store(S1).await.unwrap(), Some(CustomKeyStoreRecord { row_version: 1, ..s1.clone() }));
    assert_eq!(store.get_custom_key_store(MISSING).await.unwrap(), None);
    assert_eq!(store.get_custom_key_store_by_name(A, "us-east-1", "alpha").await.unwrap().map(|s| s.id), Some(S1.to_owned()));
    assert_eq!(store.get_custom_key_store_by_name(A, "eu-west-1", "alpha").await.unwrap().map(|s| s.id), Some(S4.to_owned()));
    assert_eq!(store.get_custom_key_store_by_name(B, "us-east-1", "alpha").await.unwrap().map(|s| s.id), Some(S5.to_owned()));
    assert_eq!(store.get_custom_key_store_by_name(A, "us-east-1", "delta").await.unwrap(), None);

    assert_eq!(ids(store.list_custom_key_stores(A, "us-east-1", None, 10).await.unwrap()), [S1, S2, S3]);
    assert_eq!(ids(store.list_custom_key_stores(A, "us-east-1", None, 2).await.unwrap()), [S1, S2]);
    assert_eq!(ids(store.list_custom_key_stores(A, "us-east-1", Some(S2), 10).await.unwrap()), [S3]);
    assert_eq!(ids(store.list_custom_key_stores(A, "eu-west-1", None, 10).await.unwrap()), [S4]);
    assert_eq!(ids(store.list_custom_key_stores(B, "us-east-1", None, 10).await.unwrap()), [S5]);
    assert!(store.list_custom_key_stores(B, "eu-west-1", None, 10).await.unwrap().is_empty());
}

async fn names_and_clusters_are_not_shared(store: &dyn Store) {
    const NEW: &str = "cks-00000000000000006";
    let taken_name = ks(NEW, A, "us-east-1", "beta", "cluster-6");
    assert_eq!(store.insert_custom_key_store(&taken_name).await.unwrap(), Some(KeyStoreConflict::NameInUse));
    // A cluster is one token: another account cannot register it either.
    let taken_cluster = ks(NEW, B, "us-east-1", "delta", "cluster-1");
    assert_eq!(store.insert_custom_key_store(&taken_cluster).await.unwrap(), Some(KeyStoreConflict::ClusterInUse));
    assert_eq!(store.get_custom_key_store(NEW).await.unwrap(), None, "nothing is written");
    assert_eq!(store.get_custom_key_store_by_name(B, "us-east-1", "delta").await.unwrap(), None);
    // An id is unique.
    let same_id = ks(S1, B, "us-east-1", "epsilon", "cluster-7");
    assert!(matches!(store.insert_custom_key_store(&same_id).await, Err(StoreError::AlreadyExists)));
}

async fn updates_are_optimistic_and_keep_names_and_clusters_unique(store: &dyn Store) {
    let read = store.get_custom_key_store(S1).await.unwrap().unwrap();
    let mut connected = read.clone();
    connected.state = ConnectionState::Failed;
    connected.error_code = Some("NETWORK_ERRORS".to_owned());
    connected.connection_id = "conn-1".to_owned();
    // Keeping its own name and cluster is no conflict.
    assert_eq!(store.update_custom_key_store(&connected).await.unwrap(), Ok(read.row_version + 1));
    let now = store.get_custom_key_store(S1).await.unwrap().unwrap();
    assert_eq!(now, CustomKeyStoreRecord { row_version: read.row_version + 1, ..connected.clone() });
    // A writer that read before the update must not overwrite it.
    assert!(matches!(store.update_custom_key_store(&read).await, Err(StoreError::Conflict)));
    let ghost = ks(MISSING, A, "us-east-1", "ghost", "cluster-ghost");
    assert!(matches!(store.update_custom_key_store(&ghost).await, Err(StoreError::NotFound)));

    // Onto a taken name or a used cluster: refused, nothing written.
    let onto_name = CustomKeyStoreRecord { name: "beta".to_owned(), ..now.clone() };
    assert_eq!(store.update_custom_key_store(&onto_name).await.unwrap(), Err(KeyStoreConflict::NameInUse));
    let onto_cluster = CustomKeyStoreRecord { cluster_id: "cluster-5".to_owned(), ..now.clone() };
    assert_eq!(store.update_custom_key_store(&onto_cluster).await.unwrap(), Err(KeyStoreConflict::ClusterInUse));
    assert_eq!(store.get_custom_key_store(S1).await.unwrap().unwrap(), now);

    // Renamed and moved: the old name and cluster are free, the new ones taken.
    let moved = CustomKeyStoreRecord { name: "alpha-2".to_owned(), cluster_id: "cluster-1b".to_owned(), ..now.clone() };
    assert_eq!(store.update_custom_key_store(&moved).await.unwrap(), Ok(now.row_version + 1));
    assert_eq!(store.get_custom_key_store_by_name(A, "us-east-1", "alpha").await.unwrap(), None);
    assert_eq!(store.get_custom_key_store_by_name(A, "us-east-1", "alpha-2").await.unwrap().map(|s| s.row_version), Some(now.row_version + 1));
    let reuse = ks("cks-00000000000000008", A, "us-east-1", "alpha", "cluster-1");
    assert_eq!(store.insert_custom_key_store(&reuse).await.unwrap(), None);
    let onto_moved = ks("cks-00000000000000009", B, "us-east-1", "zeta", "cluster-1b");
    assert_eq!(store.insert_custom_key_store(&onto_moved).await.unwrap(), Some(KeyStoreConflict::ClusterInUse));
}

fn key_in(store_id: &str, key_id: &str) -> (KeyRecord, MaterialRecord) {
    let (mut key, material) = super::sample_key(A, key_id);
    key.origin = "AWS_CLOUDHSM".to_owned();
    key.custom_key_store_id = Some(store_id.to_owned());
    (key, material)
}

async fn keys_name_only_existing_stores(store: &dyn Store) {
    // A store that does not exist (deleted meanwhile): no insert path writes anything.
    let (key, material) = key_in(MISSING, K1);
    let alias = AliasRecord { account_id: A.into(), region: "us-east-1".into(), alias_name: "alias/hsm".into(), target_key_id: K2.into(), created_at: 1, updated_at: 1 };
    assert!(matches!(store.insert_key(&key, &material).await, Err(StoreError::NotFound)));
    let (k2, m2) = key_in(MISSING, K2);
    assert!(matches!(store.insert_key_with_alias(&k2, &m2, &alias).await, Err(StoreError::NotFound)));
    assert!(matches!(store.insert_key_without_material(&key_in(MISSING, K3).0).await, Err(StoreError::NotFound)));
    for id in [K1, K2, K3] {
        assert!(store.get_key(id, "us-east-1").await.unwrap().is_none());
        assert!(store.get_material(id, &material.material_id).await.unwrap().is_none());
    }
    assert!(store.get_alias(A, "us-east-1", "alias/hsm").await.unwrap().is_none());
    assert_eq!(store.count_keys_in_custom_key_store(MISSING).await.unwrap(), 0);

    // Every insert path records the store the key names.
    let (k1, m1) = key_in(S2, K1);
    store.insert_key(&k1, &m1).await.unwrap();
    let (k2, m2) = key_in(S2, K2);
    store.insert_key_with_alias(&k2, &m2, &alias).await.unwrap();
    assert_eq!(store.count_keys_in_custom_key_store(S2).await.unwrap(), 2);
    store.insert_key_without_material(&key_in(S2, K3).0).await.unwrap();
    assert_eq!(store.count_keys_in_custom_key_store(S2).await.unwrap(), 3);
    assert_eq!(store.count_keys_in_custom_key_store(S3).await.unwrap(), 0);
    for id in [K1, K2, K3] {
        assert_eq!(store.get_key(id, "us-east-1").await.unwrap().unwrap().custom_key_store_id.as_deref(), Some(S2));
    }
}

async fn a_store_named_by_a_key_is_not_deleted(store: &dyn Store) {
    let s2 = store.get_custom_key_store(S2).await.unwrap().unwrap();
    assert!(matches!(store.delete_custom_key_store(S2, s2.row_version + 1).await, Err(StoreError::Conflict)));
    assert!(matches!(store.delete_custom_key_store(MISSING, 1).await, Err(StoreError::NotFound)));
    assert!(!store.delete_custom_key_store(S2, s2.row_version).await.unwrap());
    assert_eq!(store.get_custom_key_store(S2).await.unwrap(), Some(s2.clone()), "nothing is deleted");

    // A key pending deletion still names the store.
    for id in [K1, K3] {
        let key = store.get_key(id, "us-east-1").await.unwrap().unwrap();
        store.delete_key(id, "us-east-1", key.row_version).await.unwrap();
    }
    let mut pending = store.get_key(K2, "us-east-1").await.unwrap().unwrap();
    pending.state = KeyState::PendingDeletion;
    pending.deletion_date = Some(10);
    let version = store.update_key(&pending).await.unwrap();
    assert_eq!(store.count_keys_in_custom_key_store(S2).await.unwrap(), 1);
    assert!(!store.delete_custom_key_store(S2, s2.row_version).await.unwrap());

    store.delete_key(K2, "us-east-1", version).await.unwrap();
    assert_eq!(store.count_keys_in_custom_key_store(S2).await.unwrap(), 0);
    assert!(store.delete_custom_key_store(S2, s2.row_version).await.unwrap());
    assert_eq!(store.get_custom_key_store(S2).await.unwrap(), None);
    assert_eq!(ids(store.list_custom_key_stores(A, "us-east-1", None, 10).await.unwrap()), [S1, S3, "cks-00000000000000008"]);
    assert!(matches!(store.delete_custom_key_store(S2, s2.row_version).await, Err(StoreError::NotFound)));
    // Its name and cluster are free again; a key naming it now fails.
    assert_eq!(store.insert_custom_key_store(&ks("cks-0000000000000000a", A, "us-east-1", "beta", "cluster-2")).await.unwrap(), None);
    let (key, material) = key_in(S2, K1);
    assert!(matches!(store.insert_key(&key, &material).await, Err(StoreError::NotFound)));
}

/// Races (really interleaved on PostgreSQL, where the UNIQUE constraints
/// must catch what the check missed), in a Region of their own. Creators of
/// one name, then of one cluster: exactly one wins, each other is told which.
async fn racing_creators_of_one_name_or_cluster(store: &dyn Store) {
    for round in 0..4_u64 {
        let (name, cluster) = (format!("race-{round}"), format!("race-cluster-{round}"));
        let by_name = (0..4_u64).map(|i| ks(&format!("cks-{:017x}", 0x100 + round * 16 + i), A, "ap-south-1", &name, &format!("{cluster}-{i}")));
        let by_cluster = (0..4_u64).map(|i| ks(&format!("cks-{:017x}", 0x200 + round * 16 + i), &format!("63636363636{i}"), "ap-south-1", &name, &cluster));
        for (racers, lost) in [(by_name.collect::<Vec<_>>(), KeyStoreConflict::NameInUse), (by_cluster.collect(), KeyStoreConflict::ClusterInUse)] {
            let results = join_all(racers.iter().map(|s| store.insert_custom_key_store(s))).await;
            assert_eq!(results.iter().filter(|r| matches!(r, Ok(None))).count(), 1, "{results:?}");
            assert!(results.iter().all(|r| matches!(r, Ok(None)) || matches!(r, Ok(Some(c)) if *c == lost)), "{results:?}");
        }
    }
}

/// A deletion racing the creation of a key in the store: either the key is
/// stored and the store stays, or the store is gone and the key refused.
async fn a_deletion_racing_a_new_key(store: &dyn Store) {
    for round in 0..4_u64 {
        let id = format!("cks-{:017x}", 0x300 + round);
        assert_eq!(store.insert_custom_key_store(&ks(&id, A, "ap-south-1", &format!("doomed-{round}"), &format!("doomed-{round}"))).await.unwrap(), None);
        let (key, material) = key_in(&id, &format!("f4000000-0000-4000-8000-{round:012}"));
        match tokio::join!(store.delete_custom_key_store(&id, 1), store.insert_key(&key, &material)) {
            (Ok(true), Err(StoreError::NotFound)) => assert!(store.get_key(&key.key_id, "us-east-1").await.unwrap().is_none()),
            (Ok(false), Ok(())) => assert_eq!(store.count_keys_in_custom_key_store(&id).await.unwrap(), 1),
            other => panic!("exactly one of a deletion and a new key in the store must win: {other:?}"),
        }
    }
}

/// An external key store's proxy round-trips and changes; the endpoint and
/// path together are unique in the account and Region (AWS's rule), and
/// either alone is not.
async fn external_key_stores_keep_their_proxy_and_share_no_proxy_uri(store: &dyn Store) {
    let (e1, e2) = ("https://xks.example.com", "https://xks2.example.com");
    let (p1, p2) = ("/kms/xks/v1", "/prefix/kms/xks/v1");
    let x1 = xks("cks-00000000000000400", A, "sa-east-1", "xks-1", e1, p1);
    assert_eq!(store.insert_custom_key_store(&x1).await.unwrap(), None);
    assert_eq!(store.get_custom_key_store(&x1.id).await.unwrap(), Some(CustomKeyStoreRecord { row_version: 1, ..x1.clone() }));
    // The same endpoint with another path, another endpoint with the same
    // path, the same pair in another Region or account: all free.
    for (i, (account, region, endpoint, path)) in [(A, "sa-east-1", e1, p2), (A, "sa-east-1", e2, p1), (A, "eu-north-1", e1, p1), (B, "sa-east-1", e1, p1)].into_iter().enumerate() {
        let other = xks(&format!("cks-{:017x}", 0x410 + i), account, region, &format!("xks-free-{i}"), endpoint, path);
        assert_eq!(store.insert_custom_key_store(&other).await.unwrap(), None, "{other:?}");
    }
    let same_uri = xks("cks-00000000000000420", A, "sa-east-1", "xks-2", e1, p1);
    assert_eq!(store.insert_custom_key_store(&same_uri).await.unwrap(), Some(KeyStoreConflict::XksUriInUse));
    assert_eq!(store.get_custom_key_store(&same_uri.id).await.unwrap(), None);
    // The name is checked first, as for CloudHSM key stores.
    let both = xks("cks-00000000000000421", A, "sa-east-1", "xks-1", e1, p1);
    assert_eq!(store.insert_custom_key_store(&both).await.unwrap(), Some(KeyStoreConflict::NameInUse));

    // Updates: the proxy and the sealed secret change; onto another's pair
    // is refused; keeping its own pair is no conflict.
    let x2 = xks("cks-00000000000000422", A, "sa-east-1", "xks-3", e2, p2);
    assert_eq!(store.insert_custom_key_store(&x2).await.unwrap(), None);
    let read = store.get_custom_key_store(&x2.id).await.unwrap().unwrap();
    let mut moved = read.clone();
    moved.xks = Some(XksProxy { uri_path: "/other/kms/xks/v1".to_owned(), access_key_id: "BBBBBBBBBBBBBBBBBBBB".to_owned(), ..read.xks.clone().unwrap() });
    moved.sealed_password = b"new secret".to_vec();
    assert_eq!(store.update_custom_key_store(&moved).await.unwrap(), Ok(read.row_version + 1));
    let now = store.get_custom_key_store(&x2.id).await.unwrap().unwrap();
    assert_eq!(now, CustomKeyStoreRecord { row_version: read.row_version + 1, ..moved.clone() });
    let onto = CustomKeyStoreRecord { xks: x1.xks.clone(), ..now.clone() };
    assert_eq!(store.update_custom_key_store(&onto).await.unwrap(), Err(KeyStoreConflict::XksUriInUse));
    assert_eq!(store.get_custom_key_store(&x2.id).await.unwrap().unwrap(), now);
    // Its old pair is free again.
    assert_eq!(store.insert_custom_key_store(&xks("cks-00000000000000423", A, "sa-east-1", "xks-4", e2, p2)).await.unwrap(), None);
    // A CloudHSM key store beside them has no proxy.
    assert_eq!(store.get_custom_key_store(S1).await.unwrap().unwrap().xks, None);
}

/// Creators of one proxy endpoint and path racing (the UNIQUE index
/// catches what the check missed on PostgreSQL): exactly one wins.
async fn racing_creators_of_one_proxy_uri(store: &dyn Store) {
    for round in 0..4_u64 {
        let path = format!("/race{round}/kms/xks/v1");
        let racers: Vec<_> = (0..4_u64).map(|i| xks(&format!("cks-{:017x}", 0x500 + round * 16 + i), A, "me-south-1", &format!("xks-race-{round}-{i}"), "https://race.example.com", &path)).collect();
        let results = join_all(racers.iter().map(|s| store.insert_custom_key_store(s))).await;
        assert_eq!(results.iter().filter(|r| matches!(r, Ok(None))).count(), 1, "{results:?}");
        assert!(results.iter().all(|r| matches!(r, Ok(None) | Ok(Some(KeyStoreConflict::XksUriInUse)))), "{results:?}");
    }
}

/// AWS's XksKeyAlreadyInUseException, atomically: a second key naming the
/// same external key in the same key store is refused by every insert
/// path; another external key, or another key store, is fine.
async fn an_external_key_serves_one_kms_key_per_store(store: &dyn Store) {
    let (x1, x2) = ("cks-000000000000000x1", "cks-000000000000000x2");
    for (id, name) in [(x1, "xks-one"), (x2, "xks-two")] {
        assert_eq!(store.insert_custom_key_store(&ks(id, A, "us-east-1", name, id)).await.unwrap(), None);
    }
    let xkey = |store_id: &str, key_id: &str, external: &str| {
        let (mut key, material) = key_in(store_id, key_id);
        key.origin = "EXTERNAL_KEY_STORE".to_owned();
        key.xks_key_id = Some(external.to_owned());
        (key, material)
    };
    let first = "e1000000-0000-4000-8000-0000000000e1";
    let (k, m) = xkey(x1, first, "ext-1");
    store.insert_key(&k, &m).await.unwrap();
    assert_eq!(store.get_key(first, "us-east-1").await.unwrap().unwrap().xks_key_id.as_deref(), Some("ext-1"));
    let (k, m) = xkey(x1, "e2000000-0000-4000-8000-0000000000e2", "ext-1");
    assert!(matches!(store.insert_key(&k, &m).await, Err(StoreError::AlreadyExists)));
    let alias = AliasRecord { account_id: A.into(), region: "us-east-1".into(), alias_name: "alias/xks".into(), target_key_id: k.key_id.clone(), created_at: 1, updated_at: 1 };
    assert!(matches!(store.insert_key_with_alias(&k, &m, &alias).await, Err(StoreError::AlreadyExists)));
    assert!(store.get_key(&k.key_id, "us-east-1").await.unwrap().is_none());
    assert!(store.get_alias(A, "us-east-1", "alias/xks").await.unwrap().is_none());
    let (k, m) = xkey(x1, "e3000000-0000-4000-8000-0000000000e3", "ext-2");
    store.insert_key(&k, &m).await.unwrap();
    let (k, m) = xkey(x2, "e4000000-0000-4000-8000-0000000000e4", "ext-1");
    store.insert_key(&k, &m).await.unwrap();
    assert_eq!(store.count_keys_in_custom_key_store(x1).await.unwrap(), 2);
}
