//! A key record written as the API's `KeyMetadata` structure.

use serde_json::{json, Map, Value};
use trent_store::{KeyRecord, KeyState};

use crate::clock::epoch_seconds;

pub fn key_metadata(key: &KeyRecord) -> Value {
    let mut m = Map::new();
    m.insert("AWSAccountId".into(), json!(key.account_id));
    m.insert("KeyId".into(), json!(key.key_id));
    m.insert("Arn".into(), json!(key.arn));
    m.insert("CreationDate".into(), epoch_seconds(key.created_at));
    m.insert("Enabled".into(), json!(key.state == KeyState::Enabled));
    m.insert("Description".into(), json!(key.description));
    m.insert("KeyUsage".into(), json!(key.key_usage));
    m.insert("KeyState".into(), json!(key.state.as_str()));
    if let Some(date) = key.deletion_date {
        m.insert("DeletionDate".into(), epoch_seconds(date));
    }
    // Only a multi-Region primary waiting for its replicas shows its window
    // here; a key pending deletion shows its DeletionDate instead.
    if let Some(days) = key.pending_window_days {
        if key.state == KeyState::PendingReplicaDeletion {
            m.insert("PendingDeletionWindowInDays".into(), json!(days));
        }
    }
    m.insert("Origin".into(), json!(key.origin));
    m.insert("KeyManager".into(), json!("CUSTOMER"));
    m.insert("CustomerMasterKeySpec".into(), json!(key.key_spec));
    m.insert("KeySpec".into(), json!(key.key_spec));
    if key.key_usage == "ENCRYPT_DECRYPT" && key.key_spec == "SYMMETRIC_DEFAULT" {
        m.insert("EncryptionAlgorithms".into(), json!(["SYMMETRIC_DEFAULT"]));
    }
    if let Some(model) = &key.import.expiration_model {
        m.insert("ExpirationModel".into(), json!(model));
    }
    if let Some(valid_to) = key.import.valid_to {
        m.insert("ValidTo".into(), epoch_seconds(valid_to));
    }
    m.insert("MultiRegion".into(), json!(key.multi_region));
    // A key awaiting imported material has none yet.
    if !key.current_material_id.is_empty() {
        m.insert("CurrentKeyMaterialId".into(), json!(key.current_material_id));
    }
    Value::Object(m)
}
