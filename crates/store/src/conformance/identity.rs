//! IAM entities and access keys: what the IAM and STS APIs rely on.

use futures_util::future::join_all;

use crate::*;

const ACCOUNT: &str = "333333333333";
const OTHER: &str = "444444444444";

fn entity(account_id: &str, kind: EntityKind, name: &str) -> EntityRecord {
    EntityRecord {
        account_id: account_id.to_owned(),
        kind,
        name: name.to_owned(),
        arn: format!("arn:aws:iam::{account_id}:{}/{name}", kind.as_str()),
        created_at: 5,
        doc: format!("{{\"name\":\"{name}\"}}"),
        row_version: 0,
    }
}

fn key(id: &str, principal_arn: &str) -> AccessKeyRecord {
    AccessKeyRecord { access_key_id: id.to_owned(), principal_arn: principal_arn.to_owned(), sealed_secret: vec![3; 40], created_at: 7, active: true }
}

pub(super) async fn run_all(store: &dyn Store) {
    accounts_are_created_once(store).await;
    entities_are_unique_per_account_kind_and_folded_name(store).await;
    entity_updates_are_optimistic(store).await;
    listing_entities_pages_by_folded_name(store).await;
    users_are_principals_with_access_keys(store).await;
    access_keys_are_limited_per_principal_even_when_racing(store).await;
    deleting_a_user_takes_its_keys(store).await;
}

async fn accounts_are_created_once(store: &dyn Store) {
    store.insert_account(ACCOUNT, 1).await.unwrap();
    assert!(matches!(store.insert_account(ACCOUNT, 2).await, Err(StoreError::AlreadyExists)));
}

async fn entities_are_unique_per_account_kind_and_folded_name(store: &dyn Store) {
    store.insert_entity(&entity(ACCOUNT, EntityKind::Role, "Deployer"), None).await.unwrap();
    // IAM names are unique regardless of case.
    let mut twin = entity(ACCOUNT, EntityKind::Role, "DEPLOYER");
    twin.arn = "arn:aws:iam::333333333333:role/DEPLOYER".to_owned();
    assert!(matches!(store.insert_entity(&twin, None).await, Err(StoreError::AlreadyExists)));
    // The same name as another kind, or in another account (created on the way), is another entity.
    store.insert_entity(&entity(ACCOUNT, EntityKind::Policy, "Deployer"), None).await.unwrap();
    store.insert_entity(&entity(OTHER, EntityKind::Role, "Deployer"), None).await.unwrap();
    let got = store.get_entity(ACCOUNT, EntityKind::Role, "deployer").await.unwrap().expect("found in any case");
    assert_eq!(got.name, "Deployer");
    assert_eq!(got.doc, "{\"name\":\"Deployer\"}");
    assert_eq!(got.arn, "arn:aws:iam::333333333333:role/Deployer");
    assert!(store.get_entity(ACCOUNT, EntityKind::User, "Deployer").await.unwrap().is_none());
}

async fn entity_updates_are_optimistic(store: &dyn Store) {
    let mut role = store.get_entity(ACCOUNT, EntityKind::Role, "Deployer").await.unwrap().unwrap();
    let stale = role.clone();
    role.doc = "{\"trust\":1}".to_owned();
    let v = store.update_entity(&role).await.unwrap();
    assert_eq!(v, role.row_version + 1);
    assert!(matches!(store.update_entity(&stale).await, Err(StoreError::Conflict)));
    assert_eq!(store.get_entity(ACCOUNT, EntityKind::Role, "Deployer").await.unwrap().unwrap().doc, "{\"trust\":1}");
    assert!(matches!(store.update_entity(&entity(ACCOUNT, EntityKind::Role, "ghost")).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_entity(ACCOUNT, EntityKind::Role, "Deployer", stale.row_version).await, Err(StoreError::Conflict)));
    store.delete_entity(ACCOUNT, EntityKind::Role, "deployer", v).await.unwrap();
    assert!(store.get_entity(ACCOUNT, EntityKind::Role, "Deployer").await.unwrap().is_none());
    assert!(matches!(store.delete_entity(ACCOUNT, EntityKind::Role, "Deployer", v).await, Err(StoreError::NotFound)));
    // The name is free again.
    store.insert_entity(&entity(ACCOUNT, EntityKind::Role, "Deployer"), None).await.unwrap();
}

