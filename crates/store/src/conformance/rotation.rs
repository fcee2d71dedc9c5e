//! Rotation: a new material and the key's switch to it are one atomic,
//! compare-and-set step, and due keys are found by their date.

use crate::*;

const K: &str = "a0000000-0000-4000-8000-00000000000a";
const DISABLED: &str = "b0000000-0000-4000-8000-00000000000b";

fn material(key_id: &str, id: &str) -> MaterialRecord {
    MaterialRecord { key_id: key_id.to_owned(), material_id: id.repeat(32), stored: vec![9, 9], created_at: 2 }
}

pub async fn run_all(store: &dyn Store) {
    due_keys_are_found_by_date(store).await;
    usage_keeps_the_latest_use(store).await;
    rotation_is_atomic_and_compare_and_set(store).await;
}

async fn usage_keeps_the_latest_use(store: &dyn Store) {
    let use_at = |at: Millis, op: &str| KeyUsageRecord {
        key_id: K.to_owned(),
        region: "us-east-1".to_owned(),
        used_at: at,
        operation: op.to_owned(),
        request_id: format!("req-{at}"),
        event_id: Some(format!("event-{at}")),
    };
    assert_eq!(store.get_key_usage(K, "us-east-1").await.unwrap(), None);
    // A use without its event id (as recorded before Trent kept it) reads back without one.
    let unnamed = KeyUsageRecord { event_id: None, ..use_at(5, "Sign") };
    store.record_key_usage(std::slice::from_ref(&unnamed)).await.unwrap();
    assert_eq!(store.get_key_usage(K, "us-east-1").await.unwrap(), Some(unnamed));
    store.record_key_usage(&[use_at(20, "Encrypt")]).await.unwrap();
    // An older use flushed later (another node's) does not win.
    store.record_key_usage(&[use_at(10, "Decrypt")]).await.unwrap();
    assert_eq!(store.get_key_usage(K, "us-east-1").await.unwrap(), Some(use_at(20, "Encrypt")));
    store.record_key_usage(&[use_at(30, "GenerateDataKey")]).await.unwrap();
    assert_eq!(store.get_key_usage(K, "us-east-1").await.unwrap(), Some(use_at(30, "GenerateDataKey")));
    // A key that does not exist (destroyed meanwhile) gets no record.
    let ghost = KeyUsageRecord { key_id: "dead0000-0000-4000-8000-000000000000".into(), ..use_at(40, "Encrypt") };
    store.record_key_usage(&[ghost]).await.unwrap();
    assert_eq!(store.get_key_usage("dead0000-0000-4000-8000-000000000000", "us-east-1").await.unwrap(), None);
}

async fn due_keys_are_found_by_date(store: &dyn Store) {
    for (id, state) in [(K, KeyState::Enabled), (DISABLED, KeyState::Disabled)] {
        let (key, m) = super::sample_key("444444444444", id);
        store.insert_key(&key, &m).await.unwrap();
        let mut key = store.get_key(id, "us-east-1").await.unwrap().unwrap();
        key.state = state;
        key.rotation.period_days = Some(90);
        key.rotation.next_at = Some(1_000);
        store.update_key(&key).await.unwrap();
    }
    assert!(store.keys_due_for_rotation(999).await.unwrap().is_empty());
    // A disabled key is not rotated while it is disabled.
    assert_eq!(store.keys_due_for_rotation(1_000).await.unwrap(), vec![super::east(K)]);
    let back = store.get_key(K, "us-east-1").await.unwrap().unwrap();
    assert_eq!(back.rotation.period_days, Some(90));
}

async fn rotation_is_atomic_and_compare_and_set(store: &dyn Store) {
    let read = store.get_key(K, "us-east-1").await.unwrap().unwrap();
    let rotate = |key: &KeyRecord, id: &str| {
        let mut next = key.clone();
        next.current_material_id = id.repeat(32);
        next.rotation.next_at = Some(5_000);
        next.rotation.history.push(Rotation { material_id: id.repeat(32), rotated_at: 1_000, kind: RotationType::Automatic });
        next
    };
    // Two nodes rotating from the same read: one wins, the other changes nothing.
    let v = store.rotate_key(&rotate(&read, "c1"), &material(K, "c1")).await.unwrap();
    assert_eq!(v, read.row_version + 1);
    assert!(matches!(store.rotate_key(&rotate(&read, "c2"), &material(K, "c2")).await, Err(StoreError::Conflict)));
    assert!(store.get_material(K, &"c2".repeat(32)).await.unwrap().is_none(), "a lost rotation left its material");

    let key = store.get_key(K, "us-east-1").await.unwrap().unwrap();
    assert_eq!(key.current_material_id, "c1".repeat(32));
    assert_eq!(key.rotation.history.len(), 1);
    assert_eq!(key.rotation.history[0].kind, RotationType::Automatic);
    assert!(store.get_material(K, &"c1".repeat(32)).await.unwrap().is_some());
    assert!(store.get_material(K, &"ab".repeat(32)).await.unwrap().is_some(), "old material must stay for decryption");
    assert!(store.keys_due_for_rotation(4_999).await.unwrap().is_empty());

    // A rotation of a key destroyed meanwhile is NotFound.
    store.delete_key(K, "us-east-1", key.row_version).await.unwrap();
    assert!(matches!(store.rotate_key(&rotate(&key, "c3"), &material(K, "c3")).await, Err(StoreError::NotFound)));
    assert!(store.get_material(K, &"c1".repeat(32)).await.unwrap().is_none());
    assert_eq!(store.get_key_usage(K, "us-east-1").await.unwrap(), None, "a destroyed key's usage stays behind");
}
