//! A key record written as the API's `KeyMetadata` structure.

use serde_json::{json, Map, Value};
use trent_crypto::keytypes::{KeySpec, KeyUsage};
use trent_store::{KeyRecord, KeyState};

use crate::clock::epoch_seconds;

/// The algorithm lists a key's metadata (and GetPublicKey) shows, each only
/// where the key's spec and usage have algorithms of that kind, as AWS does.
pub fn algorithm_fields(key: &KeyRecord) -> Vec<(&'static str, Vec<&'static str>)> {
    let (Some(spec), Some(usage)) = (KeySpec::parse(&key.key_spec), KeyUsage::parse(&key.key_usage)) else {
        return Vec::new();
    };
    let lists = [
        ("EncryptionAlgorithms", spec.encryption_algorithms(usage).iter().map(|a| a.as_str()).collect::<Vec<_>>()),
        ("SigningAlgorithms", spec.signing_algorithms(usage).iter().map(|a| a.as_str()).collect()),
        ("MacAlgorithms", spec.mac_algorithm().filter(|_| usage == KeyUsage::GenerateVerifyMac).into_iter().collect()),
        ("KeyAgreementAlgorithms", spec.key_agreement_algorithms(usage).to_vec()),
        ("EncapsulationAlgorithms", spec.encapsulation_algorithms(usage).to_vec()),
    ];
    lists.into_iter().filter(|(_, list)| !list.is_empty()).collect()
}

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
    m.insert("KeyManager".into(), json!(key.key_manager.as_str()));
    m.insert("CustomerMasterKeySpec".into(), json!(key.key_spec));
    m.insert("KeySpec".into(), json!(key.key_spec));
    for (field, algorithms) in algorithm_fields(key) {
        m.insert(field.into(), json!(algorithms));
    }
    // The current material's terms, while it is imported.
    if let Some(current) = key.imported_materials().into_iter().find(|m| m.material_id == key.current_material_id && m.imported) {
        m.insert("ExpirationModel".into(), json!(current.expiration_model));
        if let Some(valid_to) = current.valid_to {
            m.insert("ValidTo".into(), epoch_seconds(valid_to));
        }
    }
    m.insert("MultiRegion".into(), json!(key.multi_region));
    // A key awaiting imported material has none yet.
    if !key.current_material_id.is_empty() {
        m.insert("CurrentKeyMaterialId".into(), json!(key.current_material_id));
    }
    Value::Object(m)
}
