//! AWS managed keys (`KeyManager` `AWS`): the key behind `alias/aws/<service>`
//! in an account, which AWS makes the first time that service uses the
//! alias on the account's behalf. In Trent the services are the trusted
//! services (`--trusted-service NAME=ARN`, `authz::via`).
//!
//! As in AWS, such a key is a symmetric encryption key with material KMS
//! made, rotated every year, whose policy lets the account's principals
//! use it only through the service (`kms:ViaService`, `kms:CallerAccount`)
//! and read its metadata directly, and which nobody can change, disable,
//! delete, tag or re-alias. Everything here is about those keys:
//!
//! - [`service_alias`]: which alias a trusted service's key has;
//! - [`get_or_create`]: the key made on first use, exactly once even when
//!   several nodes race (the key and its alias are stored together);
//! - [`on_aws_managed`] and [`check`]: the operations refused on such a key
//!   whatever a policy says, applied by the one authorization step.

use trent_crypto::keytypes::KeySpec;
use trent_model::Operation;
use trent_store::{AliasRecord, KeyManager, KeyRecord, KeyRotation, KeyState, MaterialRecord, StoreError};
use uuid::Uuid;

use crate::keys::reference::key_arn;
use crate::keys::rotation::next_rotation;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

/// The prefix of every AWS managed key's alias.
pub const ALIAS_PREFIX: &str = "alias/aws/";
/// AWS rotates the material of AWS managed keys every year.
pub const ROTATION_PERIOD_DAYS: i32 = 365;

/// The short name of the service a trusted service's name (its
/// `kms:ViaService` value) stands for, in `region`: `s3` for
/// `s3.us-east-1.amazonaws.com` in us-east-1 (none in another region), or
/// for `s3.amazonaws.com`; the whole name for a name without
/// `.amazonaws.com` (`vault`). None if that is not a valid alias name part
/// (letters, digits, `_`, `-`).
pub fn service_name<'a>(via_service: &'a str, region: &str) -> Option<&'a str> {
    let (service, named_region) = match via_service.strip_suffix(".amazonaws.com") {
        Some(host) => match host.split_once('.') {
            Some((service, named)) => (service, Some(named)),
            None => (host, None),
        },
        None => (via_service, None),
    };
    if named_region.is_some_and(|named| named != region) {
        return None;
    }
    let valid = !service.is_empty() && service.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    valid.then_some(service)
}

/// The alias of the AWS managed key of the trusted service `via_service`
/// in `region`: `alias/aws/<service>`.
pub fn service_alias(via_service: &str, region: &str) -> Option<String> {
    service_name(via_service, region).map(|service| format!("{ALIAS_PREFIX}{service}"))
}

