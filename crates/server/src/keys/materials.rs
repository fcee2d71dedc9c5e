//! The imported materials of an EXTERNAL key and AWS's rules for them, as
//! pure functions over the key record (callers save the result with a
//! compare-and-set on `row_version`):
//!
//! - The first material imported becomes current. A symmetric key may take
//!   new material (`ImportType=NEW_KEY_MATERIAL`) for an on-demand rotation:
//!   it waits as PENDING_ROTATION, one at a time, and is not yet part of the
//!   key; `RotateKeyOnDemand` makes it current. Asymmetric and HMAC keys
//!   keep their first material for life.
//! - Deleting or expiring a material that is part of the key (current or
//!   an older one) leaves it listed as PENDING_IMPORT and the key waiting in
//!   PendingImport until the same material is imported again; pending
//!   material is simply forgotten, and different material may take its place.

use trent_store::{ImportedMaterial, KeyImport, KeyRecord, KeyState, Millis, Rotation, RotationType};

use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub const NEW: &str = "NEW_KEY_MATERIAL";
pub const EXISTING: &str = "EXISTING_KEY_MATERIAL";

/// What an import asks for besides the material itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRequest {
    pub material_id: String,
    pub expiration_model: String,
    pub valid_to: Option<Millis>,
    pub description: Option<String>,
    pub import_type: Option<String>,
    /// `KeyMaterialId` as the caller named it.
    pub named_id: Option<String>,
}

/// The material waiting for an on-demand rotation, if any.
pub fn pending(key: &KeyRecord) -> Option<ImportedMaterial> {
    key.imported_materials().into_iter().find(|m| m.pending_rotation)
}

/// Whether `material_id` waits for a rotation: not part of the key yet, so
/// nothing made with it is accepted (only Trent's own records are read: a
/// legacy record has no pending material).
pub fn is_pending(key: &KeyRecord, material_id: &str) -> bool {
    key.import.materials.iter().any(|m| m.pending_rotation && m.material_id == material_id)
}

/// The key with the material imported as `req` asks, or AWS's error.
pub fn with_import(key: &KeyRecord, req: &ImportRequest) -> Result<KeyRecord, KmsError> {
    let mut materials = key.imported_materials();
    let had = !materials.is_empty();
    let import_type = req.import_type.as_deref().unwrap_or(if had { EXISTING } else { NEW });
    // A replica takes only material its primary has (listed on it since
    // ReplicateKey, or since the primary's import): new material goes into
    // the primary first (AWS).
    if key.is_replica() && import_type == NEW {
        return Err(Error::NewMaterialIntoReplica { arn: key.arn.clone() }.into());
    }
    if import_type == NEW && req.named_id.is_some() {
        return Err(Error::KeyMaterialIdWithNew.into());
    }
    if req.named_id.as_deref().is_some_and(|named| named != req.material_id) {
        return Err(Error::KeyMaterialMismatch.into());
    }
    let known = materials.iter().position(|m| m.material_id == req.material_id);
    let terms = ImportedMaterial {
        material_id: req.material_id.clone(),
        expiration_model: req.expiration_model.clone(),
        valid_to: req.valid_to,
        description: req.description.clone(),
        imported: true,
        pending_rotation: false,
    };
    let mut next = key.clone();
    match (import_type, known) {
        (NEW, Some(_)) => {
            return Err(Error::KeyMaterialAlreadyImported { arn: key.arn.clone(), material: req.material_id.clone() }.into())
        }
        (NEW, None) if !had => {
            next.current_material_id = req.material_id.clone();
            materials.push(terms);
        }
        (NEW, None) => {
            if let Some(waiting) = materials.iter().find(|m| m.pending_rotation) {
                return Err(Error::KeyMaterialPendingRotation { arn: key.arn.clone(), material: waiting.material_id.clone() }.into());
            }
            materials.push(ImportedMaterial { pending_rotation: true, ..terms });
        }
        (_, None) if !had => {
            return Err(Error::NoKeyMaterialToReimport { arn: key.arn.clone() }.into())
        }
        (_, None) => {
            return Err(Error::NotPreviousKeyMaterial { arn: key.arn.clone() }.into())
        }
        (_, Some(i)) => {
            // Re-import: new terms; the description stays unless a new one is given (AWS).
            let old = &materials[i];
            let description = req.description.clone().or_else(|| old.description.clone());
            materials[i] = ImportedMaterial { description, pending_rotation: old.pending_rotation, ..terms };
        }
    }
    if next.state == KeyState::PendingImport && materials.iter().all(|m| m.imported || m.pending_rotation) {
        next.state = KeyState::Enabled;
    }
    next.import = KeyImport { materials, ..KeyImport::default() };
    Ok(next)
}

