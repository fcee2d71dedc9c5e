//! Multi-Region keys: a key created with `MultiRegion=true` has an `mrk-`
//! id and is the primary of its set. Trent has no replicas yet (issue 20:
//! ReplicateKey is the next step), so every multi-Region key is a primary
//! whose replica list is empty.

use serde_json::{json, Value};
use trent_store::KeyRecord;
use uuid::Uuid;

use crate::keys::reference::multi_region_id;
use crate::protocol::error::KmsError;

/// A new multi-Region key id (`mrk-` and 32 random hex digits, AWS's form)
/// and the 16 bytes it stands for (`reference::key_id_bytes`).
pub fn new_id() -> Result<(Uuid, String), KmsError> {
    let bytes: [u8; 16] = trent_crypto::random_bytes(16)?.try_into().map_err(|_| KmsError::internal("multi-Region key id"))?;
    let id = Uuid::from_bytes(bytes);
    Ok((id, multi_region_id(&id)))
}

/// `PRIMARY` or `REPLICA` for a multi-Region key (`kms:MultiRegionKeyType`
/// and `MultiRegionConfiguration`), none for a single-Region key.
pub fn key_type(key: &KeyRecord) -> Option<&'static str> {
    key.multi_region.then_some("PRIMARY")
}

/// `MultiRegionConfiguration` of DescribeKey, for a multi-Region key.
pub fn configuration(key: &KeyRecord) -> Option<Value> {
    let kind = key_type(key)?;
    Some(json!({
        "MultiRegionKeyType": kind,
        "PrimaryKey": { "Arn": key.arn, "Region": key.region },
        "ReplicaKeys": [],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_awss_form_and_fresh() {
        let (bytes, id) = new_id().unwrap();
        assert!(crate::keys::reference::is_multi_region_id(&id), "{id}");
        assert_eq!(crate::keys::reference::key_id_bytes(&id), Some(bytes));
        assert_ne!(new_id().unwrap().1, id);
    }

    #[test]
    fn only_multi_region_keys_have_a_configuration() {
        let (mut key, _) = trent_store::conformance::sample_key("111122223333", "d0000000-0000-4000-8000-00000000000d");
        assert_eq!(configuration(&key), None);
        assert_eq!(key_type(&key), None);
        key.multi_region = true;
        let c = configuration(&key).unwrap();
        assert_eq!(c["MultiRegionKeyType"], "PRIMARY");
        assert_eq!(c["PrimaryKey"], json!({ "Arn": key.arn, "Region": key.region }));
        assert_eq!(c["ReplicaKeys"], json!([]));
    }
}
