//! Grants: inserted under a per-key limit counted atomically, looked up by
//! key, grantee and retiring principal, deleted once, gone with their key.

use crate::*;

const K: &str = "c0000000-0000-4000-8000-00000000000c";
const OTHER: &str = "d0000000-0000-4000-8000-00000000000d";

fn grant(id: &str, key_id: &str, grantee: &str, retiring: Option<&str>) -> GrantRecord {
    GrantRecord {
        grant_id: id.to_owned(),
        key_id: key_id.to_owned(),
        region: "us-east-1".to_owned(),
        grantee_principal: grantee.to_owned(),
        retiring_principal: retiring.map(str::to_owned),
        name: Some(format!("name-{id}")),
        created_at: 5,
        doc: format!(r#"{{"operations":["Encrypt"],"id":"{id}"}}"#),
    }
}

pub async fn run_all(store: &dyn Store) {
    for id in [K, OTHER] {
        let (key, m) = super::sample_key("555555555555", id);
        store.insert_key(&key, &m).await.unwrap();
    }
    let dave = "arn:aws:iam::555555555555:user/dave";
    let erin = "arn:aws:iam::555555555555:user/erin";
    let ops = "arn:aws:iam::555555555555:role/ops";
    assert!(store.insert_grant(&grant("g1", K, dave, Some(ops)), 3).await.unwrap());
    assert!(store.insert_grant(&grant("g2", K, erin, None), 3).await.unwrap());
    assert!(store.insert_grant(&grant("g3", K, dave, None), 3).await.unwrap());
    // The limit: a fourth grant on K is refused and nothing is written; other keys have room.
    assert!(!store.insert_grant(&grant("g4", K, dave, None), 3).await.unwrap());
    assert_eq!(store.get_grant("g4").await.unwrap(), None);
    assert!(store.insert_grant(&grant("g5", OTHER, dave, Some(ops)), 3).await.unwrap());
    // A grant on a key that does not exist.
    assert!(matches!(store.insert_grant(&grant("g6", "dead0000-0000-4000-8000-0000000000ff", dave, None), 3).await, Err(StoreError::NotFound)));
    // A grant id is unique.
    assert!(matches!(store.insert_grant(&grant("g1", OTHER, dave, None), 10).await, Err(StoreError::AlreadyExists)));

    assert_eq!(store.get_grant("g1").await.unwrap(), Some(grant("g1", K, dave, Some(ops))));
    let ids = |v: Vec<GrantRecord>| v.into_iter().map(|g| g.grant_id).collect::<Vec<_>>();
    assert_eq!(ids(store.list_grants(K, "us-east-1", None, 10).await.unwrap()), ["g1", "g2", "g3"]);
    assert_eq!(ids(store.list_grants(K, "us-east-1", None, 2).await.unwrap()), ["g1", "g2"]);
    assert_eq!(ids(store.list_grants(K, "us-east-1", Some("g2"), 10).await.unwrap()), ["g3"]);
    assert_eq!(ids(store.list_retirable_grants(ops, None, 10).await.unwrap()), ["g1", "g5"]);
    assert_eq!(ids(store.list_retirable_grants(ops, Some("g1"), 10).await.unwrap()), ["g5"]);
    assert_eq!(ids(store.grants_for(K, "us-east-1", &[dave.to_owned()]).await.unwrap()), ["g1", "g3"]);
    assert_eq!(ids(store.grants_for(K, "us-east-1", &[dave.to_owned(), erin.to_owned()]).await.unwrap()).len(), 3);
    assert_eq!(ids(store.grants_for(OTHER, "us-east-1", &[erin.to_owned()]).await.unwrap()), Vec::<String>::new());

    store.delete_grant("g3").await.unwrap();
    assert!(matches!(store.delete_grant("g3").await, Err(StoreError::NotFound)));
    assert_eq!(ids(store.list_grants(K, "us-east-1", None, 10).await.unwrap()), ["g1", "g2"]);
    // Room again after a deletion.
    assert!(store.insert_grant(&grant("g7", K, erin, None), 3).await.unwrap());

    // Destroying a key destroys its grants.
    let key = store.get_key(K, "us-east-1").await.unwrap().unwrap();
    store.delete_key(K, "us-east-1", key.row_version).await.unwrap();
    assert_eq!(store.get_grant("g1").await.unwrap(), None);
    assert_eq!(ids(store.list_retirable_grants(ops, None, 10).await.unwrap()), ["g5"]);
}
