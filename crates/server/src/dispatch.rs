//! Dispatch: a typed request (`trent_model::Request`, which holds only the
//! members of its operation's input shape) goes through AWS's limits, the
//! one authorization step ([`crate::authz::authorize`]) and then to the file
//! that implements its operation, which receives what was authorized and an
//! [`OpCtx`] (no path to the store or the root key but through what was
//! authorized). [`table`] is the operation table every step reads.

pub mod table;
pub mod throttle;

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;
use trent_model::Request;

use crate::authz::Access;
use crate::keys::OpCtx;
use crate::ops;
use crate::protocol::error::KmsError;
use crate::state::Ctx;

/// Runs a request.
pub async fn call(ctx: &Ctx, request: Request) -> Result<Value, KmsError> {
    crate::protocol::limits::check(&request)?;
    let row = table::describe(request.operation());
    let access = crate::authz::authorize(ctx, &request).await?;
    if let Some(throttle) = &ctx.state.throttle {
        // After authorization: the key's type decides a cryptographic
        // operation's quota, as in AWS.
        let key_spec = match &access {
            Access::Key { key, .. } => Some(key.key_spec.as_str()),
            Access::ReEncrypt { source, .. } => Some(source.key_spec.as_str()),
            _ => None,
        };
        if !throttle.admit(&ctx.principal.account_id, &ctx.region, row.operation, key_spec) {
            return Err(crate::protocol::catalogue::Error::RateExceeded.into());
        }
    }
    // From here on the handler's view: no store, no root key.
    let op = OpCtx::new(ctx);
    let result = run(&op, request, access).await;
    if let (true, Ok(answer)) = (row.tracked_use, &result) {
        note_key_use(ctx, row.operation.name(), answer);
    }
    result
}

/// A successful cryptographic operation is a use of the keys its answer
/// names (ReEncrypt: both), for GetKeyLastUsage, with the request's id and
/// the eventID of its audit event.
fn note_key_use(ctx: &Ctx, operation: &str, answer: &Value) {
    for field in ["KeyId", "SourceKeyId"] {
        if let Some(key_id) = answer.get(field).and_then(Value::as_str).and_then(|arn| arn.rsplit('/').next()) {
            ctx.state.usage.note(key_id, &ctx.region, operation, &ctx.request_id, &ctx.event_id, ctx.now());
        }
    }
}

