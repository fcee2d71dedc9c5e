//! The behaviour every [`Store`] backend must show. Each backend's tests
//! call [`run_all`] on a fresh, empty store.

mod custom_key_stores;
mod grants;
mod import;
mod identity;
mod multi_node;
mod replica_imports;
mod replicas;
mod rotation;

use crate::*;

pub use multi_node::{changes_hold_on_every_node_within, reopening_is_idempotent};
pub use replicas::replica_of;

/// A key record and its material, for tests.
pub fn sample_key(account_id: &str, key_id: &str) -> (KeyRecord, MaterialRecord) {
    let key = KeyRecord {
        key_id: key_id.to_owned(),
        account_id: account_id.to_owned(),
        region: "us-east-1".to_owned(),
        arn: format!("arn:aws:kms:us-east-1:{account_id}:key/{key_id}"),
        created_at: 1_700_000_000_000,
        description: "sample".to_owned(),
        key_usage: "ENCRYPT_DECRYPT".to_owned(),
        key_spec: "SYMMETRIC_DEFAULT".to_owned(),
        origin: "AWS_KMS".to_owned(),
        state: KeyState::Enabled,
        deletion_date: None,
        pending_window_days: None,
        policy: "{}".to_owned(),
        tags: vec![Tag { key: "team".to_owned(), value: "blue".to_owned() }],
        current_material_id: "ab".repeat(32),
        multi_region: false,
        primary_region: None,
        rotation: Default::default(),
        import: Default::default(),
        key_manager: Default::default(),
        custom_key_store_id: None,
        xks_key_id: None,
        row_version: 0,
    };
    let material = MaterialRecord { key_id: key_id.to_owned(), material_id: "ab".repeat(32), stored: vec![1, 2, 3], created_at: key.created_at };
    (key, material)
}

/// Where a sample key is: in us-east-1.
pub(crate) fn east(key_id: &str) -> KeyLocation {
    KeyLocation { key_id: key_id.to_owned(), region: "us-east-1".to_owned() }
}

/// For a store with a read cache: a key read from the database brings its
/// current material into the cache with it, so the Encrypt that asks for
/// both reaches the database once. After a rotation the key brings its new
/// material.
pub async fn a_key_brings_its_current_material_along(store: &dyn Store) {
    const K: &str = "c0000000-0000-4000-8000-00000000000c";
    let (key, material) = sample_key("111111111111", K);
    store.insert_key(&key, &material).await.unwrap();
    let material_comes_along = |expected: MaterialRecord| async move {
        let key = store.get_key(K, "us-east-1").await.unwrap().unwrap();
        let before = store.read_cache_stats().expect("a store with a read cache");
        assert_eq!(store.get_material(K, &key.current_material_id).await.unwrap(), Some(expected));
        let after = store.read_cache_stats().unwrap();
        assert_eq!((after.hits, after.misses), (before.hits + 1, before.misses), "the material came with the key");
        key
    };
    let mut key = material_comes_along(material.clone()).await;
    let rotated = MaterialRecord { material_id: "cd".repeat(32), stored: vec![7, 7], ..material };
    key.current_material_id = rotated.material_id.clone();
    store.rotate_key(&key, &rotated).await.unwrap();
    material_comes_along(rotated).await;
}

fn alias(account_id: &str, name: &str, key_id: &str) -> AliasRecord {
    AliasRecord { account_id: account_id.to_owned(), region: "us-east-1".to_owned(), alias_name: name.to_owned(), target_key_id: key_id.to_owned(), created_at: 1, updated_at: 1 }
}

const K1: &str = "10000000-0000-4000-8000-000000000001";
const K2: &str = "20000000-0000-4000-8000-000000000002";
const K3: &str = "30000000-0000-4000-8000-000000000003";

/// Every case, on a fresh, empty store. (Reopening needs a second handle
/// on the same database: see [`reopening_is_idempotent`].)
pub async fn run_all(store: &dyn Store) {
    multi_node::run_all(store).await;
    keys_round_trip(store).await;
    fresh_keys_round_trip(store).await;
    updates_are_optimistic(store).await;
    listing_pages_by_owner(store).await;
    aliases_are_unique_per_account(store).await;
    a_key_with_its_alias_is_all_or_nothing(store).await;
    deletion_removes_material_and_aliases(store).await;
    identities_round_trip(store).await;
    the_first_principal_is_made_once(store).await;
    settings_are_set_once(store).await;
    rotation::run_all(store).await;
    import::run_all(store).await;
    identity::run_all(store).await;
    grants::run_all(store).await;
    custom_key_stores::run_all(store).await;
    replicas::run_all(store).await;
    replica_imports::run_all(store).await;
    sealed_values_page_and_change_by_compare_and_set(store).await;
}

