//! The operation table: one row per KMS operation of the model, saying
//! what authorization, the audit log and key-use tracking need to know of
//! it. The match is exhaustive over [`Operation`] (generated from the
//! model), so a new operation does not compile until it has its row.
//!
//! Adding an operation: the model entry (regenerate `trent-model`), its row
//! here, its condition keys in `authz::supplied`, and its handler file in
//! `ops`, called from `dispatch`. Each of those matches is exhaustive.

use trent_model::Operation;

/// What an operation authorizes, before its handler runs (`authz::authorize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// Nothing of an account's: decided by the caller's identity policies
    /// alone, on resource `*` (CreateKey, ListKeys, GenerateRandom...).
    Account,
    /// The key its `KeyId` names; `aliases` when an alias may name it.
    Key { aliases: bool },
    /// Decrypt: the key its ciphertext names (which `KeyId`, if given, must be).
    CiphertextKey,
    /// ReEncrypt: the source key (`ReEncryptFrom`, with the source context)
    /// and the destination key (`ReEncryptTo`, with the destination context).
    ReEncrypt,
    /// The alias operations: the alias (identity policies) and every key
    /// the change touches (key policies): CreateAlias the target,
    /// UpdateAlias the current and the new target, DeleteAlias the current.
    Alias,
    /// RetireGrant: the grant, by its token or by key and grant id.
    Grant,
    /// ReplicateKey: the primary key its `KeyId` names (the row's action,
    /// key policy and grants) and `kms:CreateKey` in the replica's Region
    /// (identity policies), both with `kms:ReplicaRegion` supplied.
    Replicate,
    /// UpdatePrimaryRegion: the primary its `KeyId` names and the replica
    /// in `PrimaryRegion`, each decided by its own key policy (AWS: the
    /// action on both keys, each in its Region).
    PrimaryAndReplica,
    /// An operation Trent does not implement yet: refused before anything.
    Unsupported,
}

/// One operation's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    pub operation: Operation,
    /// The IAM action that policies and grants name, e.g. `kms:Encrypt`.
    pub action: &'static str,
    pub resource: Resource,
    /// AWS's "Cross-account use: Yes": a caller may name another account's
    /// key (its ARN). Otherwise only keys of the caller's own account.
    pub cross_account: bool,
    /// A success is a use of its key(s), for GetKeyLastUsage.
    pub tracked_use: bool,
    /// It can change state: its audit event is `readOnly: false` and is on
    /// disk before the answer (the others are group-committed).
    pub changes: bool,
    /// Its audit event carries `additionalEventData.keyMaterialId`.
    pub key_material_in_event: bool,
    /// A success also records a CreateKey event in the Region of the key it
    /// made (ReplicateKey's replica), as AWS does (`audit::event::replica_created`).
    pub replica_create_event: bool,
    /// Its `Tags` parameter tags the key it makes (CreateKey, ReplicateKey):
    /// AWS then also requires `kms:TagResource` in an IAM policy.
    pub tags_key_it_makes: bool,
}

const fn row(operation: Operation, action: &'static str, resource: Resource) -> Descriptor {
    Descriptor { operation, action, resource, cross_account: false, tracked_use: false, changes: true, key_material_in_event: false, replica_create_event: false, tags_key_it_makes: false }
}

const KEY: Resource = Resource::Key { aliases: false };
const KEY_OR_ALIAS: Resource = Resource::Key { aliases: true };

impl Descriptor {
    const fn cross_account(mut self) -> Self {
        self.cross_account = true;
        self
    }
    const fn read_only(mut self) -> Self {
        self.changes = false;
        self
    }
    /// A cryptographic use of the key: tracked, read-only, cross-account.
    const fn crypto(mut self) -> Self {
        self.tracked_use = true;
        self.cross_account = true;
        self.changes = false;
        self
    }
    /// Its event is fsynced before the answer although it changes nothing.
    const fn changes_anyway(mut self) -> Self {
        self.changes = true;
        self
    }
    const fn material(mut self) -> Self {
        self.key_material_in_event = true;
        self
    }
    const fn replica_create_event(mut self) -> Self {
        self.replica_create_event = true;
        self
    }
    const fn tags_key_it_makes(mut self) -> Self {
        self.tags_key_it_makes = true;
        self
    }
}

