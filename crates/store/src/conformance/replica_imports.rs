//! Multi-Region keys with imported material: each member imports the
//! material itself, with its own terms and expiry; the members still read
//! one sealed copy of each material (rows keyed by the id), which stays
//! while any member has it imported. The primary's materials (which exist,
//! which wait for rotation) reach its replicas, never their imports.

use crate::*;

const X: &str = "mrk-e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0";
const RACE: &str = "mrk-e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1";

pub(super) async fn run_all(store: &dyn Store) {
    each_member_imports_and_deletes_on_its_own(store).await;
    new_material_reaches_replicas_awaiting_import(store).await;
    racing_import_and_deletion_lose_nothing(store).await;
}

fn terms(id: &str, imported: bool, pending_rotation: bool, valid_to: Option<Millis>) -> ImportedMaterial {
    let model = if valid_to.is_some() { "KEY_MATERIAL_EXPIRES" } else { "KEY_MATERIAL_DOES_NOT_EXPIRE" };
    ImportedMaterial { material_id: id.to_owned(), expiration_model: model.into(), valid_to, description: None, imported, pending_rotation }
}

fn material(key_id: &str, id: &str) -> MaterialRecord {
    MaterialRecord { key_id: key_id.to_owned(), material_id: id.to_owned(), stored: vec![9; 4], created_at: 1 }
}

/// An EXTERNAL primary with material `a` imported, and its replica in
/// eu-west-1 made without it (PendingImport, `a` listed PENDING_IMPORT).
async fn set_with_material(store: &dyn Store, key_id: &str, a: &str) -> (KeyRecord, KeyRecord) {
    let (mut key, _) = super::sample_key("747474747474", key_id);
    key.origin = "EXTERNAL".into();
    key.multi_region = true;
    key.primary_region = Some("us-east-1".into());
    key.state = KeyState::PendingImport;
    key.current_material_id = String::new();
    store.insert_key_without_material(&key).await.unwrap();
    let mut key = store.get_key(key_id, "us-east-1").await.unwrap().unwrap();
    key.state = KeyState::Enabled;
    key.current_material_id = a.to_owned();
    key.import.materials = vec![terms(a, true, false, None)];
    key.row_version = store.save_imported_material(&key, &material(key_id, a)).await.unwrap();

    let mut replica = super::replica_of(&key, "eu-west-1");
    replica.state = KeyState::PendingImport;
    replica.import.materials = vec![terms(a, false, false, None)];
    store.insert_replica(&key, &replica).await.unwrap();
    (store.get_key(key_id, "us-east-1").await.unwrap().unwrap(), store.get_key(key_id, "eu-west-1").await.unwrap().unwrap())
}

async fn each_member_imports_and_deletes_on_its_own(store: &dyn Store) {
    let a = "a7".repeat(32);
    let (east, west) = set_with_material(store, X, &a).await;
    assert_eq!((west.state, west.import.materials[0].imported), (KeyState::PendingImport, false), "the replica's own import state");

    // The replica imports the same material, with its own expiry; the
    // stored copy is there already: nothing is written twice.
    let mut west_imported = west.clone();
    west_imported.state = KeyState::Enabled;
    west_imported.import.materials = vec![terms(&a, true, false, Some(100))];
    let stale = west_imported.clone();
    west_imported.row_version = store.save_imported_material(&west_imported, &material(X, &a)).await.unwrap();
    assert!(matches!(store.save_imported_material(&stale, &material(X, &a)).await, Err(StoreError::Conflict)), "compare-and-set");
    let east_now = store.get_key(X, "us-east-1").await.unwrap().unwrap();
    assert_eq!(east_now.import, east.import, "the primary's import is its own");
    // Expiry is the member's own.
    let expiring: Vec<KeyLocation> = store.keys_with_expired_material(100).await.unwrap().into_iter().filter(|l| l.key_id == X).collect();
    assert_eq!(expiring, vec![KeyLocation { key_id: X.into(), region: "eu-west-1".into() }]);

    // The primary deletes it: the replica still has it, so the copy stays.
    let mut east_deleted = east_now.clone();
    east_deleted.state = KeyState::PendingImport;
    east_deleted.import.materials = vec![terms(&a, false, false, None)];
    store.remove_key_material(&east_deleted, std::slice::from_ref(&a)).await.unwrap();
    assert!(store.get_material(X, &a).await.unwrap().is_some(), "a member still uses it");
    let west_now = store.get_key(X, "eu-west-1").await.unwrap().unwrap();
    assert_eq!((west_now.state, west_now.import.materials.clone()), (KeyState::Enabled, west_imported.import.materials.clone()), "the replica is untouched");

    // Then the replica deletes (or expires) it: no member has it, it goes.
    let mut west_deleted = west_now.clone();
    west_deleted.state = KeyState::PendingImport;
    west_deleted.import.materials = vec![terms(&a, false, false, None)];
    west_deleted.row_version = store.remove_key_material(&west_deleted, std::slice::from_ref(&a)).await.unwrap();
    assert!(store.get_material(X, &a).await.unwrap().is_none(), "deleted with the last member that had it");

    // A re-import writes it again.
    let mut again = west_deleted.clone();
    again.state = KeyState::Enabled;
    again.import.materials = vec![terms(&a, true, false, None)];
    store.save_imported_material(&again, &material(X, &a)).await.unwrap();
    assert!(store.get_material(X, &a).await.unwrap().is_some());
}