async fn keys_round_trip(store: &dyn Store) {
    let (key, material) = sample_key("111111111111", K1);
    store.insert_key(&key, &material).await.unwrap();
    let got = store.get_key(K1, "us-east-1").await.unwrap().expect("inserted key is found");
    assert_eq!(got.description, "sample");
    assert_eq!(got.tags, key.tags);
    assert!(matches!(store.insert_key(&key, &material).await, Err(StoreError::AlreadyExists)));
    let m = store.get_material(K1, &"ab".repeat(32)).await.unwrap().expect("material is found");
    assert_eq!(m.stored, vec![1, 2, 3]);
    assert!(store.get_material(K1, &"cd".repeat(32)).await.unwrap().is_none());
    assert!(store.get_key(K2, "us-east-1").await.unwrap().is_none());
}

/// CreateKey's insert stores the same rows as `insert_key`, as atomically.
async fn fresh_keys_round_trip(store: &dyn Store) {
    const FRESH: &str = "fe000000-0000-4000-8000-0000000000fe";
    let (key, material) = sample_key("121212121212", FRESH);
    store.insert_fresh_key(&key, &material).await.unwrap();
    assert_eq!(store.get_key(FRESH, "us-east-1").await.unwrap().expect("inserted key is found").description, "sample");
    assert_eq!(store.get_material(FRESH, &material.material_id).await.unwrap().expect("material is found").stored, vec![1, 2, 3]);
    assert!(matches!(store.insert_fresh_key(&key, &material).await, Err(StoreError::AlreadyExists)));
    // A taken key id leaves no second material behind.
    let (_, other) = sample_key("121212121212", FRESH);
    let other = MaterialRecord { material_id: "cd".repeat(32), ..other };
    assert!(matches!(store.insert_fresh_key(&key, &other).await, Err(StoreError::AlreadyExists)));
    assert!(store.get_material(FRESH, &other.material_id).await.unwrap().is_none());
}

async fn updates_are_optimistic(store: &dyn Store) {
    let mut first = store.get_key(K1, "us-east-1").await.unwrap().unwrap();
    let stale = first.clone();
    first.state = KeyState::Disabled;
    let v = store.update_key(&first).await.unwrap();
    assert_eq!(v, first.row_version + 1);
    assert_eq!(store.get_key(K1, "us-east-1").await.unwrap().unwrap().state, KeyState::Disabled);
    // A writer that read before the update must not overwrite it.
    assert!(matches!(store.update_key(&stale).await, Err(StoreError::Conflict)));
    let (ghost, _) = sample_key("111111111111", K3);
    assert!(matches!(store.update_key(&ghost).await, Err(StoreError::NotFound)));
}

async fn listing_pages_by_owner(store: &dyn Store) {
    let (k2, m2) = sample_key("111111111111", K2);
    store.insert_key(&k2, &m2).await.unwrap();
    let (k3, m3) = sample_key("999999999999", K3);
    store.insert_key(&k3, &m3).await.unwrap();
    let page1 = store.list_keys("111111111111", "us-east-1", None, 1).await.unwrap();
    assert_eq!(page1.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>(), vec![K1]);
    let page2 = store.list_keys("111111111111", "us-east-1", Some(K1), 10).await.unwrap();
    assert_eq!(page2.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>(), vec![K2]);
    assert!(store.list_keys("111111111111", "eu-west-1", None, 10).await.unwrap().is_empty());
}

