//! Multi-Region keys: a key created with `MultiRegion=true` has an `mrk-`
//! id and is the primary of its set; ReplicateKey adds a replica, with the
//! same id, in another Region. Each member is its own row in the store
//! (found by id and Region); they share the material rows, and the store
//! copies what the set shares (current material, rotation) from the
//! primary to its replicas. The replica set is read from the rows sharing
//! the id, never kept in a document, so it cannot drift.

use serde_json::{json, Value};
use trent_store::{KeyRecord, KeyState, Millis, Store, StoreError};
use uuid::Uuid;

use crate::authz::Authorized;
use crate::keys::change::{gone, reread, MAX_CHANGE_ATTEMPTS};
use crate::keys::reference::multi_region_id;
use crate::keys::OpCtx;
use crate::protocol::catalogue::Error;
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
    if !key.multi_region {
        return None;
    }
    Some(if key.is_replica() { "REPLICA" } else { "PRIMARY" })
}

/// The Region of the set's primary key.
pub fn primary_region(key: &KeyRecord) -> &str {
    key.primary_region.as_deref().unwrap_or(&key.region)
}

/// `MultiRegionConfiguration` of DescribeKey, for a multi-Region key:
/// `members` are the rows sharing its id (the key itself among them, or
/// none when they were not read: a key just created has no replicas).
pub fn configuration(key: &KeyRecord, members: &[KeyRecord]) -> Option<Value> {
    let kind = key_type(key)?;
    let primary = primary_region(key);
    let primary_arn = members.iter().find(|m| m.region == primary).map(|m| m.arn.clone()).unwrap_or_else(|| arn_in(key, primary));
    let replicas: Vec<Value> = members.iter().filter(|m| m.region != primary).map(|m| json!({ "Arn": m.arn, "Region": m.region })).collect();
    Some(json!({
        "MultiRegionKeyType": kind,
        "PrimaryKey": { "Arn": primary_arn, "Region": primary },
        "ReplicaKeys": replicas,
    }))
}

/// The ARN `key`'s id has in `region`.
fn arn_in(key: &KeyRecord, region: &str) -> String {
    crate::keys::reference::key_arn(region, &key.account_id, &key.key_id)
}

/// Every member of the authorized key's set (the key among them).
pub async fn members(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>) -> Result<Vec<KeyRecord>, KmsError> {
    if !key.multi_region {
        return Ok(vec![]);
    }
    Ok(ctx.store().key_members(&key.key_id).await?)
}

/// What AWS refuses to replicate: anything but a multi-Region primary, a
/// primary that is disabled (DisabledException) or in a transient or
/// deletion state (KMSInvalidStateException).
pub fn check_replicable(key: &KeyRecord) -> Result<(), KmsError> {
    if !key.multi_region || key.is_replica() {
        return Err(Error::NotMultiRegionPrimary { arn: key.arn.clone() }.into());
    }
    match key.state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(Error::Disabled { arn: key.arn.clone() }.into()),
        other => Err(crate::keys::state::invalid(key, other)),
    }
}

/// ReplicateKey's Region: one this deployment serves (`--regions`), other
/// than the primary's (which holds a member: AlreadyExistsException).
pub fn check_replica_region(ctx: &OpCtx<'_>, primary: &Authorized<KeyRecord>, region: &str) -> Result<(), KmsError> {
    if !ctx.state().regions.contains(region) {
        return Err(Error::RegionNotServed { region: region.to_owned() }.into());
    }
    if region == primary.region {
        return Err(Error::ReplicaExists { arn: arn_in(primary, region) }.into());
    }
    Ok(())
}

/// A replica of `primary` in `region`: its id, key spec, usage, origin,
/// material and rotation; its own ARN, policy, description and tags. It
/// starts `Creating` ([`settle`] makes it `Enabled`). Of a primary with
/// imported material it has none: it lists the primary's materials
/// PENDING_IMPORT, and waits for the same material to be imported into it
/// (AWS: "the replica key is created with no key material").
pub fn replica_of(primary: &KeyRecord, region: &str, policy: String, description: String, tags: Vec<trent_store::Tag>, now: trent_store::Millis) -> KeyRecord {
    let mut replica = KeyRecord {
        key_id: primary.key_id.clone(),
        account_id: primary.account_id.clone(),
        region: region.to_owned(),
        arn: arn_in(primary, region),
        created_at: now,
        description,
        key_usage: primary.key_usage.clone(),
        key_spec: primary.key_spec.clone(),
        origin: primary.origin.clone(),
        state: KeyState::Creating,
        deletion_date: None,
        pending_window_days: None,
        policy,
        tags,
        current_material_id: primary.current_material_id.clone(),
        multi_region: true,
        primary_region: Some(primary.region.clone()),
        rotation: primary.rotation.clone(),
        import: Default::default(),
        key_manager: Default::default(),
        custom_key_store_id: None,
        xks_key_id: None,
        row_version: 0,
    };
    replica.share_from(primary);
    replica
}