/// The key without the named materials (deleted or expired).
pub fn without(key: &KeyRecord, ids: &[String]) -> KeyRecord {
    let mut next = key.clone();
    let mut materials = key.imported_materials();
    let part_of_key_removed = materials.iter().any(|m| ids.contains(&m.material_id) && !m.pending_rotation);
    // A replica keeps listing its primary's pending material, to import again.
    if !key.is_replica() {
        materials.retain(|m| !(m.pending_rotation && ids.contains(&m.material_id)));
    }
    for m in materials.iter_mut().filter(|m| ids.contains(&m.material_id)) {
        m.imported = false;
    }
    if part_of_key_removed && next.state != KeyState::PendingDeletion {
        next.state = KeyState::PendingImport;
    }
    next.import = KeyImport { materials, ..KeyImport::default() };
    next
}

/// Ids of the key's imported materials whose ValidTo is at or before `now`.
pub fn expired(key: &KeyRecord, now: Millis) -> Vec<String> {
    key.imported_materials().into_iter().filter(|m| m.imported && m.valid_to.is_some_and(|t| t <= now)).map(|m| m.material_id).collect()
}

/// On-demand rotation of a key with imported material: the pending
/// material becomes current; the one it replaces still decrypts.
pub fn rotated_to_pending(key: &KeyRecord, now: Millis) -> Result<KeyRecord, KmsError> {
    let Some(waiting) = pending(key) else {
        return Err(Error::NoPendingKeyMaterial { arn: key.arn.clone() }.into());
    };
    // A primary that was a replica (UpdatePrimaryRegion) may list pending
    // material it never imported: it cannot become current here.
    if !waiting.imported {
        return Err(Error::PendingMaterialNotInMembers { arn: key.arn.clone(), material: waiting.material_id, regions: key.region.clone() }.into());
    }
    let mut next = key.clone();
    let mut materials = key.imported_materials();
    for m in materials.iter_mut().filter(|m| m.material_id == waiting.material_id) {
        m.pending_rotation = false;
    }
    next.import = KeyImport { materials, ..KeyImport::default() };
    next.rotation.initial_material_id.get_or_insert_with(|| key.current_material_id.clone());
    next.rotation.history.push(Rotation { material_id: waiting.material_id.clone(), rotated_at: now, kind: RotationType::OnDemand });
    next.current_material_id = waiting.material_id;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::ErrorCode;

    fn key() -> KeyRecord {
        let (mut key, _) = trent_store::conformance::sample_key("111122223333", "0f000000-0000-4000-8000-0000000000f0");
        key.origin = "EXTERNAL".into();
        key.state = KeyState::PendingImport;
        key.current_material_id = String::new();
        key
    }

    fn req(id: &str, import_type: Option<&str>) -> ImportRequest {
        ImportRequest {
            material_id: id.repeat(32),
            expiration_model: "KEY_MATERIAL_DOES_NOT_EXPIRE".into(),
            valid_to: None,
            description: None,
            import_type: import_type.map(Into::into),
            named_id: None,
        }
    }

    fn states(key: &KeyRecord) -> Vec<(String, bool, bool)> {
        key.imported_materials().into_iter().map(|m| (m.material_id[..2].to_owned(), m.imported, m.pending_rotation)).collect()
    }

    #[test]
    fn new_material_waits_for_rotation_one_at_a_time() {
        let a = with_import(&key(), &req("aa", None)).unwrap();
        assert_eq!((a.state, a.current_material_id.as_str()), (KeyState::Enabled, "aa".repeat(32).as_str()));
        // Without ImportType, a key that has material expects the same again.
        assert_eq!(with_import(&a, &req("bb", None)).unwrap_err().code, ErrorCode::IncorrectKeyMaterial);
        assert_eq!(with_import(&a, &req("aa", Some(NEW))).unwrap_err().code, ErrorCode::IncorrectKeyMaterial);
        let b = with_import(&a, &req("bb", Some(NEW))).unwrap();
        assert_eq!(b.current_material_id, "aa".repeat(32), "new material is not current before the rotation");
        assert_eq!(states(&b), vec![("aa".into(), true, false), ("bb".into(), true, true)]);
        assert_eq!(with_import(&b, &req("cc", Some(NEW))).unwrap_err().code, ErrorCode::KmsInvalidState);
        assert!(is_pending(&b, &"bb".repeat(32)) && !is_pending(&b, &"aa".repeat(32)));

        let rotated = rotated_to_pending(&b, 5).unwrap();
        assert_eq!(rotated.current_material_id, "bb".repeat(32));
        assert_eq!(rotated.rotation.initial_material_id, Some("aa".repeat(32)));
        assert_eq!(rotated.rotation.history, vec![Rotation { material_id: "bb".repeat(32), rotated_at: 5, kind: RotationType::OnDemand }]);
        assert_eq!(rotated_to_pending(&rotated, 6).unwrap_err().code, ErrorCode::KmsInvalidState);
        assert!(!is_pending(&rotated, &"bb".repeat(32)));
        assert!(with_import(&rotated, &req("cc", Some(NEW))).is_ok(), "after the rotation another may wait");
    }

    #[test]
    fn a_named_material_must_be_the_one_imported() {
        let a = with_import(&key(), &req("aa", None)).unwrap();
        let mut named = req("aa", Some(EXISTING));
        named.named_id = Some("bb".repeat(32));
        assert_eq!(with_import(&a, &named).unwrap_err().code, ErrorCode::IncorrectKeyMaterial);
        named.named_id = Some("aa".repeat(32));
        assert!(with_import(&a, &named).is_ok());
        let mut new_named = req("bb", Some(NEW));
        new_named.named_id = Some("bb".repeat(32));
        assert_eq!(with_import(&a, &new_named).unwrap_err().code, ErrorCode::Validation);
        assert_eq!(with_import(&key(), &req("aa", Some(EXISTING))).unwrap_err().code, ErrorCode::IncorrectKeyMaterial);
    }

    #[test]
    fn deleting_material_of_the_key_waits_for_all_of_it_again() {
        let a = with_import(&key(), &req("aa", None)).unwrap();
        let rotated = rotated_to_pending(&with_import(&a, &req("bb", Some(NEW))).unwrap(), 1).unwrap();
        let gone = without(&rotated, &["aa".repeat(32)]);
        assert_eq!(gone.state, KeyState::PendingImport);
        assert_eq!(states(&gone), vec![("aa".into(), false, false), ("bb".into(), true, false)]);
        assert_eq!(with_import(&gone, &req("cc", None)).unwrap_err().code, ErrorCode::IncorrectKeyMaterial);
        let back = with_import(&gone, &req("aa", Some(EXISTING))).unwrap();
        assert_eq!((back.state, back.current_material_id.clone()), (KeyState::Enabled, "bb".repeat(32)));

        // Both gone: one re-import is not enough.
        let both = without(&rotated, &["aa".repeat(32), "bb".repeat(32)]);
        let one = with_import(&both, &req("bb", None)).unwrap();
        assert_eq!(one.state, KeyState::PendingImport);
        assert_eq!(with_import(&one, &req("aa", None)).unwrap().state, KeyState::Enabled);
    }

    /// A replica listing its primary's materials (as ReplicateKey and the
    /// store's sharing make it): only those, and never new material.
    fn replica_listing(ids: &[(&str, bool)]) -> KeyRecord {
        let mut r = key();
        r.multi_region = true;
        r.region = "eu-west-1".into();
        r.primary_region = Some("us-east-1".into());
        r.current_material_id = ids[0].0.repeat(32);
        r.import.materials = ids.iter().map(|(id, pending)| ImportedMaterial { imported: false, pending_rotation: *pending, ..req_terms(id) }).collect();
        r
    }

    fn req_terms(id: &str) -> ImportedMaterial {
        ImportedMaterial { material_id: id.repeat(32), expiration_model: "KEY_MATERIAL_DOES_NOT_EXPIRE".into(), valid_to: None, description: None, imported: true, pending_rotation: false }
    }

    #[test]
    fn a_replica_takes_only_its_primarys_material() {
        let replica = replica_listing(&[("aa", false), ("bb", true)]);
        assert_eq!(with_import(&replica, &req("cc", None)).unwrap_err().code, ErrorCode::IncorrectKeyMaterial, "other material");
        assert_eq!(with_import(&replica, &req("cc", Some(NEW))).unwrap_err().code, ErrorCode::UnsupportedOperation, "new material");
        assert_eq!(with_import(&replica, &req("bb", Some(NEW))).unwrap_err().code, ErrorCode::UnsupportedOperation);
        let a = with_import(&replica, &req("aa", None)).unwrap();
        assert_eq!(a.state, KeyState::Enabled);
        let b = with_import(&a, &req("bb", Some(EXISTING))).unwrap();
        assert_eq!(states(&b), vec![("aa".into(), true, false), ("bb".into(), true, true)]);
        // Deleting its copy of pending material: still listed, to import again.
        let dropped = without(&b, &["bb".repeat(32)]);
        assert_eq!((dropped.state, states(&dropped)), (KeyState::Enabled, vec![("aa".into(), true, false), ("bb".into(), false, true)]));
        assert!(with_import(&dropped, &req("bb", None)).is_ok());
        // Pending material a key never imported cannot become current.
        assert_eq!(rotated_to_pending(&dropped, 1).unwrap_err().code, ErrorCode::KmsInvalidState);
    }

    #[test]
    fn pending_material_is_forgotten_without_touching_the_key() {
        let a = with_import(&key(), &req("aa", None)).unwrap();
        let b = with_import(&a, &req("bb", Some(NEW))).unwrap();
        let dropped = without(&b, &["bb".repeat(32)]);
        assert_eq!(dropped.state, KeyState::Enabled);
        assert_eq!(states(&dropped), vec![("aa".into(), true, false)]);
        assert!(with_import(&dropped, &req("cc", Some(NEW))).is_ok());
        let mut pending_deletion = a.clone();
        pending_deletion.state = KeyState::PendingDeletion;
        assert_eq!(without(&pending_deletion, &["aa".repeat(32)]).state, KeyState::PendingDeletion);
    }

    #[test]
    fn each_material_expires_on_its_own_date() {
        let mut first = req("aa", None);
        first.valid_to = Some(100);
        first.expiration_model = "KEY_MATERIAL_EXPIRES".into();
        let a = with_import(&key(), &first).unwrap();
        let mut second = req("bb", Some(NEW));
        second.valid_to = Some(50);
        let b = with_import(&a, &second).unwrap();
        assert!(expired(&b, 49).is_empty());
        assert_eq!(expired(&b, 50), vec!["bb".repeat(32)]);
        assert_eq!(expired(&b, 100), vec!["aa".repeat(32), "bb".repeat(32)]);
        assert_eq!(b.next_material_expiry(), Some(50));
        // The description of a re-import stays unless a new one is given.
        let mut described = req("aa", None);
        described.description = Some("v1".into());
        let d = with_import(&a, &described).unwrap();
        let again = with_import(&d, &req("aa", None)).unwrap();
        assert_eq!(again.imported_materials()[0].description.as_deref(), Some("v1"));
        assert_eq!(again.next_material_expiry(), None, "re-imported without expiry");
    }
}