async fn aliases_are_unique_per_account(store: &dyn Store) {
    let dangling = alias("111111111111", "alias/dangling", "99999999-0000-4000-8000-000000000009");
    assert!(matches!(store.insert_alias(&dangling).await, Err(StoreError::NotFound)), "an alias needs its key");
    store.insert_alias(&alias("111111111111", "alias/a", K1)).await.unwrap();
    store.insert_alias(&alias("111111111111", "alias/b", K2)).await.unwrap();
    assert!(matches!(store.insert_alias(&alias("111111111111", "alias/a", K2)).await, Err(StoreError::AlreadyExists)));
    // The same name in another account is another alias.
    store.insert_alias(&alias("999999999999", "alias/a", K3)).await.unwrap();
    let got = store.get_alias("111111111111", "us-east-1", "alias/a").await.unwrap().unwrap();
    assert_eq!(got.target_key_id, K1);
    // Compare-and-set: only from the target the caller was authorized for.
    assert!(matches!(store.update_alias(&alias("111111111111", "alias/a", K2), K3).await, Err(StoreError::Conflict)));
    assert_eq!(store.get_alias("111111111111", "us-east-1", "alias/a").await.unwrap().unwrap().target_key_id, K1);
    store.update_alias(&alias("111111111111", "alias/a", K2), K1).await.unwrap();
    assert_eq!(store.get_alias("111111111111", "us-east-1", "alias/a").await.unwrap().unwrap().target_key_id, K2);
    assert!(matches!(store.update_alias(&alias("111111111111", "alias/zz", K2), K1).await, Err(StoreError::NotFound)));
    let all = store.list_aliases("111111111111", "us-east-1", None, None, 10).await.unwrap();
    assert_eq!(all.iter().map(|a| a.alias_name.as_str()).collect::<Vec<_>>(), vec!["alias/a", "alias/b"]);
    let after_a = store.list_aliases("111111111111", "us-east-1", None, Some("alias/a"), 10).await.unwrap();
    assert_eq!(after_a.len(), 1);
    let for_k2 = store.list_aliases("111111111111", "us-east-1", Some(K2), None, 10).await.unwrap();
    assert_eq!(for_k2.len(), 2);
    assert!(matches!(store.delete_alias("111111111111", "us-east-1", "alias/b", K1).await, Err(StoreError::Conflict)));
    store.delete_alias("111111111111", "us-east-1", "alias/b", K2).await.unwrap();
    assert!(matches!(store.delete_alias("111111111111", "us-east-1", "alias/b", K2).await, Err(StoreError::NotFound)));
}

/// An AWS managed key and its `alias/aws/...` are stored together; when
/// the alias is taken (another node made the key first), nothing is.
async fn a_key_with_its_alias_is_all_or_nothing(store: &dyn Store) {
    const K4: &str = "a1000000-0000-4000-8000-0000000000a1";
    const K5: &str = "a2000000-0000-4000-8000-0000000000a2";
    let (mut key, material) = sample_key("414141414141", K4);
    key.key_manager = KeyManager::Aws;
    store.insert_key_with_alias(&key, &material, &alias("414141414141", "alias/aws/s3", K4)).await.unwrap();
    assert_eq!(store.get_key(K4, "us-east-1").await.unwrap().unwrap().key_manager, KeyManager::Aws);
    assert_eq!(store.get_alias("414141414141", "us-east-1", "alias/aws/s3").await.unwrap().unwrap().target_key_id, K4);
    let (loser, material) = sample_key("414141414141", K5);
    assert!(matches!(store.insert_key_with_alias(&loser, &material, &alias("414141414141", "alias/aws/s3", K5)).await, Err(StoreError::AlreadyExists)));
    assert!(store.get_key(K5, "us-east-1").await.unwrap().is_none(), "the loser's key is not stored");
    assert!(store.get_material(K5, &"ab".repeat(32)).await.unwrap().is_none());
    assert_eq!(store.get_alias("414141414141", "us-east-1", "alias/aws/s3").await.unwrap().unwrap().target_key_id, K4);
    assert_eq!(store.list_keys("414141414141", "us-east-1", None, 10).await.unwrap().len(), 1);
}

async fn deletion_removes_material_and_aliases(store: &dyn Store) {
    let mut key = store.get_key(K2, "us-east-1").await.unwrap().unwrap();
    key.state = KeyState::PendingDeletion;
    key.deletion_date = Some(5_000);
    let version = store.update_key(&key).await.unwrap();
    assert!(store.keys_due_for_deletion(4_999).await.unwrap().is_empty());
    assert_eq!(store.keys_due_for_deletion(5_000).await.unwrap(), vec![east(K2)]);
    // A deletion decided on a stale read (e.g. cancelled since) is refused.
    assert!(matches!(store.delete_key(K2, "us-east-1", version - 1).await, Err(StoreError::Conflict)));
    assert!(store.get_key(K2, "us-east-1").await.unwrap().is_some());
    store.delete_key(K2, "us-east-1", version).await.unwrap();
    assert!(store.get_key(K2, "us-east-1").await.unwrap().is_none());
    assert!(store.get_material(K2, &"ab".repeat(32)).await.unwrap().is_none());
    assert!(store.get_alias("111111111111", "us-east-1", "alias/a").await.unwrap().is_none());
    assert!(matches!(store.delete_key(K2, "us-east-1", version).await, Err(StoreError::NotFound)));
    assert!(store.keys_due_for_deletion(i64::MAX).await.unwrap().is_empty());
}