/// The key policy of an AWS managed key, in the shape AWS gives them
/// (e.g. `aws/ebs`, `aws/lambda`): the account's principals may use the
/// key only through the service, and the account may read its metadata.
pub fn policy(account_id: &str, service: &str, via_service: &str) -> String {
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Id": format!("auto-{service}"),
        "Statement": [
            {
                "Sid": format!("Allow access through {service} for all principals in the account that are authorized to use {service}"),
                "Effect": "Allow",
                "Principal": { "AWS": "*" },
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": { "StringEquals": { "kms:CallerAccount": account_id, "kms:ViaService": via_service } }
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": { "AWS": format!("arn:aws:iam::{account_id}:root") },
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                "Resource": "*"
            }
        ]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The description AWS gives its managed keys.
pub fn description(service: &str) -> String {
    format!("Default key that protects my {service} data when no other key is defined")
}

/// The key `alias/aws/<service>` of `account_id` names, made now if it does
/// not exist yet and this request came through that service on behalf of
/// a principal of `account_id`. None when the request may not make it
/// (the caller then gets the answer for an alias that does not exist).
pub async fn get_or_create(ctx: &Ctx, account_id: &str, alias_name: &str) -> Result<Option<Uuid>, KmsError> {
    let Some(via) = ctx.authz.via_service() else { return Ok(None) };
    let Some(service) = service_name(via, &ctx.region) else { return Ok(None) };
    if account_id != ctx.principal.account_id || alias_name.strip_prefix(ALIAS_PREFIX) != Some(service) {
        return Ok(None);
    }
    let id = trent_crypto::new_uuid();
    let provider = ctx.state.provider.clone();
    let (stored, material_id) =
        tokio::task::spawn_blocking(move || provider.generate_key(id, KeySpec::SymmetricDefault)).await.map_err(|e| KmsError::internal(format!("key generation task: {e}")))??;
    let now = ctx.now();
    let key_id = id.to_string();
    let key = KeyRecord {
        arn: key_arn(&ctx.region, account_id, &key_id),
        key_id: key_id.clone(),
        account_id: account_id.to_owned(),
        region: ctx.region.clone(),
        created_at: now,
        description: description(service),
        key_usage: "ENCRYPT_DECRYPT".to_owned(),
        key_spec: "SYMMETRIC_DEFAULT".to_owned(),
        origin: "AWS_KMS".to_owned(),
        state: KeyState::Enabled,
        deletion_date: None,
        pending_window_days: None,
        policy: policy(account_id, service, via),
        tags: Vec::new(),
        current_material_id: hex::encode(material_id),
        multi_region: false,
        primary_region: None,
        rotation: KeyRotation { period_days: Some(ROTATION_PERIOD_DAYS), next_at: Some(next_rotation(now, ROTATION_PERIOD_DAYS)), base: Some(now), ..Default::default() },
        import: Default::default(),
        key_manager: KeyManager::Aws,
        custom_key_store_id: None,
        xks_key_id: None,
        row_version: 0,
    };
    let material = MaterialRecord { key_id: key_id.clone(), material_id: key.current_material_id.clone(), stored: stored.0, created_at: now };
    let alias = AliasRecord { account_id: account_id.to_owned(), region: ctx.region.clone(), alias_name: alias_name.to_owned(), target_key_id: key_id, created_at: now, updated_at: now };
    match ctx.state.store.insert_key_with_alias(&key, &material, &alias).await {
        Ok(()) => {
            tracing::info!(key = %key.arn, alias = alias_name, service = via, request_id = %ctx.request_id, "created the AWS managed key");
            Ok(Some(id))
        }
        // Another request (on this node or another) made it first: use its key.
        Err(StoreError::AlreadyExists) => {
            let winner = ctx.state.store.get_alias(account_id, &ctx.region, alias_name).await?.ok_or_else(|| KmsError::internal(format!("{alias_name} was taken and is gone")))?;
            Uuid::try_parse(&winner.target_key_id).map(Some).map_err(|_| KmsError::internal(format!("alias {alias_name} has a malformed target")))
        }
        Err(e) => Err(e.into()),
    }
}

/// What may be done to an AWS managed key, by operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnAwsManaged {
    /// Uses and reads: decided by the key's policy and grants as usual.
    Allowed,
    /// Changes to the key, its policy, tags, aliases, rotation or life:
    /// refused to everyone, whatever a policy or grant says.
    Refused,
    /// The operation never acts on a key (account-level operations,
    /// custom key stores, RetireGrant's grant).
    NoKey,
}