/// New material imported into the primary for a rotation is listed on
/// each replica PENDING_IMPORT; deleting it on the primary deletes it on
/// the replicas (AWS); the rotation reaches the replicas, and a replica
/// without the new material then waits in PendingImport.
async fn new_material_reaches_replicas_awaiting_import(store: &dyn Store) {
    let (a, b, c) = ("b1".repeat(32), "b2".repeat(32), "b3".repeat(32));
    let key_id = "mrk-e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2";
    let (east, west) = set_with_material(store, key_id, &a).await;
    let mut west = west;
    west.state = KeyState::Enabled;
    west.import.materials = vec![terms(&a, true, false, None)];
    store.save_imported_material(&west, &material(key_id, &a)).await.unwrap();

    // b waits for rotation on the primary: the replica lists it, not imported.
    let mut east_b = east.clone();
    east_b.import.materials.push(terms(&b, true, true, None));
    east_b.row_version = store.save_imported_material(&east_b, &material(key_id, &b)).await.unwrap();
    let west_b = store.get_key(key_id, "eu-west-1").await.unwrap().unwrap();
    assert_eq!(west_b.import.materials, vec![terms(&a, true, false, None), ImportedMaterial { expiration_model: "KEY_MATERIAL_DOES_NOT_EXPIRE".into(), ..terms(&b, false, true, None) }]);
    assert_eq!(west_b.state, KeyState::Enabled, "material pending rotation is not part of the key yet");

    // The primary forgets b: so does the replica, and b's copy goes.
    let mut east_forgot = east_b.clone();
    east_forgot.import.materials.retain(|m| m.material_id != b);
    east_forgot.row_version = store.remove_key_material(&east_forgot, std::slice::from_ref(&b)).await.unwrap();
    assert_eq!(store.get_key(key_id, "eu-west-1").await.unwrap().unwrap().import.materials, vec![terms(&a, true, false, None)]);
    assert!(store.get_material(key_id, &b).await.unwrap().is_none());

    // c: imported into both, then the primary rotates to it.
    let mut east_c = east_forgot.clone();
    east_c.import.materials.push(terms(&c, true, true, None));
    east_c.row_version = store.save_imported_material(&east_c, &material(key_id, &c)).await.unwrap();
    let mut west_c = store.get_key(key_id, "eu-west-1").await.unwrap().unwrap();
    west_c.import.materials[1].imported = true;
    store.save_imported_material(&west_c, &material(key_id, &c)).await.unwrap();
    let mut rotated = east_c.clone();
    rotated.current_material_id = c.clone();
    rotated.import.materials[1].pending_rotation = false;
    rotated.row_version = store.update_key(&rotated).await.unwrap();
    let west_rotated = store.get_key(key_id, "eu-west-1").await.unwrap().unwrap();
    assert_eq!((west_rotated.state, west_rotated.current_material_id.as_str()), (KeyState::Enabled, c.as_str()));
    assert!(west_rotated.import.materials.iter().all(|m| m.imported && !m.pending_rotation));

    // A rotation to material the replica lacks leaves it waiting for it.
    let d = "b4".repeat(32);
    let mut east_d = rotated.clone();
    east_d.import.materials.push(terms(&d, true, true, None));
    east_d.row_version = store.save_imported_material(&east_d, &material(key_id, &d)).await.unwrap();
    east_d.current_material_id = d.clone();
    east_d.import.materials[2].pending_rotation = false;
    store.update_key(&east_d).await.unwrap();
    assert_eq!(store.get_key(key_id, "eu-west-1").await.unwrap().unwrap().state, KeyState::PendingImport);
}

/// One member deletes a material while another imports it, many times at
/// once: whichever commits first, a member that says it has the material
/// always finds its stored copy.
async fn racing_import_and_deletion_lose_nothing(store: &dyn Store) {
    let a = "c1".repeat(32);
    let (east, _) = set_with_material(store, RACE, &a).await;
    let mut east = east;
    for round in 0..6 {
        let west = store.get_key(RACE, "eu-west-1").await.unwrap().unwrap();
        let mut west_imported = west.clone();
        west_imported.state = KeyState::Enabled;
        west_imported.import.materials = vec![terms(&a, true, false, None)];
        let mut east_deleted = east.clone();
        east_deleted.state = KeyState::PendingImport;
        east_deleted.import.materials = vec![terms(&a, false, false, None)];
        let m = material(RACE, &a);
        let (imported, removed) = futures_util::future::join(store.save_imported_material(&west_imported, &m), store.remove_key_material(&east_deleted, std::slice::from_ref(&a))).await;
        imported.unwrap_or_else(|e| panic!("round {round}: import: {e:?}"));
        removed.unwrap_or_else(|e| panic!("round {round}: removal: {e:?}"));
        assert!(store.get_material(RACE, &a).await.unwrap().is_some(), "round {round}: the replica has it imported, so its copy is there");

        // Reset: the replica deletes it, the primary imports it again.
        let mut west_deleted = store.get_key(RACE, "eu-west-1").await.unwrap().unwrap();
        west_deleted.state = KeyState::PendingImport;
        west_deleted.import.materials = vec![terms(&a, false, false, None)];
        store.remove_key_material(&west_deleted, std::slice::from_ref(&a)).await.unwrap();
        assert!(store.get_material(RACE, &a).await.unwrap().is_none());
        east = store.get_key(RACE, "us-east-1").await.unwrap().unwrap();
        east.state = KeyState::Enabled;
        east.import.materials = vec![terms(&a, true, false, None)];
        east.row_version = store.save_imported_material(&east, &m).await.unwrap();
    }
}