async fn identities_round_trip(store: &dyn Store) {
    assert_eq!(store.count_principals().await.unwrap(), 0);
    let p = PrincipalRecord { arn: "arn:aws:iam::111111111111:user/admin".to_owned(), account_id: "111111111111".to_owned(), created_at: 1 };
    let k = AccessKeyRecord { access_key_id: "AKIATRENT0000000001".to_owned(), principal_arn: p.arn.clone(), sealed_secret: vec![9; 40], created_at: 1, active: true };
    store.insert_principal(&p, &k).await.unwrap();
    assert_eq!(store.count_principals().await.unwrap(), 1);
    assert_eq!(store.get_principal(&p.arn).await.unwrap(), Some(p.clone()));
    assert_eq!(store.get_access_key("AKIATRENT0000000001").await.unwrap(), Some(k.clone()));
    assert!(store.get_access_key("AKIAUNKNOWN").await.unwrap().is_none());
    assert!(matches!(store.insert_principal(&p, &k).await, Err(StoreError::AlreadyExists)));
}

async fn the_first_principal_is_made_once(store: &dyn Store) {
    // The store already has a principal (identities_round_trip): no one is first.
    let p = PrincipalRecord { arn: "arn:aws:iam::222222222222:user/admin".to_owned(), account_id: "222222222222".to_owned(), created_at: 1 };
    let k = AccessKeyRecord { access_key_id: "AKIATRENT0000000002".to_owned(), principal_arn: p.arn.clone(), sealed_secret: vec![7; 40], created_at: 1, active: true };
    assert!(!store.insert_first_principal(&p, &k).await.unwrap());
    assert!(store.get_principal(&p.arn).await.unwrap().is_none());
}

async fn settings_are_set_once(store: &dyn Store) {
    assert_eq!(store.get_setting("root_key_check").await.unwrap(), None);
    store.insert_setting("root_key_check", b"sealed check").await.unwrap();
    assert!(matches!(store.insert_setting("root_key_check", b"other").await, Err(StoreError::AlreadyExists)));
    assert_eq!(store.get_setting("root_key_check").await.unwrap().as_deref(), Some(&b"sealed check"[..]));
    // Replacing is a compare-and-set: only from the value still held.
    assert!(!store.replace_setting("root_key_check", b"stale", b"other").await.unwrap());
    assert!(!store.replace_setting("never_set", b"", b"other").await.unwrap());
    assert_eq!(store.get_setting("never_set").await.unwrap(), None);
    assert!(store.replace_setting("root_key_check", b"sealed check", b"second").await.unwrap());
    assert!(!store.replace_setting("root_key_check", b"sealed check", b"third").await.unwrap());
    assert_eq!(store.get_setting("root_key_check").await.unwrap().as_deref(), Some(&b"second"[..]));
    // Deleting is a compare-and-set too.
    store.insert_setting("passing", b"one").await.unwrap();
    assert!(!store.delete_setting("passing", b"two").await.unwrap());
    assert!(store.delete_setting("passing", b"one").await.unwrap());
    assert_eq!(store.get_setting("passing").await.unwrap(), None);
    assert!(!store.delete_setting("passing", b"one").await.unwrap());
}

/// The root rotation's walk: every sealed value in id order, page by page,
/// and each write only over the value it read.
async fn sealed_values_page_and_change_by_compare_and_set(store: &dyn Store) {
    use crate::SealedColumn;
    for column in SealedColumn::ALL {
        let all = store.list_sealed(column, None, 10_000).await.unwrap();
        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = store.list_sealed(column, after.as_ref(), 2).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            paged.extend(page);
        }
        assert_eq!(paged, all, "{column:?}");
        assert!(all.windows(2).all(|w| w[0].id < w[1].id), "{column:?} in id order");
    }
    let materials = store.list_sealed(SealedColumn::KeyMaterial, None, 2).await.unwrap();
    assert_eq!(materials.len(), 2, "the suite's keys have material");
    let stale = crate::SealedValue { id: materials[1].id.clone(), sealed: b"not what it holds".to_vec() };
    let changes = vec![(materials[0].clone(), b"resealed".to_vec()), (stale, b"lost".to_vec())];
    assert_eq!(store.replace_sealed(SealedColumn::KeyMaterial, &changes).await.unwrap(), 1);
    let after = store.list_sealed(SealedColumn::KeyMaterial, None, 2).await.unwrap();
    assert_eq!(after[0].sealed, b"resealed");
    assert_eq!(after[1], materials[1]);
    let m = store.get_material(&materials[0].id.0, &materials[0].id.1).await.unwrap().unwrap();
    assert_eq!(m.stored, b"resealed");
    // Written again over what it read: no change.
    assert_eq!(store.replace_sealed(SealedColumn::KeyMaterial, &changes[..1]).await.unwrap(), 0);
}