/// The rule, one row per operation of the model: a new operation does not
/// compile until it says what it may do to an AWS managed key.
pub const fn on_aws_managed(op: Operation) -> OnAwsManaged {
    use OnAwsManaged::{Allowed, NoKey, Refused};
    use Operation as O;
    match op {
        O::Decrypt | O::Encrypt | O::ReEncrypt | O::GenerateDataKey | O::GenerateDataKeyWithoutPlaintext | O::GenerateDataKeyPair | O::GenerateDataKeyPairWithoutPlaintext => Allowed,
        // Not for a symmetric key; its policy and key type refuse them.
        O::Sign | O::Verify | O::GenerateMac | O::VerifyMac | O::DeriveSharedSecret | O::Encapsulate | O::Decapsulate | O::GetPublicKey => Allowed,
        O::DescribeKey | O::GetKeyPolicy | O::GetKeyRotationStatus | O::GetKeyLastUsage | O::ListAliases | O::ListKeyPolicies | O::ListKeyRotations | O::ListResourceTags => Allowed,
        // Its origin (AWS_KMS) refuses it.
        O::GetParametersForImport => Allowed,
        // Services make grants on their keys (EBS does); grants only allow uses.
        O::CreateGrant | O::ListGrants | O::RevokeGrant | O::RetireGrant => Allowed,
        O::PutKeyPolicy | O::UpdateKeyDescription | O::TagResource | O::UntagResource => Refused,
        O::EnableKey | O::DisableKey | O::ScheduleKeyDeletion | O::CancelKeyDeletion => Refused,
        O::EnableKeyRotation | O::DisableKeyRotation | O::RotateKeyOnDemand => Refused,
        O::ImportKeyMaterial | O::DeleteImportedKeyMaterial | O::ReplicateKey | O::UpdatePrimaryRegion => Refused,
        O::CreateAlias | O::UpdateAlias | O::DeleteAlias => Refused,
        O::CreateKey | O::ListKeys | O::GenerateRandom | O::ListRetirableGrants => NoKey,
        O::ConnectCustomKeyStore | O::CreateCustomKeyStore | O::DeleteCustomKeyStore | O::DescribeCustomKeyStores | O::DisconnectCustomKeyStore | O::UpdateCustomKeyStore => NoKey,
    }
}

/// Refuses `op` (as `action`) on `key` if it is an AWS managed key and the
/// rule refuses the operation. AWS's policy for these keys allows none of
/// those actions and cannot be changed, so AWS answers with its implicit
/// deny; so does Trent, in the same words, even if a policy allowed it.
pub fn check(ctx: &Ctx, key: &KeyRecord, op: Operation, action: &str) -> Result<(), KmsError> {
    if key.key_manager != KeyManager::Aws || on_aws_managed(op) != OnAwsManaged::Refused {
        return Ok(());
    }
    ctx.authz.record(crate::authz::Record {
        principal: ctx.principal.arn.clone(),
        action: action.to_owned(),
        resource: key.arn.clone(),
        allowed: false,
        reason: format!("{action} cannot be used on an AWS managed key"),
    });
    Err(refused(&ctx.principal.arn, action, &key.arn))
}

