//! ListKeyRotations: a key's rotations, oldest first, paged; with
//! IncludeKeyMaterial=ALL_KEY_MATERIAL also the material it was created with.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{decode_marker, input, limit, page, with_paging, Listing};
use crate::authz::{self, Aliases};
use crate::clock::epoch_seconds;
use crate::keys::rotation::check_rotatable;
use crate::keys::state;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Input {
    key_id: String,
    include_key_material: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

pub async fn handle(ctx: &Ctx, body: Value) -> Result<Value, KmsError> {
    let req: Input = input(body)?;
    let key = authz::key(ctx, &req.key_id, "kms:ListKeyRotations", Aliases::Rejected).await?;
    if key.origin == "AWS_KMS" {
        check_rotatable(&key)?;
    }
    state::not_pending_deletion(&key)?;

    let state_of = |material_id: &str| if material_id == key.current_material_id { "CURRENT" } else { "NON_CURRENT" };
    // (material id, entry): the id is what a page marker continues after.
    let mut entries: Vec<(String, Value)> = Vec::new();
    if req.include_key_material.as_deref() == Some("ALL_KEY_MATERIAL") {
        let initial = key.rotation.initial_material_id.clone().unwrap_or_else(|| key.current_material_id.clone());
        // A key awaiting its first import has no material to list.
        if !initial.is_empty() {
            entries.push((initial.clone(), json!({ "KeyId": key.key_id, "KeyMaterialId": initial, "KeyMaterialState": state_of(&initial) })));
        }
    }
    for r in &key.rotation.history {
        let entry = json!({
            "KeyId": key.key_id,
            "KeyMaterialId": r.material_id,
            "KeyMaterialState": state_of(&r.material_id),
            "RotationDate": epoch_seconds(r.rotated_at),
            "RotationType": r.kind.as_str(),
        });
        entries.push((r.material_id.clone(), entry));
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