/// ReplicateKey's write: `replica` (made by [`replica_of`] from the
/// authorized primary) joins the set, atomically with a check that the
/// primary is unchanged; when another request changed the primary first it
/// is read again and checked again. A Region that holds a member already is
/// AWS's AlreadyExistsException, whichever node got there first.
pub async fn insert_replica(ctx: &OpCtx<'_>, primary: &Authorized<KeyRecord>, replica: &KeyRecord) -> Result<(), KmsError> {
    if replica.key_id != primary.key_id || replica.account_id != primary.account_id || replica.region == primary.region {
        return Err(KmsError::internal(format!("{} is not a replica of the authorized {}", replica.arn, primary.arn)));
    }
    let mut current: KeyRecord = (**primary).clone();
    for _ in 0..MAX_CHANGE_ATTEMPTS {
        match ctx.store().insert_replica(&current, replica).await {
            Ok(()) => return Ok(()),
            Err(StoreError::AlreadyExists) => return Err(Error::ReplicaExists { arn: replica.arn.clone() }.into()),
            Err(StoreError::NotFound) => return Err(gone(&current)),
            Err(StoreError::Conflict) => {
                current = reread(ctx, &current).await?;
                check_replicable(&current)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(KmsError::internal(format!("{} kept changing under {MAX_CHANGE_ATTEMPTS} attempts to replicate it", current.arn)))
}

/// What UpdatePrimaryRegion refuses on either key: a replica named as the
/// primary or a single-Region key (UnsupportedOperationException), a
/// disabled key (DisabledException), a key being created, updated or
/// deleted (KMSInvalidStateException).
fn check_movable(key: &KeyRecord, as_primary: bool) -> Result<(), KmsError> {
    if as_primary {
        check_is_primary(key)?;
    }
    if !key.multi_region {
        return Err(Error::NotMultiRegionPrimaryToMove { arn: key.arn.clone() }.into());
    }
    match key.state {
        KeyState::Enabled | KeyState::PendingImport | KeyState::Unavailable => Ok(()),
        KeyState::Disabled => Err(Error::Disabled { arn: key.arn.clone() }.into()),
        other => Err(crate::keys::state::invalid(key, other)),
    }
}

/// UpdatePrimaryRegion's `KeyId` must name the set's current primary.
pub fn check_is_primary(key: &KeyRecord) -> Result<(), KmsError> {
    if !key.multi_region || key.is_replica() {
        return Err(Error::NotMultiRegionPrimaryToMove { arn: key.arn.clone() }.into());
    }
    Ok(())
}

/// UpdatePrimaryRegion: the authorized `replica` becomes its set's primary
/// and the authorized `primary` a replica. Every member names the new
/// primary, written in one transaction (the new primary last), so every
/// node sees the old or the new set, never a mix, and two racing changes
/// of one set cannot both win (the loser re-reads and re-checks). AWS
/// shows both keys `Updating` for a few seconds; Trent's change is done
/// when it answers, so they keep their states. Naming the current
/// primary's own Region changes nothing.
pub async fn update_primary(ctx: &OpCtx<'_>, primary: &Authorized<KeyRecord>, replica: &Authorized<KeyRecord>) -> Result<(), KmsError> {
    if replica.key_id != primary.key_id || replica.account_id != primary.account_id {
        return Err(KmsError::internal(format!("{} is not a member of the set of {}", replica.arn, primary.arn)));
    }
    check_movable(primary, true)?;
    check_movable(replica, false)?;
    if replica.region == primary.region {
        return Ok(());
    }
    for _ in 0..MAX_CHANGE_ATTEMPTS {
        let mut members = ctx.store().key_members(&primary.key_id).await?;
        let Some(old) = members.iter().find(|m| m.region == primary.region) else { return Err(gone(primary)) };
        check_movable(old, true)?;
        let Some(new) = members.iter().find(|m| m.region == replica.region) else { return Err(gone(replica)) };
        check_movable(new, false)?;
        for m in &mut members {
            m.primary_region = Some(replica.region.clone());
        }
        members.sort_by_key(|m| m.region == replica.region);
        match ctx.store().update_keys(&members).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict | StoreError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(KmsError::internal(format!("{} kept changing under {MAX_CHANGE_ATTEMPTS} attempts to move its primary", primary.arn)))
}

/// The Regions of the replicas of a multi-Region primary that have not
/// imported `material_id` (yet, or any more): AWS rotates a set with
/// imported material only once every replica has the new material, and
/// lists it PENDING_MULTI_REGION_IMPORT_AND_ROTATION until then.
pub async fn replicas_lacking(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>, material_id: &str) -> Result<Vec<String>, StoreError> {
    lacking_in(ctx.store(), key, material_id).await
}

/// [`replicas_lacking`], for `crate::keys` (the key as re-read).
pub(in crate::keys) async fn lacking_in(store: &dyn Store, key: &KeyRecord, material_id: &str) -> Result<Vec<String>, StoreError> {
    if !key.multi_region || key.is_replica() {
        return Ok(vec![]);
    }
    let members = store.key_members(&key.key_id).await?;
    let has = |m: &KeyRecord| m.imported_materials().iter().any(|i| i.material_id == material_id && i.imported);
    Ok(members.iter().filter(|m| m.region != key.region && !has(m)).map(|m| m.region.clone()).collect())
}

/// True if a multi-Region primary has replicas (rows sharing its id).
async fn has_replicas(store: &dyn Store, key: &KeyRecord) -> Result<bool, StoreError> {
    if !key.multi_region || key.is_replica() {
        return Ok(false);
    }
    Ok(store.key_members(&key.key_id).await?.iter().any(|m| m.region != key.region))
}

/// ScheduleKeyDeletion: the key pending deletion for `days` from `now`,
/// except a multi-Region primary with replicas, which AWS holds in
/// `PendingReplicaDeletion` (no deletion date yet) until its last replica
/// is destroyed; only then does its waiting period begin ([`release`]).
/// A replica added between the look at the set and the write (ReplicateKey
/// on another node) is caught by a second look after it.
pub async fn schedule_deletion(ctx: &OpCtx<'_>, key: Authorized<KeyRecord>, now: Millis, days: i32) -> Result<KeyRecord, KmsError> {
    let waits = has_replicas(ctx.store(), &key).await?;
    let schedule = move |k: &mut KeyRecord, waits: bool| {
        crate::keys::state::not_pending_deletion(k)?;
        k.pending_window_days = Some(days);
        if waits {
            k.state = KeyState::PendingReplicaDeletion;
            k.deletion_date = None;
        } else {
            k.state = KeyState::PendingDeletion;
            k.deletion_date = Some(now + i64::from(days) * DAY_MILLIS);
        }
        Ok(())
    };
    let mut saved = crate::keys::change::modify_key(ctx, key, |k| schedule(k, waits)).await?;
    while saved.state == KeyState::PendingDeletion && has_replicas(ctx.store(), &saved).await? {
        let mut held = saved.clone();
        held.state = KeyState::PendingReplicaDeletion;
        held.deletion_date = None;
        match ctx.store().update_key(&held).await {
            Ok(row_version) => {
                held.row_version = row_version;
                saved = held;
            }
            Err(StoreError::Conflict) => saved = reread(ctx, &saved).await?,
            Err(StoreError::NotFound) => return Err(gone(&saved)),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(saved)
}

/// A primary `PendingReplicaDeletion` whose replicas are all gone begins
/// its waiting period (`pending_window_days` from `now`). Called after a
/// replica is destroyed and whenever a request reads such a primary, so a
/// node that died between the two leaves nothing stuck.
pub async fn release(store: &dyn Store, mut key: KeyRecord, now: Millis) -> Result<KeyRecord, StoreError> {
    for _ in 0..MAX_CHANGE_ATTEMPTS {
        if key.state != KeyState::PendingReplicaDeletion || has_replicas(store, &key).await? {
            return Ok(key);
        }
        let mut next = key.clone();
        next.state = KeyState::PendingDeletion;
        next.deletion_date = Some(now + i64::from(key.pending_window_days.unwrap_or(30)) * DAY_MILLIS);
        match store.update_key(&next).await {
            Ok(row_version) => {
                next.row_version = row_version;
                return Ok(next);
            }
            Err(StoreError::Conflict) => key = store.get_key(&key.key_id, &key.region).await?.ok_or(StoreError::NotFound)?,
            Err(e) => return Err(e),
        }
    }
    Ok(key)
}

/// After a replica was destroyed: its primary, if waiting for it, may now
/// begin its waiting period.
pub async fn replica_destroyed(store: &dyn Store, replica: &KeyRecord, now: Millis) -> Result<(), StoreError> {
    let Some(primary_region) = replica.primary_region.as_deref().filter(|_| replica.is_replica()) else { return Ok(()) };
    if let Some(primary) = store.get_key(&replica.key_id, primary_region).await? {
        release(store, primary, now).await?;
    }
    Ok(())
}

const DAY_MILLIS: Millis = 24 * 60 * 60 * 1000;

/// A replica is `Creating` from ReplicateKey's answer until the first
/// request that reads it after that answer: that request finds it
/// `Enabled`, or `PendingImport` while it lacks imported material (and
/// saves it so). AWS makes the change "after a few seconds"; Trent's
/// replica needs no copying (the members share the material rows), so it
/// waits for nothing but the answer.
pub async fn settle(store: &dyn Store, mut key: KeyRecord) -> Result<KeyRecord, StoreError> {
    for _ in 0..MAX_CHANGE_ATTEMPTS {
        if key.state != KeyState::Creating {
            return Ok(key);
        }
        let mut next = key.clone();
        let lacks_material = key.origin == "EXTERNAL" && key.imported_materials().iter().any(|m| !m.imported && !m.pending_rotation);
        next.state = if lacks_material { KeyState::PendingImport } else { KeyState::Enabled };
        match store.update_key(&next).await {
            Ok(row_version) => {
                next.row_version = row_version;
                return Ok(next);
            }
            Err(StoreError::Conflict) => key = store.get_key(&key.key_id, &key.region).await?.ok_or(StoreError::NotFound)?,
            Err(e) => return Err(e),
        }
    }
    Ok(key)
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
        assert_eq!(configuration(&key, &[]), None);
        assert_eq!(key_type(&key), None);
        key.multi_region = true;
        let c = configuration(&key, &[]).unwrap();
        assert_eq!(c["MultiRegionKeyType"], "PRIMARY");
        assert_eq!(c["PrimaryKey"], json!({ "Arn": key.arn, "Region": key.region }));
        assert_eq!(c["ReplicaKeys"], json!([]));
    }

    /// Every member shows the same set: the primary and the replicas, each
    /// with its own ARN; only the type differs.
    #[test]
    fn every_member_shows_the_whole_set() {
        let (mut primary, _) = trent_store::conformance::sample_key("111122223333", "mrk-0123456789abcdef0123456789abcdef");
        primary.multi_region = true;
        primary.primary_region = Some("us-east-1".into());
        let west = replica_of(&primary, "eu-west-1", "{}".into(), String::new(), vec![], 1);
        let south = replica_of(&primary, "ap-south-1", "{}".into(), String::new(), vec![], 1);
        assert_eq!(west.arn, "arn:aws:kms:eu-west-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef");
        let members = [south.clone(), west.clone(), primary.clone()];
        for (member, kind) in [(&primary, "PRIMARY"), (&west, "REPLICA"), (&south, "REPLICA")] {
            let c = configuration(member, &members).unwrap();
            assert_eq!(c["MultiRegionKeyType"], kind);
            assert_eq!(c["PrimaryKey"], json!({ "Arn": primary.arn, "Region": "us-east-1" }));
            assert_eq!(c["ReplicaKeys"], json!([{ "Arn": south.arn, "Region": "ap-south-1" }, { "Arn": west.arn, "Region": "eu-west-1" }]));
        }
    }

    #[test]
    fn only_an_enabled_primary_is_replicated() {
        let (mut key, _) = trent_store::conformance::sample_key("111122223333", "mrk-0123456789abcdef0123456789abcdef");
        let code = |k: &KeyRecord| check_replicable(k).err().map(|e| e.code.name());
        assert_eq!(code(&key), Some("UnsupportedOperationException"), "a single-Region key");
        key.multi_region = true;
        assert_eq!(code(&key), None);
        let replica = replica_of(&key, "eu-west-1", "{}".into(), String::new(), vec![], 1);
        assert_eq!(code(&replica), Some("UnsupportedOperationException"), "a replica");
        key.state = KeyState::Disabled;
        assert_eq!(code(&key), Some("DisabledException"));
        key.state = KeyState::PendingDeletion;
        assert_eq!(code(&key), Some("KMSInvalidStateException"));
    }
}