/// The refusal, in AWS's words for an action no key policy allows.
pub fn refused(principal: &str, action: &str, key_arn: &str) -> KmsError {
    crate::protocol::catalogue::Error::NoResourcePolicyAllows { principal: principal.to_owned(), action: action.to_owned(), resource: key_arn.to_owned() }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names_and_aliases() {
        for (via, region, want) in [
            ("s3.us-east-1.amazonaws.com", "us-east-1", Some("alias/aws/s3")),
            ("s3.us-east-1.amazonaws.com", "eu-west-1", None),
            ("secretsmanager.eu-west-1.amazonaws.com", "eu-west-1", Some("alias/aws/secretsmanager")),
            ("s3.amazonaws.com", "eu-west-1", Some("alias/aws/s3")),
            ("vault", "us-east-1", Some("alias/aws/vault")),
            ("my_gate-way", "us-east-1", Some("alias/aws/my_gate-way")),
            ("gateway.example.com", "us-east-1", None),
            (".us-east-1.amazonaws.com", "us-east-1", None),
            ("", "us-east-1", None),
        ] {
            assert_eq!(service_alias(via, region).as_deref(), want, "{via} in {region}");
        }
    }

    #[test]
    fn the_policy_is_awss_shape() {
        let doc: serde_json::Value = serde_json::from_str(&policy("111122223333", "s3", "s3.us-east-1.amazonaws.com")).unwrap();
        let use_ = &doc["Statement"][0];
        assert_eq!(use_["Principal"]["AWS"], "*");
        assert_eq!(use_["Condition"]["StringEquals"]["kms:CallerAccount"], "111122223333");
        assert_eq!(use_["Condition"]["StringEquals"]["kms:ViaService"], "s3.us-east-1.amazonaws.com");
        let read = &doc["Statement"][1];
        assert_eq!(read["Principal"]["AWS"], "arn:aws:iam::111122223333:root");
        assert_eq!(read["Action"], serde_json::json!(["kms:Describe*", "kms:Get*", "kms:List*"]));
        crate::keys::policy::validate(&policy("111122223333", "s3", "s3.us-east-1.amazonaws.com")).unwrap();
    }

    /// The rule holds behind the policy: on an AWS managed key whose policy
    /// allowed its account everything, the one authorization step still
    /// refuses every change, and allows the reads and uses.
    #[tokio::test]
    async fn authorization_refuses_changes_whatever_the_policy_says() {
        use std::sync::Arc;
        use trent_crypto::{RootKey, SoftwareProvider};
        use trent_model::Request;
        use trent_store::sqlite::SqliteStore;
        use trent_store::Store;

        use crate::clock::ManualClock;
        use crate::dispatch::table::{describe, Resource};
        use crate::state::{AppState, AuthMode, Principal};

        const ACCOUNT: &str = "111122223333";
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let (mut managed, material) = trent_store::conformance::sample_key(ACCOUNT, "a0a0a0a0-0000-4000-8000-00000000a0a0");
        managed.key_manager = KeyManager::Aws;
        managed.policy = crate::keys::policy::default_policy(ACCOUNT);
        store.insert_key(&managed, &material).await.unwrap();
        let (customer, material) = trent_store::conformance::sample_key(ACCOUNT, "c0c0c0c0-0000-4000-8000-00000000c0c0");
        let customer = KeyRecord { policy: crate::keys::policy::default_policy(ACCOUNT), ..customer };
        store.insert_key(&customer, &material).await.unwrap();
        for (name, target) in [("alias/aws/s3", &managed.key_id), ("alias/customer", &customer.key_id)] {
            let alias = AliasRecord { account_id: ACCOUNT.into(), region: "us-east-1".into(), alias_name: name.into(), target_key_id: target.clone(), created_at: 0, updated_at: 0 };
            store.insert_alias(&alias).await.unwrap();
        }
        let root_key = Arc::new(trent_crypto::LiveRootKey::new(RootKey::from_bytes(trent_crypto::random_secret(32).unwrap()).unwrap()));
        let clock: Arc<ManualClock> = Arc::new(ManualClock::new(0));
        let audit = Arc::new(crate::audit::Audit::in_temp_dir(&root_key.load(), clock.clone()));
        let state = Arc::new(AppState { store, provider: Arc::new(SoftwareProvider::new(root_key.clone())), root_key, clock, auth: AuthMode::Secure, usage: Default::default(), audit, trusted_services: Vec::new(), key_stores: Arc::new(crate::keystores::runtime::KeyStoreRuntime::new(std::path::Path::new("/nonexistent"))), regions: Default::default(), sealer: std::sync::Weak::new(), throttle: None });
        let ctx = || crate::state::Ctx {
            state: state.clone(),
            principal: Principal::root(ACCOUNT),
            region: "us-east-1".into(),
            request_id: "test".into(),
            event_id: "test".into(),
            audit: Default::default(),
            authz: Default::default(),
        };
        let id = managed.key_id.as_str();
        use Operation as O;
        // Every change the rule refuses that names a key or an alias, as a request.
        let change = |op: Operation| -> serde_json::Value {
            let key = serde_json::json!({ "KeyId": id });
            match op {
                O::PutKeyPolicy => serde_json::json!({ "KeyId": id, "PolicyName": "default", "Policy": "{}" }),
                O::UpdateKeyDescription => serde_json::json!({ "KeyId": id, "Description": "mine" }),
                O::TagResource => serde_json::json!({ "KeyId": id, "Tags": [{ "TagKey": "a", "TagValue": "b" }] }),
                O::UntagResource => serde_json::json!({ "KeyId": id, "TagKeys": ["a"] }),
                O::ImportKeyMaterial => serde_json::json!({ "KeyId": id, "ImportToken": "dG9rZW4=", "EncryptedKeyMaterial": "a2V5" }),
                O::CreateAlias => serde_json::json!({ "AliasName": "alias/new", "TargetKeyId": id }),
                O::UpdateAlias => serde_json::json!({ "AliasName": "alias/customer", "TargetKeyId": id }),
                O::DeleteAlias => serde_json::json!({ "AliasName": "alias/aws/s3" }),
                O::ReplicateKey => serde_json::json!({ "KeyId": id, "ReplicaRegion": "eu-west-1" }),
                O::UpdatePrimaryRegion => serde_json::json!({ "KeyId": id, "PrimaryRegion": "eu-west-1" }),
                _ => key,
            }
        };
        let mut refused = 0;
        for op in Operation::ALL {
            if on_aws_managed(op) != OnAwsManaged::Refused || describe(op).resource == Resource::Unsupported {
                continue;
            }
            let request = Request::parse_ref(op, &change(op)).unwrap_or_else(|e| panic!("{}: {e:?}", op.name()));
            let e = crate::authz::authorize(&ctx(), &request).await.expect_err(op.name());
            assert_eq!(e.code, crate::protocol::error::ErrorCode::AccessDenied, "{}: {:?}", op.name(), e.message);
            assert!(e.message.as_deref().unwrap_or_default().contains("because no resource-based policy allows"), "{}: {:?}", op.name(), e.message);
            refused += 1;
        }
        assert_eq!(refused, 18);
        for (op, body) in [
            (O::DescribeKey, serde_json::json!({ "KeyId": "alias/aws/s3" })),
            (O::GetKeyPolicy, serde_json::json!({ "KeyId": id })),
            (O::ListResourceTags, serde_json::json!({ "KeyId": id })),
            (O::Encrypt, serde_json::json!({ "KeyId": id, "Plaintext": "eA==" })),
        ] {
            crate::authz::authorize(&ctx(), &Request::parse_ref(op, &body).unwrap()).await.unwrap_or_else(|e| panic!("{}: {:?}", op.name(), e.message));
        }
        // The same changes of a customer managed key are allowed.
        let request = Request::parse_ref(O::DisableKey, &serde_json::json!({ "KeyId": customer.key_id })).unwrap();
        crate::authz::authorize(&ctx(), &request).await.unwrap();
    }

    /// Every operation of the model against the rule: exactly these are
    /// refused on an AWS managed key, and each refused one acts on a key
    /// or an alias (so the authorization step meets the key).
    #[test]
    fn every_operation_is_classified() {
        use crate::dispatch::table::{describe, Resource};
        let refused = [
            "CancelKeyDeletion", "CreateAlias", "DeleteAlias", "DeleteImportedKeyMaterial", "DisableKey", "DisableKeyRotation", "EnableKey", "EnableKeyRotation",
            "ImportKeyMaterial", "PutKeyPolicy", "ReplicateKey", "RotateKeyOnDemand", "ScheduleKeyDeletion", "TagResource", "UntagResource", "UpdateAlias",
            "UpdateKeyDescription", "UpdatePrimaryRegion",
        ];
        for op in Operation::ALL {
            let rule = on_aws_managed(op);
            assert_eq!(rule == OnAwsManaged::Refused, refused.contains(&op.name()), "{}", op.name());
            let resource = describe(op).resource;
            match rule {
                OnAwsManaged::Refused => assert!(matches!(resource, Resource::Key { .. } | Resource::Alias | Resource::Replicate | Resource::PrimaryAndReplica | Resource::Unsupported), "{}", op.name()),
                OnAwsManaged::NoKey => assert!(matches!(resource, Resource::Account | Resource::Unsupported), "{}", op.name()),
                OnAwsManaged::Allowed => assert!(!matches!(resource, Resource::Unsupported), "{}", op.name()),
            }
        }
    }
}