/// Each operation's future is boxed on its own: awaited inline, the largest
/// of them (several KiB) set the size of every request's future, which is
/// moved several times per request (docs/BENCHMARKS.md).
/// Each handler gets the part of `access` its row's resource kind made; a
/// mismatch between the table and this match is an internal error.
fn run<'a>(ctx: &'a OpCtx<'a>, request: Request, access: Access) -> Pin<Box<dyn Future<Output = Result<Value, KmsError>> + Send + 'a>> {
    fn boxed<'a>(f: impl Future<Output = Result<Value, KmsError>> + Send + 'a) -> Pin<Box<dyn Future<Output = Result<Value, KmsError>> + Send + 'a>> {
        Box::pin(f)
    }
    fn failed<'a>(e: KmsError) -> Pin<Box<dyn Future<Output = Result<Value, KmsError>> + Send + 'a>> {
        Box::pin(std::future::ready(Err(e)))
    }
    // The part of `access` a handler takes, or the table's mismatch as an error.
    macro_rules! with {
        ($part:ident, |$v:pat_param| $call:expr) => {
            match access.$part() {
                Ok($v) => boxed($call),
                Err(e) => failed(e),
            }
        };
    }
    match request {
        Request::CancelKeyDeletion(input) => with!(key, |key| ops::cancel_key_deletion::handle(ctx, input, key)),
        Request::CreateAlias(input) => with!(alias, |(alias, current, target)| ops::create_alias::handle(ctx, input, alias, current, target)),
        Request::CreateGrant(input) => with!(key_and_grant, |(key, parent)| ops::create_grant::handle(ctx, input, key, parent)),
        Request::CreateKey(input) => with!(account, |(account, _)| ops::create_key::handle(ctx, input, account)),
        Request::Decapsulate(input) => with!(key, |key| ops::decapsulate::handle(ctx, input, key)),
        Request::Decrypt(input) => with!(key, |key| ops::decrypt::handle(ctx, input, key)),
        Request::DeleteImportedKeyMaterial(input) => with!(key, |key| ops::delete_imported_key_material::handle(ctx, input, key)),
        Request::DeleteAlias(input) => with!(alias, |(alias, current, target)| ops::delete_alias::handle(ctx, input, alias, current, target)),
        Request::DeriveSharedSecret(input) => with!(key, |key| ops::derive_shared_secret::handle(ctx, input, key)),
        Request::DescribeKey(input) => with!(key, |key| ops::describe_key::handle(ctx, input, key)),
        Request::DisableKey(input) => with!(key, |key| ops::disable_key::handle(ctx, input, key)),
        Request::DisableKeyRotation(input) => with!(key, |key| ops::disable_key_rotation::handle(ctx, input, key)),
        Request::EnableKey(input) => with!(key, |key| ops::enable_key::handle(ctx, input, key)),
        Request::Encapsulate(input) => with!(key, |key| ops::encapsulate::handle(ctx, input, key)),
        Request::EnableKeyRotation(input) => with!(key, |key| ops::enable_key_rotation::handle(ctx, input, key)),
        Request::Encrypt(input) => with!(key, |key| ops::encrypt::handle(ctx, input, key)),
        Request::GenerateDataKey(input) => with!(key, |key| ops::generate_data_key::handle(ctx, input, key)),
        Request::GenerateDataKeyPair(input) => with!(key, |key| ops::generate_data_key_pair::handle(ctx, input, key)),
        Request::GenerateDataKeyPairWithoutPlaintext(input) => with!(key, |key| ops::generate_data_key_pair_without_plaintext::handle(ctx, input, key)),
        Request::GenerateDataKeyWithoutPlaintext(input) => with!(key, |key| ops::generate_data_key_without_plaintext::handle(ctx, input, key)),
        Request::GenerateMac(input) => with!(key, |key| ops::generate_mac::handle(ctx, input, key)),
        Request::GenerateRandom(input) => with!(account, |(account, _)| ops::generate_random::handle(ctx, input, account)),
        Request::GetKeyLastUsage(input) => with!(key, |key| ops::get_key_last_usage::handle(ctx, input, key)),
        Request::GetKeyPolicy(input) => with!(key, |key| ops::get_key_policy::handle(ctx, input, key)),
        Request::GetPublicKey(input) => with!(key, |key| ops::get_public_key::handle(ctx, input, key)),
        Request::GetParametersForImport(input) => with!(key, |key| ops::get_parameters_for_import::handle(ctx, input, key)),
        Request::ImportKeyMaterial(input) => with!(key, |key| ops::import_key_material::handle(ctx, input, key)),
        Request::GetKeyRotationStatus(input) => with!(key, |key| ops::get_key_rotation_status::handle(ctx, input, key)),
        Request::ListAliases(input) => with!(account, |(account, key)| ops::list_aliases::handle(ctx, input, account, key)),
        Request::ListGrants(input) => with!(key, |key| ops::list_grants::handle(ctx, input, key)),
        Request::ListKeyPolicies(input) => with!(key, |key| ops::list_key_policies::handle(ctx, input, key)),
        Request::ListKeyRotations(input) => with!(key, |key| ops::list_key_rotations::handle(ctx, input, key)),
        Request::ListKeys(input) => with!(account, |(account, _)| ops::list_keys::handle(ctx, input, account)),
        Request::ListResourceTags(input) => with!(key, |key| ops::list_resource_tags::handle(ctx, input, key)),
        Request::ListRetirableGrants(input) => with!(account, |(account, _)| ops::list_retirable_grants::handle(ctx, input, account)),
        Request::PutKeyPolicy(input) => with!(key, |key| ops::put_key_policy::handle(ctx, input, key)),
        Request::ReEncrypt(input) => with!(re_encrypt, |(source, destination)| ops::re_encrypt::handle(ctx, input, source, destination)),
        Request::RetireGrant(input) => with!(grant, |grant| ops::retire_grant::handle(ctx, input, grant)),
        Request::RevokeGrant(input) => with!(key, |key| ops::revoke_grant::handle(ctx, input, key)),
        Request::RotateKeyOnDemand(input) => with!(key, |key| ops::rotate_key_on_demand::handle(ctx, input, key)),
        Request::ScheduleKeyDeletion(input) => with!(key, |key| ops::schedule_key_deletion::handle(ctx, input, key)),
        Request::Sign(input) => with!(key, |key| ops::sign::handle(ctx, input, key)),
        Request::TagResource(input) => with!(key, |key| ops::tag_resource::handle(ctx, input, key)),
        Request::UntagResource(input) => with!(key, |key| ops::untag_resource::handle(ctx, input, key)),
        Request::UpdateAlias(input) => with!(alias, |(alias, current, target)| ops::update_alias::handle(ctx, input, alias, current, target)),
        Request::UpdateKeyDescription(input) => with!(key, |key| ops::update_key_description::handle(ctx, input, key)),
        Request::Verify(input) => with!(key, |key| ops::verify::handle(ctx, input, key)),
        Request::VerifyMac(input) => with!(key, |key| ops::verify_mac::handle(ctx, input, key)),
        Request::ConnectCustomKeyStore(input) => with!(account, |(account, _)| ops::connect_custom_key_store::handle(ctx, input, account)),
        Request::CreateCustomKeyStore(input) => with!(account, |(account, _)| ops::create_custom_key_store::handle(ctx, input, account)),
        Request::DeleteCustomKeyStore(input) => with!(account, |(account, _)| ops::delete_custom_key_store::handle(ctx, input, account)),
        Request::DescribeCustomKeyStores(input) => with!(account, |(account, _)| ops::describe_custom_key_stores::handle(ctx, input, account)),
        Request::DisconnectCustomKeyStore(input) => with!(account, |(account, _)| ops::disconnect_custom_key_store::handle(ctx, input, account)),
        Request::UpdateCustomKeyStore(input) => with!(account, |(account, _)| ops::update_custom_key_store::handle(ctx, input, account)),
        Request::ReplicateKey(input) => with!(key, |key| ops::replicate_key::handle(ctx, input, key)),
        Request::UpdatePrimaryRegion(input) => with!(primary_and_replica, |(primary, replica)| ops::update_primary_region::handle(ctx, input, primary, replica)),
    }
}
