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

/// `CustomerMasterKeySpec`, the deprecated mirror of `KeySpec` (in
/// KeyMetadata and GetPublicKey's answer): the key's spec where the model's
/// `CustomerMasterKeySpec` enum has it, and absent otherwise. That enum
/// stopped growing when the member was deprecated, so keys of later specs
/// (ECC_NIST_EDWARDS25519, ML_DSA_*, ML_KEM_*) have `KeySpec` only.
pub fn customer_master_key_spec(key_spec: &str) -> Option<&str> {
    trent_model::enum_has("CustomerMasterKeySpec", key_spec).then_some(key_spec)
}

/// `CurrentKeyMaterialId`, which AWS shows "for symmetric encryption keys
/// with `AWS_KMS` or `EXTERNAL` origin" (the model's KeyMetadata docs): the
/// keys that rotate and so can hold several materials. Never for HMAC or
/// asymmetric keys, nor for keys in custom key stores; and a key awaiting
/// its imported material has none yet.
pub fn current_key_material_id(key: &KeyRecord) -> Option<&str> {
    let symmetric_encryption = key.key_spec == KeySpec::SymmetricDefault.as_str() && key.key_usage == KeyUsage::EncryptDecrypt.as_str();
    let origin = matches!(key.origin.as_str(), "AWS_KMS" | "EXTERNAL");
    (symmetric_encryption && origin && !key.current_material_id.is_empty()).then_some(key.current_material_id.as_str())
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
    if let Some(id) = &key.custom_key_store_id {
        m.insert("CustomKeyStoreId".into(), json!(id));
    }
    if let Some(xks_key_id) = &key.xks_key_id {
        m.insert("XksKeyConfiguration".into(), json!({ "Id": xks_key_id }));
    }
    m.insert("KeyManager".into(), json!(key.key_manager.as_str()));
    if let Some(spec) = customer_master_key_spec(&key.key_spec) {
        m.insert("CustomerMasterKeySpec".into(), json!(spec));
    }
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
    if let Some(configuration) = crate::keys::multi_region::configuration(key, &[]) {
        m.insert("MultiRegionConfiguration".into(), configuration);
    }
    if let Some(material) = current_key_material_id(key) {
        m.insert("CurrentKeyMaterialId".into(), json!(material));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key of `spec` and `usage` from `origin`, with material.
    fn key(spec: &str, usage: &str, origin: &str) -> KeyRecord {
        let (mut key, _) = trent_store::conformance::sample_key("111122223333", "d0000000-0000-4000-8000-00000000000d");
        (key.key_spec, key.key_usage, key.origin) = (spec.into(), usage.into(), origin.into());
        key
    }

    /// Every spec Trent creates, with one usage it allows, and whether AWS's
    /// `CustomerMasterKeySpec` (the deprecated mirror of `KeySpec`) has it.
    const SPECS: [(&str, &str, bool); 20] = [
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", true),
        ("HMAC_224", "GENERATE_VERIFY_MAC", true),
        ("HMAC_256", "GENERATE_VERIFY_MAC", true),
        ("HMAC_384", "GENERATE_VERIFY_MAC", true),
        ("HMAC_512", "GENERATE_VERIFY_MAC", true),
        ("RSA_2048", "ENCRYPT_DECRYPT", true),
        ("RSA_3072", "SIGN_VERIFY", true),
        ("RSA_4096", "SIGN_VERIFY", true),
        ("ECC_NIST_P256", "SIGN_VERIFY", true),
        ("ECC_NIST_P384", "KEY_AGREEMENT", true),
        ("ECC_NIST_P521", "SIGN_VERIFY", true),
        ("ECC_SECG_P256K1", "SIGN_VERIFY", true),
        ("SM2", "ENCRYPT_DECRYPT", true),
        ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", false),
        ("ML_DSA_44", "SIGN_VERIFY", false),
        ("ML_DSA_65", "SIGN_VERIFY", false),
        ("ML_DSA_87", "SIGN_VERIFY", false),
        ("ML_KEM_512", "ENCAPSULATE_DECAPSULATE", false),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE", false),
        ("ML_KEM_1024", "ENCAPSULATE_DECAPSULATE", false),
    ];

    #[test]
    fn the_deprecated_spec_is_shown_only_where_its_enum_has_the_key_spec() {
        assert_eq!(SPECS.len(), KeySpec::ALL.len(), "every spec in the table");
        for (spec, usage, mirrored) in SPECS {
            let m = key_metadata(&key(spec, usage, "AWS_KMS"));
            assert_eq!(m["KeySpec"], spec);
            let expected = if mirrored { json!(spec) } else { Value::Null };
            assert_eq!(m.get("CustomerMasterKeySpec").cloned().unwrap_or(Value::Null), expected, "{spec}");
        }
    }

    #[test]
    fn current_key_material_id_is_shown_only_for_symmetric_encryption_keys_with_material() {
        let material = "ab".repeat(32);
        let mut cases: Vec<(KeyRecord, bool)> = Vec::new();
        for (spec, usage, _) in SPECS {
            for origin in ["AWS_KMS", "EXTERNAL"] {
                cases.push((key(spec, usage, origin), spec == "SYMMETRIC_DEFAULT"));
            }
            // Keys in custom key stores have none (Trent makes none, but the rule says so).
            for origin in ["AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"] {
                cases.push((key(spec, usage, origin), false));
            }
        }
        // A key awaiting its imported material has none yet.
        let mut pending = key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "EXTERNAL");
        (pending.state, pending.current_material_id) = (KeyState::PendingImport, String::new());
        cases.push((pending, false));
        let mut multi_region = key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "EXTERNAL");
        multi_region.multi_region = true;
        cases.push((multi_region, true));
        for (key, shown) in cases {
            let m = key_metadata(&key);
            let expected = if shown { json!(material) } else { Value::Null };
            assert_eq!(m.get("CurrentKeyMaterialId").cloned().unwrap_or(Value::Null), expected, "{} {} {:?}", key.key_spec, key.origin, key.state);
        }
    }
}
