//! Dispatch: from the operation's name to the file that implements it.

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

async fn run(ctx: &Ctx, operation: &str, input: Value) -> Result<Value, KmsError> {
    match operation {
        "CancelKeyDeletion" => ops::cancel_key_deletion::handle(ctx, input).await,
        "CreateAlias" => ops::create_alias::handle(ctx, input).await,
        "CreateGrant" => ops::create_grant::handle(ctx, input).await,
        "CreateKey" => ops::create_key::handle(ctx, input).await,
        "Decapsulate" => ops::decapsulate::handle(ctx, input).await,
        "Decrypt" => ops::decrypt::handle(ctx, input).await,
        "DeleteImportedKeyMaterial" => ops::delete_imported_key_material::handle(ctx, input).await,
        "DeleteAlias" => ops::delete_alias::handle(ctx, input).await,
        "DeriveSharedSecret" => ops::derive_shared_secret::handle(ctx, input).await,
        "DescribeKey" => ops::describe_key::handle(ctx, input).await,
        "DisableKey" => ops::disable_key::handle(ctx, input).await,
        "DisableKeyRotation" => ops::disable_key_rotation::handle(ctx, input).await,
        "EnableKey" => ops::enable_key::handle(ctx, input).await,
        "Encapsulate" => ops::encapsulate::handle(ctx, input).await,
        "EnableKeyRotation" => ops::enable_key_rotation::handle(ctx, input).await,
        "Encrypt" => ops::encrypt::handle(ctx, input).await,
        "GenerateDataKey" => ops::generate_data_key::handle(ctx, input).await,
        "GenerateDataKeyPair" => ops::generate_data_key_pair::handle(ctx, input).await,
        "GenerateDataKeyPairWithoutPlaintext" => ops::generate_data_key_pair_without_plaintext::handle(ctx, input).await,
        "GenerateDataKeyWithoutPlaintext" => ops::generate_data_key_without_plaintext::handle(ctx, input).await,
        "GenerateMac" => ops::generate_mac::handle(ctx, input).await,
        "GenerateRandom" => ops::generate_random::handle(ctx, input).await,
        "GetKeyLastUsage" => ops::get_key_last_usage::handle(ctx, input).await,
        "GetKeyPolicy" => ops::get_key_policy::handle(ctx, input).await,
        "GetPublicKey" => ops::get_public_key::handle(ctx, input).await,
        "GetParametersForImport" => ops::get_parameters_for_import::handle(ctx, input).await,
        "ImportKeyMaterial" => ops::import_key_material::handle(ctx, input).await,
        "GetKeyRotationStatus" => ops::get_key_rotation_status::handle(ctx, input).await,
        "ListAliases" => ops::list_aliases::handle(ctx, input).await,
        "ListGrants" => ops::list_grants::handle(ctx, input).await,
        "ListKeyPolicies" => ops::list_key_policies::handle(ctx, input).await,
        "ListKeyRotations" => ops::list_key_rotations::handle(ctx, input).await,
        "ListKeys" => ops::list_keys::handle(ctx, input).await,
        "ListResourceTags" => ops::list_resource_tags::handle(ctx, input).await,
        "ListRetirableGrants" => ops::list_retirable_grants::handle(ctx, input).await,
        "PutKeyPolicy" => ops::put_key_policy::handle(ctx, input).await,
        "ReEncrypt" => ops::re_encrypt::handle(ctx, input).await,
        "RetireGrant" => ops::retire_grant::handle(ctx, input).await,
        "RevokeGrant" => ops::revoke_grant::handle(ctx, input).await,
        "RotateKeyOnDemand" => ops::rotate_key_on_demand::handle(ctx, input).await,
        "ScheduleKeyDeletion" => ops::schedule_key_deletion::handle(ctx, input).await,
        "Sign" => ops::sign::handle(ctx, input).await,
        "TagResource" => ops::tag_resource::handle(ctx, input).await,
        "UntagResource" => ops::untag_resource::handle(ctx, input).await,
        "UpdateAlias" => ops::update_alias::handle(ctx, input).await,
        "UpdateKeyDescription" => ops::update_key_description::handle(ctx, input).await,
        "Verify" => ops::verify::handle(ctx, input).await,
        "VerifyMac" => ops::verify_mac::handle(ctx, input).await,
        // In the model, not yet in Trent: said plainly rather than faked.
        other => Err(KmsError::new(ErrorCode::UnsupportedOperation, format!("Trent does not support {other} yet."))),
    }
}
