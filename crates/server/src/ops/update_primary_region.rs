//! UpdatePrimaryRegion: the replica in `PrimaryRegion` becomes the primary
//! of its multi-Region set, the current primary a replica. Authorization
//! (`authz::primary_and_replica`) checked the action on both keys, each by
//! its own key policy, with `kms:PrimaryRegion`. No output, as in AWS.

use serde_json::{json, Value};
use trent_model::input::UpdatePrimaryRegionRequest;
use trent_store::KeyRecord;

use crate::authz::Authorized;
use crate::keys::multi_region;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;

pub async fn handle(ctx: &OpCtx<'_>, _req: UpdatePrimaryRegionRequest, primary: Authorized<KeyRecord>, replica: Authorized<KeyRecord>) -> Result<Value, KmsError> {
    multi_region::update_primary(ctx, &primary, &replica).await?;
    Ok(json!({}))
}
