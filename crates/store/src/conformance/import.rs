//! Keys with imported material: made without material, material added and
//! removed atomically (one version at a time for keys with several), expiry
//! found by the earliest ValidTo of the materials still imported.

use crate::*;

const K: &str = "e0000000-0000-4000-8000-00000000000e";
const L: &str = "e0000000-0000-4000-8000-0000000000ef";

pub async fn run_all(store: &dyn Store) {
    one_material(store).await;
    several_materials(store).await;
    legacy_records_expire(store).await;
}

fn terms(material_id: &str, valid_to: Option<Millis>) -> ImportedMaterial {
    ImportedMaterial {
        material_id: material_id.to_owned(),
        expiration_model: if valid_to.is_some() { "KEY_MATERIAL_EXPIRES" } else { "KEY_MATERIAL_DOES_NOT_EXPIRE" }.into(),
        valid_to,
        description: None,
        imported: true,
        pending_rotation: false,
    }
}

fn external(key_id: &str) -> KeyRecord {
    let (mut key, _) = super::sample_key("555555555555", key_id);
    key.origin = "EXTERNAL".into();
    key.state = KeyState::PendingImport;
    key.current_material_id = String::new();
    key
}

fn material(key_id: &str, id: &str) -> MaterialRecord {
    MaterialRecord { key_id: key_id.to_owned(), material_id: id.to_owned(), stored: vec![7; 4], created_at: 1 }
}

async fn one_material(store: &dyn Store) {
    let key = external(K);
    store.insert_key_without_material(&key).await.unwrap();
    assert!(matches!(store.insert_key_without_material(&key).await, Err(StoreError::AlreadyExists)));
    let read = store.get_key(K, "us-east-1").await.unwrap().unwrap();
    assert_eq!((read.state, read.current_material_id.as_str()), (KeyState::PendingImport, ""));

    // Import: material and key in one step.
    let a = "a1".repeat(32);
    let mut imported = read.clone();
    imported.state = KeyState::Enabled;
    imported.current_material_id = a.clone();
    imported.import.materials = vec![terms(&a, Some(5_000))];
    let v = store.rotate_key(&imported, &material(K, &a)).await.unwrap();
    assert_eq!(store.get_key(K, "us-east-1").await.unwrap().unwrap().import.materials, imported.import.materials);
    assert!(store.get_material(K, &a).await.unwrap().is_some());
    assert!(store.keys_with_expired_material(4_999).await.unwrap().is_empty());
    assert_eq!(store.keys_with_expired_material(5_000).await.unwrap(), vec![super::east(K)]);

    // Expiry: material gone and key back to PendingImport, or neither.
    let mut expired = store.get_key(K, "us-east-1").await.unwrap().unwrap();
    assert_eq!(expired.row_version, v);
    expired.state = KeyState::PendingImport;
    expired.import.materials[0].imported = false;
    let stale = KeyRecord { row_version: v - 1, ..expired.clone() };
    assert!(matches!(store.remove_key_material(&stale, std::slice::from_ref(&a)).await, Err(StoreError::Conflict)));
    assert!(store.get_material(K, &a).await.unwrap().is_some(), "a lost removal deleted material");
    store.remove_key_material(&expired, std::slice::from_ref(&a)).await.unwrap();
    assert!(store.get_material(K, &a).await.unwrap().is_none());
    assert_eq!(store.get_key(K, "us-east-1").await.unwrap().unwrap().state, KeyState::PendingImport);
    assert!(store.keys_with_expired_material(i64::MAX).await.unwrap().is_empty(), "a deleted material no longer expires");
}

/// A symmetric key with a rotated and a pending material: removing one
/// version keeps the others; the expiry index follows the earliest ValidTo.
async fn several_materials(store: &dyn Store) {
    store.insert_key_without_material(&external(L)).await.unwrap();
    let (a, b, c) = ("a2".repeat(32), "b2".repeat(32), "c2".repeat(32));
    let mut key = store.get_key(L, "us-east-1").await.unwrap().unwrap();
    key.state = KeyState::Enabled;
    key.current_material_id = a.clone();
    key.import.materials = vec![terms(&a, Some(9_000))];
    key.row_version = store.rotate_key(&key, &material(L, &a)).await.unwrap();
    key.import.materials.push(terms(&b, Some(7_000)));
    key.row_version = store.rotate_key(&key, &material(L, &b)).await.unwrap();
    let mut pending = terms(&c, None);
    pending.pending_rotation = true;
    key.import.materials.push(pending);
    key.row_version = store.rotate_key(&key, &material(L, &c)).await.unwrap();
    assert_eq!(store.keys_with_expired_material(6_999).await.unwrap(), Vec::<KeyLocation>::new());
    assert_eq!(store.keys_with_expired_material(7_000).await.unwrap(), vec![super::east(L)]);

    // b expires: only its version goes; a and c still decrypt / wait.
    key.import.materials[1].imported = false;
    key.state = KeyState::PendingImport;
    key.row_version = store.remove_key_material(&key, std::slice::from_ref(&b)).await.unwrap();
    assert!(store.get_material(L, &b).await.unwrap().is_none());
    assert!(store.get_material(L, &a).await.unwrap().is_some() && store.get_material(L, &c).await.unwrap().is_some());
    assert_eq!(store.keys_with_expired_material(8_999).await.unwrap(), Vec::<KeyLocation>::new(), "the index moved to a's ValidTo");
    assert_eq!(store.keys_with_expired_material(9_000).await.unwrap(), vec![super::east(L)]);

    // Several versions at once, in one step.
    key.import.materials.retain(|m| m.material_id == b);
    key.row_version = store.remove_key_material(&key, &[a.clone(), c.clone()]).await.unwrap();
    assert!(store.get_material(L, &a).await.unwrap().is_none() && store.get_material(L, &c).await.unwrap().is_none());
    assert_eq!(store.get_key(L, "us-east-1").await.unwrap().unwrap(), key);
}

/// A record written before keys had several materials (the current one's
/// terms in the legacy fields) is still found by its ValidTo.
async fn legacy_records_expire(store: &dyn Store) {
    let id = "e0000000-0000-4000-8000-0000000000f0";
    let mut key = external(id);
    key.state = KeyState::Enabled;
    key.current_material_id = "d3".repeat(32);
    key.import = KeyImport { expiration_model: Some("KEY_MATERIAL_EXPIRES".into()), valid_to: Some(3_000), material_description: Some("old".into()), materials: vec![] };
    store.insert_key(&key, &material(id, &key.current_material_id)).await.unwrap();
    assert_eq!(store.keys_with_expired_material(3_000).await.unwrap(), vec![super::east(id)]);
    let read = store.get_key(id, "us-east-1").await.unwrap().unwrap();
    let materials = read.imported_materials();
    assert_eq!(materials.len(), 1);
    assert_eq!((materials[0].valid_to, materials[0].imported, materials[0].description.as_deref()), (Some(3_000), true, Some("old")));
}
