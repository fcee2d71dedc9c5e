//! Keys with imported material: made without material, material added and
//! removed atomically, expiry found by date.

use crate::*;

const K: &str = "e0000000-0000-4000-8000-00000000000e";

pub async fn run_all(store: &dyn Store) {
    let (mut key, material) = super::sample_key("555555555555", K);
    key.origin = "EXTERNAL".into();
    key.state = KeyState::PendingImport;
    key.current_material_id = String::new();
    store.insert_key_without_material(&key).await.unwrap();
    assert!(matches!(store.insert_key_without_material(&key).await, Err(StoreError::AlreadyExists)));
    let read = store.get_key(K).await.unwrap().unwrap();
    assert_eq!((read.state, read.current_material_id.as_str()), (KeyState::PendingImport, ""));

    // Import: material and key in one step.
    let mut imported = read.clone();
    imported.state = KeyState::Enabled;
    imported.current_material_id = material.material_id.clone();
    imported.import = KeyImport { expiration_model: Some("KEY_MATERIAL_EXPIRES".into()), valid_to: Some(5_000), material_description: None };
    let v = store.rotate_key(&imported, &material).await.unwrap();
    assert!(store.get_material(K, &material.material_id).await.unwrap().is_some());
    assert!(store.keys_with_expired_material(4_999).await.unwrap().is_empty());
    assert_eq!(store.keys_with_expired_material(5_000).await.unwrap(), vec![K.to_owned()]);

    // Expiry: material gone and key back to PendingImport, or neither.
    let mut expired = store.get_key(K).await.unwrap().unwrap();
    assert_eq!(expired.row_version, v);
    expired.state = KeyState::PendingImport;
    expired.import = KeyImport::default();
    let stale = KeyRecord { row_version: v - 1, ..expired.clone() };
    assert!(matches!(store.remove_key_material(&stale).await, Err(StoreError::Conflict)));
    assert!(store.get_material(K, &material.material_id).await.unwrap().is_some(), "a lost removal deleted material");
    store.remove_key_material(&expired).await.unwrap();
    assert!(store.get_material(K, &material.material_id).await.unwrap().is_none());
    assert_eq!(store.get_key(K).await.unwrap().unwrap().state, KeyState::PendingImport);
    assert!(store.keys_with_expired_material(i64::MAX).await.unwrap().is_empty());
}
