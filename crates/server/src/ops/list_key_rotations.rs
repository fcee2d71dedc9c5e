//! ListKeyRotations: a key's rotations, oldest first, paged; with
//! IncludeKeyMaterial=ALL_KEY_MATERIAL also the material it was created with
//! (or first imported) and imported material pending rotation. Entries of a
//! symmetric key with imported material carry each material's ImportState,
//! ExpirationModel, ValidTo and KeyMaterialDescription. On a multi-Region
//! primary, pending material that a replica has not imported yet is
//! PENDING_MULTI_REGION_IMPORT_AND_ROTATION.

use serde_json::{json, Map, Value};
use trent_model::input::ListKeyRotationsRequest;

use super::{decode_marker, limit, page, with_paging, Listing};
use crate::authz::Authorized;
use trent_store::KeyRecord;
use crate::clock::epoch_seconds;
use crate::keys::OpCtx;
use crate::keys::rotation::check_rotatable;
use crate::keys::state;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: ListKeyRotationsRequest, key: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    if key.origin == "AWS_KMS" {
        check_rotatable(&key)?;
    }
    state::not_pending_deletion(&key)?;

    // Symmetric keys with imported material also show each material's import terms.
    let imported = if key.key_spec == "SYMMETRIC_DEFAULT" { key.imported_materials() } else { Vec::new() };
    let pending = imported.iter().find(|m| m.pending_rotation).map(|m| m.material_id.clone());
    // On a multi-Region primary, pending material some replica lacks.
    let replicas_lack_it = match &pending {
        Some(id) => !crate::keys::multi_region::replicas_lacking(ctx, &key, id).await?.is_empty(),
        None => false,
    };
    let pending_state = if replicas_lack_it { "PENDING_MULTI_REGION_IMPORT_AND_ROTATION" } else { "PENDING_ROTATION" };
    let entry = |material_id: &str| {
        let state = match material_id {
            id if id == key.current_material_id => "CURRENT",
            id if Some(id) == pending.as_deref() => pending_state,
            _ => "NON_CURRENT",
        };
        let mut e = json!({ "KeyId": key.key_id, "KeyMaterialId": material_id, "KeyMaterialState": state });
        if let Some(m) = imported.iter().find(|m| m.material_id == material_id) {
            e["ImportState"] = json!(if m.imported { "IMPORTED" } else { "PENDING_IMPORT" });
            e["ExpirationModel"] = json!(m.expiration_model);
            if let Some(valid_to) = m.valid_to {
                e["ValidTo"] = epoch_seconds(valid_to);
            }
            if let Some(description) = &m.description {
                e["KeyMaterialDescription"] = json!(description);
            }
        }
        e
    };
    // (material id, entry): the id is what a page marker continues after.
    let mut entries: Vec<(String, Value)> = Vec::new();
    let all = req.include_key_material.as_deref() == Some("ALL_KEY_MATERIAL");
    if all {
        let initial = key.rotation.initial_material_id.clone().unwrap_or_else(|| key.current_material_id.clone());
        // A key awaiting its first import has no material to list.
        if !initial.is_empty() {
            entries.push((initial.clone(), entry(&initial)));
        }
    }
    for r in &key.rotation.history {
        let mut e = entry(&r.material_id);
        e["RotationDate"] = epoch_seconds(r.rotated_at);
        e["RotationType"] = json!(r.kind.as_str());
        entries.push((r.material_id.clone(), e));
    }
    if let (true, Some(id)) = (all, &pending) {
        entries.push((id.clone(), entry(id)));
    }

    if let Some(after) = decode_marker(Listing::Rotations, req.marker.as_deref())? {
        let position = entries.iter().position(|(id, _)| *id == after).ok_or_else(super::invalid_marker)?;
        entries.drain(..=position);
    }
    let limit = limit(req.limit, 100, 1000);
    let (entries, marker) = page(Listing::Rotations, entries, limit, |(id, _)| id);
    let mut body = Map::new();
    body.insert("Rotations".into(), Value::Array(entries.into_iter().map(|(_, e)| e).collect()));
    Ok(with_paging(body, marker))
}
