//! Dispatch: from the typed request to the file that implements its operation.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;
use trent_model::Request;

use crate::ops;
use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::Ctx;

/// Runs a request. `input` is the body it was read from, as validated (only the
/// members of the operation's input shape): condition keys and the operation's
/// authorization read it.
pub async fn call(ctx: &Ctx, request: Request, input: &Value) -> Result<Value, KmsError> {
    let operation = request.operation().name();
    // Condition keys come from the input here, once, for every operation.
    ctx.authz.set_request(crate::authz::facts::request(operation, input));
    crate::authz::operation(ctx, operation, input).await?;
    let result = run(ctx, request).await;
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
fn run<'a>(ctx: &'a Ctx, request: Request) -> Pin<Box<dyn Future<Output = Result<Value, KmsError>> + Send + 'a>> {
    let operation = request.operation();
    match request {
        Request::CancelKeyDeletion(input) => Box::pin(ops::cancel_key_deletion::handle(ctx, input)),
        Request::CreateAlias(input) => Box::pin(ops::create_alias::handle(ctx, input)),
        Request::CreateGrant(input) => Box::pin(ops::create_grant::handle(ctx, input)),
        Request::CreateKey(input) => Box::pin(ops::create_key::handle(ctx, input)),
        Request::Decapsulate(input) => Box::pin(ops::decapsulate::handle(ctx, input)),
        Request::Decrypt(input) => Box::pin(ops::decrypt::handle(ctx, input)),
        Request::DeleteImportedKeyMaterial(input) => Box::pin(ops::delete_imported_key_material::handle(ctx, input)),
        Request::DeleteAlias(input) => Box::pin(ops::delete_alias::handle(ctx, input)),
        Request::DeriveSharedSecret(input) => Box::pin(ops::derive_shared_secret::handle(ctx, input)),
        Request::DescribeKey(input) => Box::pin(ops::describe_key::handle(ctx, input)),
        Request::DisableKey(input) => Box::pin(ops::disable_key::handle(ctx, input)),
        Request::DisableKeyRotation(input) => Box::pin(ops::disable_key_rotation::handle(ctx, input)),
        Request::EnableKey(input) => Box::pin(ops::enable_key::handle(ctx, input)),
        Request::Encapsulate(input) => Box::pin(ops::encapsulate::handle(ctx, input)),
        Request::EnableKeyRotation(input) => Box::pin(ops::enable_key_rotation::handle(ctx, input)),
        Request::Encrypt(input) => Box::pin(ops::encrypt::handle(ctx, input)),
        Request::GenerateDataKey(input) => Box::pin(ops::generate_data_key::handle(ctx, input)),
        Request::GenerateDataKeyPair(input) => Box::pin(ops::generate_data_key_pair::handle(ctx, input)),
        Request::GenerateDataKeyPairWithoutPlaintext(input) => Box::pin(ops::generate_data_key_pair_without_plaintext::handle(ctx, input)),
        Request::GenerateDataKeyWithoutPlaintext(input) => Box::pin(ops::generate_data_key_without_plaintext::handle(ctx, input)),
        Request::GenerateMac(input) => Box::pin(ops::generate_mac::handle(ctx, input)),
        Request::GenerateRandom(input) => Box::pin(ops::generate_random::handle(ctx, input)),
        Request::GetKeyLastUsage(input) => Box::pin(ops::get_key_last_usage::handle(ctx, input)),
        Request::GetKeyPolicy(input) => Box::pin(ops::get_key_policy::handle(ctx, input)),
        Request::GetPublicKey(input) => Box::pin(ops::get_public_key::handle(ctx, input)),
        Request::GetParametersForImport(input) => Box::pin(ops::get_parameters_for_import::handle(ctx, input)),
        Request::ImportKeyMaterial(input) => Box::pin(ops::import_key_material::handle(ctx, input)),
        Request::GetKeyRotationStatus(input) => Box::pin(ops::get_key_rotation_status::handle(ctx, input)),
        Request::ListAliases(input) => Box::pin(ops::list_aliases::handle(ctx, input)),
        Request::ListGrants(input) => Box::pin(ops::list_grants::handle(ctx, input)),
        Request::ListKeyPolicies(input) => Box::pin(ops::list_key_policies::handle(ctx, input)),
        Request::ListKeyRotations(input) => Box::pin(ops::list_key_rotations::handle(ctx, input)),
        Request::ListKeys(input) => Box::pin(ops::list_keys::handle(ctx, input)),
        Request::ListResourceTags(input) => Box::pin(ops::list_resource_tags::handle(ctx, input)),
        Request::ListRetirableGrants(input) => Box::pin(ops::list_retirable_grants::handle(ctx, input)),
        Request::PutKeyPolicy(input) => Box::pin(ops::put_key_policy::handle(ctx, input)),
        Request::ReEncrypt(input) => Box::pin(ops::re_encrypt::handle(ctx, input)),
        Request::RetireGrant(input) => Box::pin(ops::retire_grant::handle(ctx, input)),
        Request::RevokeGrant(input) => Box::pin(ops::revoke_grant::handle(ctx, input)),
        Request::RotateKeyOnDemand(input) => Box::pin(ops::rotate_key_on_demand::handle(ctx, input)),
        Request::ScheduleKeyDeletion(input) => Box::pin(ops::schedule_key_deletion::handle(ctx, input)),
        Request::Sign(input) => Box::pin(ops::sign::handle(ctx, input)),
        Request::TagResource(input) => Box::pin(ops::tag_resource::handle(ctx, input)),
        Request::UntagResource(input) => Box::pin(ops::untag_resource::handle(ctx, input)),
        Request::UpdateAlias(input) => Box::pin(ops::update_alias::handle(ctx, input)),
        Request::UpdateKeyDescription(input) => Box::pin(ops::update_key_description::handle(ctx, input)),
        Request::Verify(input) => Box::pin(ops::verify::handle(ctx, input)),
        Request::VerifyMac(input) => Box::pin(ops::verify_mac::handle(ctx, input)),
        // In the model, not yet in Trent: said plainly rather than faked.
        Request::ConnectCustomKeyStore(_)
        | Request::CreateCustomKeyStore(_)
        | Request::DeleteCustomKeyStore(_)
        | Request::DescribeCustomKeyStores(_)
        | Request::DisconnectCustomKeyStore(_)
        | Request::ReplicateKey(_)
        | Request::UpdateCustomKeyStore(_)
        | Request::UpdatePrimaryRegion(_) => {
            let err = KmsError::new(ErrorCode::UnsupportedOperation, format!("Trent does not support {} yet.", operation.name()));
            Box::pin(std::future::ready(Err(err)))
        }
    }
}