async fn listing_entities_pages_by_folded_name(store: &dyn Store) {
    for name in ["carol", "Bob", "alice"] {
        store.insert_entity(&entity(ACCOUNT, EntityKind::Role, name), None).await.unwrap();
    }
    let names = |v: Vec<EntityRecord>| v.into_iter().map(|e| e.name).collect::<Vec<_>>();
    let page1 = store.list_entities(ACCOUNT, EntityKind::Role, None, 2).await.unwrap();
    assert_eq!(names(page1), vec!["alice", "Bob"]);
    let page2 = store.list_entities(ACCOUNT, EntityKind::Role, Some("bob"), 10).await.unwrap();
    assert_eq!(names(page2), vec!["carol", "Deployer"]);
    assert_eq!(names(store.list_entities(OTHER, EntityKind::Role, None, 10).await.unwrap()), vec!["Deployer"]);
    assert!(store.list_entities(OTHER, EntityKind::User, None, 10).await.unwrap().is_empty());
}

async fn users_are_principals_with_access_keys(store: &dyn Store) {
    let dave = entity(ACCOUNT, EntityKind::User, "dave");
    store.insert_entity(&dave, Some(&key("AKIADAVE000000000001", &dave.arn))).await.unwrap();
    let principal = store.get_principal(&dave.arn).await.unwrap().expect("a user is a principal");
    assert_eq!(principal.account_id, ACCOUNT);
    let first = store.get_access_key("AKIADAVE000000000001").await.unwrap().unwrap();
    assert!(first.active);
    assert_eq!(first.principal_arn, dave.arn);
    // A failed insert leaves nothing behind, not even the key.
    let mut clash = entity(ACCOUNT, EntityKind::User, "DAVE");
    clash.arn = "arn:aws:iam::333333333333:user/DAVE".to_owned();
    assert!(matches!(store.insert_entity(&clash, Some(&key("AKIADAVE000000000009", &clash.arn))).await, Err(StoreError::AlreadyExists)));
    assert!(store.get_access_key("AKIADAVE000000000009").await.unwrap().is_none());
    assert!(store.get_principal(&clash.arn).await.unwrap().is_none());

    store.set_access_key_active("AKIADAVE000000000001", false).await.unwrap();
    assert!(!store.get_access_key("AKIADAVE000000000001").await.unwrap().unwrap().active);
    assert!(matches!(store.set_access_key_active("AKIANOSUCHKEY0000000", false).await, Err(StoreError::NotFound)));
    assert!(matches!(store.insert_access_key(&key("AKIAORPHAN0000000001", "arn:aws:iam::333333333333:user/nobody"), 2).await, Err(StoreError::NotFound)));
}

async fn access_keys_are_limited_per_principal_even_when_racing(store: &dyn Store) {
    let arn = "arn:aws:iam::333333333333:user/dave";
    // dave has one key; of several racing inserts exactly one more fits under 2.
    let inserts = (0..4).map(|i| async move { store.insert_access_key(&key(&format!("AKIADAVE00000000010{i}"), arn), 2).await });
    let results = join_all(inserts).await;
    assert_eq!(results.iter().filter(|r| matches!(r, Ok(true))).count(), 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let keys = store.list_access_keys(arn).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].access_key_id, "AKIADAVE000000000001");
    store.delete_access_key(&keys[1].access_key_id).await.unwrap();
    assert!(matches!(store.delete_access_key(&keys[1].access_key_id).await, Err(StoreError::NotFound)));
    assert_eq!(store.list_access_keys(arn).await.unwrap().len(), 1);
}

async fn deleting_a_user_takes_its_keys(store: &dyn Store) {
    let dave = store.get_entity(ACCOUNT, EntityKind::User, "Dave").await.unwrap().unwrap();
    store.delete_entity(ACCOUNT, EntityKind::User, "dave", dave.row_version).await.unwrap();
    assert!(store.get_principal(&dave.arn).await.unwrap().is_none());
    assert!(store.get_access_key("AKIADAVE000000000001").await.unwrap().is_none());
    assert!(store.list_access_keys(&dave.arn).await.unwrap().is_empty());
}