/// The row of `op`.
pub const fn describe(op: Operation) -> Descriptor {
    use Operation as O;
    use Resource::{Account, Alias, CiphertextKey, Grant, PrimaryAndReplica, ReEncrypt, Replicate};
    match op {
        O::CancelKeyDeletion => row(op, "kms:CancelKeyDeletion", KEY),
        O::ConnectCustomKeyStore => row(op, "kms:ConnectCustomKeyStore", Account),
        O::CreateAlias => row(op, "kms:CreateAlias", Alias),
        O::CreateCustomKeyStore => row(op, "kms:CreateCustomKeyStore", Account),
        O::CreateGrant => row(op, "kms:CreateGrant", KEY).cross_account(),
        O::CreateKey => row(op, "kms:CreateKey", Account).tags_key_it_makes(),
        // Encapsulate and Decapsulate keep their events fsynced, as before the table.
        O::Decapsulate => row(op, "kms:Decapsulate", KEY_OR_ALIAS).crypto().changes_anyway(),
        O::Decrypt => row(op, "kms:Decrypt", CiphertextKey).crypto().material(),
        O::DeleteAlias => row(op, "kms:DeleteAlias", Alias),
        O::DeleteCustomKeyStore => row(op, "kms:DeleteCustomKeyStore", Account),
        O::DeleteImportedKeyMaterial => row(op, "kms:DeleteImportedKeyMaterial", KEY),
        O::DeriveSharedSecret => row(op, "kms:DeriveSharedSecret", KEY_OR_ALIAS).crypto(),
        O::DescribeCustomKeyStores => row(op, "kms:DescribeCustomKeyStores", Account).read_only(),
        O::DescribeKey => row(op, "kms:DescribeKey", KEY_OR_ALIAS).cross_account().read_only(),
        O::DisableKey => row(op, "kms:DisableKey", KEY),
        O::DisableKeyRotation => row(op, "kms:DisableKeyRotation", KEY),
        O::DisconnectCustomKeyStore => row(op, "kms:DisconnectCustomKeyStore", Account),
        O::EnableKey => row(op, "kms:EnableKey", KEY),
        O::EnableKeyRotation => row(op, "kms:EnableKeyRotation", KEY),
        O::Encapsulate => row(op, "kms:Encapsulate", KEY_OR_ALIAS).crypto().changes_anyway(),
        O::Encrypt => row(op, "kms:Encrypt", KEY_OR_ALIAS).crypto().material(),
        O::GenerateDataKey => row(op, "kms:GenerateDataKey", KEY_OR_ALIAS).crypto().material(),
        O::GenerateDataKeyPair => row(op, "kms:GenerateDataKeyPair", KEY_OR_ALIAS).crypto().material(),
        O::GenerateDataKeyPairWithoutPlaintext => row(op, "kms:GenerateDataKeyPairWithoutPlaintext", KEY_OR_ALIAS).crypto().material(),
        O::GenerateDataKeyWithoutPlaintext => row(op, "kms:GenerateDataKeyWithoutPlaintext", KEY_OR_ALIAS).crypto().material(),
        O::GenerateMac => row(op, "kms:GenerateMac", KEY_OR_ALIAS).crypto(),
        O::GenerateRandom => row(op, "kms:GenerateRandom", Account).read_only(),
        O::GetKeyLastUsage => row(op, "kms:GetKeyLastUsage", KEY).read_only(),
        O::GetKeyPolicy => row(op, "kms:GetKeyPolicy", KEY).read_only(),
        O::GetKeyRotationStatus => row(op, "kms:GetKeyRotationStatus", KEY).cross_account().read_only(),
        O::GetParametersForImport => row(op, "kms:GetParametersForImport", KEY).read_only(),
        O::GetPublicKey => row(op, "kms:GetPublicKey", KEY_OR_ALIAS).cross_account().read_only(),
        O::ImportKeyMaterial => row(op, "kms:ImportKeyMaterial", KEY),
        // ListAliases with a KeyId also needs kms:ListAliases on that key.
        O::ListAliases => row(op, "kms:ListAliases", Account).read_only(),
        O::ListGrants => row(op, "kms:ListGrants", KEY).cross_account().read_only(),
        O::ListKeyPolicies => row(op, "kms:ListKeyPolicies", KEY).read_only(),
        O::ListKeyRotations => row(op, "kms:ListKeyRotations", KEY).read_only(),
        O::ListKeys => row(op, "kms:ListKeys", Account).read_only(),
        O::ListResourceTags => row(op, "kms:ListResourceTags", KEY).read_only(),
        O::ListRetirableGrants => row(op, "kms:ListRetirableGrants", Account).read_only(),
        O::PutKeyPolicy => row(op, "kms:PutKeyPolicy", KEY),
        O::ReEncrypt => row(op, "kms:ReEncrypt", ReEncrypt).crypto().material(),
        O::ReplicateKey => row(op, "kms:ReplicateKey", Replicate).replica_create_event().tags_key_it_makes(),
        O::RetireGrant => row(op, "kms:RetireGrant", Grant).cross_account(),
        O::RevokeGrant => row(op, "kms:RevokeGrant", KEY).cross_account(),
        O::RotateKeyOnDemand => row(op, "kms:RotateKeyOnDemand", KEY),
        O::ScheduleKeyDeletion => row(op, "kms:ScheduleKeyDeletion", KEY),
        O::Sign => row(op, "kms:Sign", KEY_OR_ALIAS).crypto(),
        O::TagResource => row(op, "kms:TagResource", KEY),
        O::UntagResource => row(op, "kms:UntagResource", KEY),
        O::UpdateAlias => row(op, "kms:UpdateAlias", Alias),
        O::UpdateCustomKeyStore => row(op, "kms:UpdateCustomKeyStore", Account),
        O::UpdateKeyDescription => row(op, "kms:UpdateKeyDescription", KEY),
        O::UpdatePrimaryRegion => row(op, "kms:UpdatePrimaryRegion", PrimaryAndReplica),
        O::Verify => row(op, "kms:Verify", KEY_OR_ALIAS).crypto(),
        O::VerifyMac => row(op, "kms:VerifyMac", KEY_OR_ALIAS).crypto(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model's own documentation of each operation says "Cross-account
    /// use: Yes" or not; the table must agree with every one of them.
    #[test]
    fn cross_account_use_is_the_models() {
        let model: serde_json::Value = serde_json::from_str(include_str!("../../../../model/service-2.json")).unwrap();
        for op in Operation::ALL {
            let doc = model["operations"][op.name()]["documentation"].as_str().unwrap_or_default();
            let at = doc.find("Cross-account use").unwrap_or_else(|| panic!("{} documents no cross-account use", op.name()));
            let says_yes = without_tags(&doc[at + "Cross-account use".len()..]).trim_start_matches([':', ' ']).starts_with("Yes");
            assert_eq!(describe(op).cross_account, says_yes, "{}: the model says cross-account {says_yes}", op.name());
        }
    }

    fn without_tags(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars().take(200) {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out
    }

    /// The model says "To use the Tags parameter, kms:TagResource" of
    /// exactly the operations whose tags need it.
    #[test]
    fn tagging_a_new_key_needs_tag_resource_as_the_model_says() {
        let model: serde_json::Value = serde_json::from_str(include_str!("../../../../model/service-2.json")).unwrap();
        for op in Operation::ALL {
            let doc = model["operations"][op.name()]["documentation"].as_str().unwrap_or_default();
            let says = without_all_tags(doc).contains("To use the Tags parameter, kms:TagResource");
            assert_eq!(describe(op).tags_key_it_makes, says, "{}", op.name());
        }
    }

    fn without_all_tags(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn every_row_is_its_own_operation_and_action() {
        for op in Operation::ALL {
            let d = describe(op);
            assert_eq!(d.operation, op);
            assert_eq!(d.action, format!("kms:{}", op.name()));
        }
    }

    /// GetKeyLastUsage reports the uses of exactly the operations the model
    /// lists in `KeyLastUsageTrackingOperation`.
    #[test]
    fn tracked_uses_are_the_models() {
        let model: serde_json::Value = serde_json::from_str(include_str!("../../../../model/service-2.json")).unwrap();
        let mut tracked: Vec<&str> = model["shapes"]["KeyLastUsageTrackingOperation"]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        tracked.sort();
        let mut ours: Vec<&str> = Operation::ALL.iter().filter(|op| describe(**op).tracked_use).map(|op| op.name()).collect();
        ours.sort();
        assert_eq!(ours, tracked);
    }

    /// Reads and cryptographic uses are read-only events (Encapsulate and
    /// Decapsulate are fsynced like changes, as they were before the table).
    #[test]
    fn read_only_events_are_reads_and_uses() {
        for op in Operation::ALL {
            let name = op.name();
            let read = ["Describe", "Get", "List", "Generate"].iter().any(|p| name.starts_with(p)) || matches!(name, "Encrypt" | "Decrypt" | "ReEncrypt" | "Sign" | "Verify" | "VerifyMac" | "DeriveSharedSecret");
            assert_eq!(!describe(op).changes, read, "{name}");
        }
    }
}
