//! Dispatch: from the operation's name to the file that implements it.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::ops;
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

pub async fn call(ctx: &Ctx, operation: &str, input: Value) -> Result<Value, KmsError> {
    // Condition keys come from the input here, once, for every operation.
    ctx.authz.set_request(crate::authz::facts::request(operation, &input));
    crate::authz::operation(ctx, operation, &input).await?;
    let result = run(ctx, operation, input).await;
    if let Ok(answer) = &result {
        note_key_use(ctx, operation, answer);
    }
    result
}

/// A successful cryptographic operation is a use of the keys its answer
/// names (ReEncrypt: both), for GetKeyLastUsage.
fn note_key_use(ctx: &Ctx, operation: &str, answer: &Value) {
    if !crate::keys::usage::TRACKED.contains(&operation) {
        return;
    }
    for field in ["KeyId", "SourceKeyId"] {
        if let Some(key_id) = answer.get(field).and_then(Value::as_str).and_then(|arn| arn.rsplit('/').next()) {
            ctx.state.usage.note(key_id, operation, &ctx.request_id, ctx.now());
        }
    }
}

/// Each operation's future is boxed on its own: awaited inline, the largest
/// of them (several KiB) set the size of every request's future, which is
/// moved several times per request (docs/BENCHMARKS.md).
fn run<'a>(ctx: &'a Ctx, operation: &str, input: Value) -> Pin<Box<dyn Future<Output = Result<Value, KmsError>> + Send + 'a>> {
    match operation {
        "CancelKeyDeletion" => Box::pin(ops::cancel_key_deletion::handle(ctx, input)),
        "CreateAlias" => Box::pin(ops::create_alias::handle(ctx, input)),
        "CreateGrant" => Box::pin(ops::create_grant::handle(ctx, input)),
        "CreateKey" => Box::pin(ops::create_key::handle(ctx, input)),
        "Decapsulate" => Box::pin(ops::decapsulate::handle(ctx, input)),
        "Decrypt" => Box::pin(ops::decrypt::handle(ctx, input)),
        "DeleteImportedKeyMaterial" => Box::pin(ops::delete_imported_key_material::handle(ctx, input)),
        "DeleteAlias" => Box::pin(ops::delete_alias::handle(ctx, input)),
        "DeriveSharedSecret" => Box::pin(ops::derive_shared_secret::handle(ctx, input)),
        "DescribeKey" => Box::pin(ops::describe_key::handle(ctx, input)),
        "DisableKey" => Box::pin(ops::disable_key::handle(ctx, input)),
        "DisableKeyRotation" => Box::pin(ops::disable_key_rotation::handle(ctx, input)),
        "EnableKey" => Box::pin(ops::enable_key::handle(ctx, input)),
        "Encapsulate" => Box::pin(ops::encapsulate::handle(ctx, input)),
        "EnableKeyRotation" => Box::pin(ops::enable_key_rotation::handle(ctx, input)),
        "Encrypt" => Box::pin(ops::encrypt::handle(ctx, input)),
        "GenerateDataKey" => Box::pin(ops::generate_data_key::handle(ctx, input)),
        "GenerateDataKeyPair" => Box::pin(ops::generate_data_key_pair::handle(ctx, input)),
        "GenerateDataKeyPairWithoutPlaintext" => Box::pin(ops::generate_data_key_pair_without_plaintext::handle(ctx, input)),
        "GenerateDataKeyWithoutPlaintext" => Box::pin(ops::generate_data_key_without_plaintext::handle(ctx, input)),
        "GenerateMac" => Box::pin(ops::generate_mac::handle(ctx, input)),
        "GenerateRandom" => Box::pin(ops::generate_random::handle(ctx, input)),
        "GetKeyLastUsage" => Box::pin(ops::get_key_last_usage::handle(ctx, input)),
        "GetKeyPolicy" => Box::pin(ops::get_key_policy::handle(ctx, input)),
        "GetPublicKey" => Box::pin(ops::get_public_key::handle(ctx, input)),
        "GetParametersForImport" => Box::pin(ops::get_parameters_for_import::handle(ctx, input)),
        "ImportKeyMaterial" => Box::pin(ops::import_key_material::handle(ctx, input)),
        "GetKeyRotationStatus" => Box::pin(ops::get_key_rotation_status::handle(ctx, input)),
        "ListAliases" => Box::pin(ops::list_aliases::handle(ctx, input)),
        "ListGrants" => Box::pin(ops::list_grants::handle(ctx, input)),
        "ListKeyPolicies" => Box::pin(ops::list_key_policies::handle(ctx, input)),
        "ListKeyRotations" => Box::pin(ops::list_key_rotations::handle(ctx, input)),
        "ListKeys" => Box::pin(ops::list_keys::handle(ctx, input)),
        "ListResourceTags" => Box::pin(ops::list_resource_tags::handle(ctx, input)),
        "ListRetirableGrants" => Box::pin(ops::list_retirable_grants::handle(ctx, input)),
        "PutKeyPolicy" => Box::pin(ops::put_key_policy::handle(ctx, input)),
        "ReEncrypt" => Box::pin(ops::re_encrypt::handle(ctx, input)),
        "RetireGrant" => Box::pin(ops::retire_grant::handle(ctx, input)),
        "RevokeGrant" => Box::pin(ops::revoke_grant::handle(ctx, input)),
        "RotateKeyOnDemand" => Box::pin(ops::rotate_key_on_demand::handle(ctx, input)),
        "ScheduleKeyDeletion" => Box::pin(ops::schedule_key_deletion::handle(ctx, input)),
        "Sign" => Box::pin(ops::sign::handle(ctx, input)),
        "TagResource" => Box::pin(ops::tag_resource::handle(ctx, input)),
        "UntagResource" => Box::pin(ops::untag_resource::handle(ctx, input)),
        "UpdateAlias" => Box::pin(ops::update_alias::handle(ctx, input)),
        "UpdateKeyDescription" => Box::pin(ops::update_key_description::handle(ctx, input)),
        "Verify" => Box::pin(ops::verify::handle(ctx, input)),
        "VerifyMac" => Box::pin(ops::verify_mac::handle(ctx, input)),
        // In the model, not yet in Trent: said plainly rather than faked.
        other => {
            let err = KmsError::new(ErrorCode::UnsupportedOperation, format!("Trent does not support {other} yet."));
            Box::pin(std::future::ready(Err(err)))
        }
    }
}
