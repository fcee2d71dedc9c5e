//! ReplicateKey: a replica of a multi-Region primary key in another Region
//! of the deployment, with the primary's id, key spec, usage, origin,
//! material and rotation, and its own policy, description and tags. It
//! answers with the replica `Creating`; the next request to read the
//! replica finds it `Enabled` (`keys::multi_region::settle`), or, of a
//! primary with imported material, `PendingImport` until the same material
//! is imported into it.
//!
//! Authorization (`authz::replicate`) checked `kms:ReplicateKey` on the
//! primary and `kms:CreateKey` in the caller's identity policies, both with
//! `kms:ReplicaRegion`.

use serde_json::{json, Value};
use trent_model::input::ReplicateKeyRequest;
use trent_store::KeyRecord;

use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keys::{metadata, multi_region, policy, tags};
use crate::protocol::catalogue::Error;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, req: ReplicateKeyRequest, primary: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    multi_region::check_replicable(&primary)?;
    multi_region::check_replica_region(ctx, &primary, &req.replica_region)?;
    let policy_given = req.policy.is_some();
    let policy = match req.policy {
        Some(p) => {
            policy::validate(&p)?;
            policy::check_principals(ctx, &primary, &p).await?;
            p
        }
        None => policy::default_policy(&primary.account_id),
    };
    let tags = tags::parse(super::tag_inputs(req.tags.unwrap_or_default()))?;
    if tags.len() > tags::MAX_TAGS_PER_KEY {
        return Err(Error::TooManyTags { max: tags::MAX_TAGS_PER_KEY.to_string() }.into());
    }
    let replica = multi_region::replica_of(&primary, &req.replica_region, policy, req.description.unwrap_or_default(), tags, ctx.now());
    if policy_given {
        policy::lockout_check(ctx, &primary, &replica, req.bypass_policy_lockout_safety_check == Some(true)).await?;
    }
    multi_region::insert_replica(ctx, &primary, &replica).await?;

    let members = multi_region::members(ctx, &primary).await?;
    let mut m = metadata::key_metadata(&replica);
    if let Some(configuration) = multi_region::configuration(&replica, &members) {
        m["MultiRegionConfiguration"] = configuration;
    }
    let tags: Vec<Value> = replica.tags.iter().map(|t| json!({ "TagKey": t.key, "TagValue": t.value })).collect();
    Ok(json!({ "ReplicaKeyMetadata": m, "ReplicaPolicy": replica.policy, "ReplicaTags": tags }))
}
