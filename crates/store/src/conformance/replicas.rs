//! Multi-Region keys: a key is its id AND Region; the members of a set
//! share the id and the material rows, each has its own row, grants,
//! aliases, last use and deletion; one replica per Region, decided
//! atomically; the primary's rotation reaches every replica.

use futures_util::future::join_all;

use super::sample_key;
use crate::*;

const M: &str = "mrk-0123456789abcdef0123456789abcdef";
const RACE: &str = "mrk-fedcba9876543210fedcba9876543210";
const ACCOUNT: &str = "737373737373";

fn primary(key_id: &str) -> (KeyRecord, MaterialRecord) {
    let (mut key, material) = sample_key(ACCOUNT, key_id);
    key.multi_region = true;
    key.primary_region = Some("us-east-1".into());
    (key, material)
}

/// `primary`'s replica in `region`: its own row, the shared properties.
pub fn replica_of(primary: &KeyRecord, region: &str) -> KeyRecord {
    let mut replica = primary.clone();
    replica.region = region.to_owned();
    replica.arn = primary.arn.replace(&format!(":{}:", primary.region), &format!(":{region}:"));
    replica.description = format!("replica in {region}");
    replica.tags = vec![];
    replica.row_version = 0;
    replica
}

pub(super) async fn run_all(store: &dyn Store) {
    members_are_found_by_id_and_region(store).await;
    the_primarys_rotation_reaches_every_replica(store).await;
    grants_aliases_and_uses_belong_to_one_member(store).await;
    material_goes_with_the_last_member(store).await;
    racing_replications_into_one_region(store).await;
    the_primary_moves_with_every_member_at_once(store).await;
}

/// UpdatePrimaryRegion's write: every member names the new primary, all
/// or none; afterwards the new primary is the one that rotates.
async fn the_primary_moves_with_every_member_at_once(store: &dyn Store) {
    let moved = |k: &KeyRecord| {
        let mut k = k.clone();
        k.primary_region = Some("eu-west-1".into());
        k
    };
    let members = store.key_members(RACE).await.unwrap();
    let mut east = store.get_key(RACE, "us-east-1").await.unwrap().unwrap();
    east.rotation.next_at = Some(50);
    east.row_version = store.update_key(&east).await.unwrap();
    assert_eq!(store.keys_due_for_rotation(50).await.unwrap().iter().filter(|l| l.key_id == RACE).map(|l| l.region.as_str()).collect::<Vec<_>>(), vec!["us-east-1"]);
    // A stale member: nothing is written.
    let stale: Vec<KeyRecord> = members.iter().map(moved).collect();
    assert!(matches!(store.update_keys(&stale).await, Err(StoreError::Conflict)));
    assert!(store.key_members(RACE).await.unwrap().iter().all(|m| m.primary_region.as_deref() == Some("us-east-1")), "all or none");
    // Current copies, the new primary last: every member moves.
    let mut current: Vec<KeyRecord> = store.key_members(RACE).await.unwrap().iter().map(moved).collect();
    current.sort_by_key(|m| m.region == "eu-west-1");
    store.update_keys(&current).await.unwrap();
    let after = store.key_members(RACE).await.unwrap();
    assert!(after.iter().all(|m| m.primary_region.as_deref() == Some("eu-west-1")));
    assert!(after.iter().find(|m| m.region == "us-east-1").unwrap().is_replica());
    assert_eq!(store.keys_due_for_rotation(50).await.unwrap().iter().filter(|l| l.key_id == RACE).map(|l| l.region.as_str()).collect::<Vec<_>>(), vec!["eu-west-1"], "the new primary rotates");
}

async fn members_are_found_by_id_and_region(store: &dyn Store) {
    let (key, material) = primary(M);
    store.insert_key(&key, &material).await.unwrap();
    let read = store.get_key(M, "us-east-1").await.unwrap().unwrap();
    store.insert_replica(&read, &replica_of(&read, "eu-west-1")).await.unwrap();

    let (east, west) = (store.get_key(M, "us-east-1").await.unwrap().unwrap(), store.get_key(M, "eu-west-1").await.unwrap().unwrap());
    assert_eq!(east.description, "sample");
    assert_eq!(west.description, "replica in eu-west-1");
    assert!(west.is_replica() && !east.is_replica());
    assert_eq!(east.row_version, read.row_version + 1, "the replication bumped the primary");
    assert!(store.get_key(M, "ap-south-1").await.unwrap().is_none());
    let members = store.key_members(M).await.unwrap();
    assert_eq!(members.iter().map(|k| k.region.as_str()).collect::<Vec<_>>(), vec!["eu-west-1", "us-east-1"]);
    assert!(store.get_material(M, &"ab".repeat(32)).await.unwrap().is_some(), "the members share the material");

    // A stale primary (changed or replicated since it was read) is refused.
    assert!(matches!(store.insert_replica(&read, &replica_of(&read, "ap-south-1")).await, Err(StoreError::Conflict)));
    assert!(store.get_key(M, "ap-south-1").await.unwrap().is_none());
    // A Region that holds a member, the primary's own included, takes no other.
    assert!(matches!(store.insert_replica(&east, &replica_of(&east, "eu-west-1")).await, Err(StoreError::AlreadyExists)));
    assert!(matches!(store.insert_replica(&east, &replica_of(&east, "us-east-1")).await, Err(StoreError::AlreadyExists)));
    assert_eq!(store.get_key(M, "eu-west-1").await.unwrap().unwrap().row_version, west.row_version, "a refused replica changed nothing");
    // A primary that is gone takes no replica.
    let mut ghost = east.clone();
    ghost.key_id = "mrk-00000000000000000000000000000000".into();
    assert!(matches!(store.insert_replica(&ghost, &replica_of(&ghost, "eu-west-1")).await, Err(StoreError::NotFound)));

    // Updating one member leaves the other alone.
    let mut west = west;
    west.state = KeyState::Disabled;
    store.update_key(&west).await.unwrap();
    assert_eq!(store.get_key(M, "us-east-1").await.unwrap().unwrap().state, KeyState::Enabled);
    assert_eq!(store.list_keys(ACCOUNT, "eu-west-1", None, 10).await.unwrap().len(), 1);
    assert_eq!(store.list_keys(ACCOUNT, "us-east-1", None, 10).await.unwrap().len(), 1);
}

async fn the_primarys_rotation_reaches_every_replica(store: &dyn Store) {
    let mut east = store.get_key(M, "us-east-1").await.unwrap().unwrap();
    east.rotation.period_days = Some(90);
    east.rotation.next_at = Some(1_000);
    east.row_version = store.update_key(&east).await.unwrap();
    let west = store.get_key(M, "eu-west-1").await.unwrap().unwrap();
    assert_eq!(west.rotation, east.rotation, "the schedule is shared");
    assert_eq!(west.state, KeyState::Disabled, "a replica's own properties stay its own");
    assert_eq!(store.keys_due_for_rotation(1_000).await.unwrap().into_iter().filter(|l| l.key_id == M).collect::<Vec<_>>(), vec![super::east(M)], "only the primary rotates");

    let mut next = east.clone();
    next.current_material_id = "cd".repeat(32);
    next.rotation.history.push(Rotation { material_id: "cd".repeat(32), rotated_at: 1_000, kind: RotationType::OnDemand });
    let material = MaterialRecord { key_id: M.into(), material_id: "cd".repeat(32), stored: vec![4, 5], created_at: 1_000 };
    store.rotate_key(&next, &material).await.unwrap();
    let west_after = store.get_key(M, "eu-west-1").await.unwrap().unwrap();
    assert_eq!(west_after.current_material_id, "cd".repeat(32), "the replica uses the new material at once");
    assert_eq!(west_after.rotation.history.len(), 1);
    assert_eq!(west_after.row_version, west.row_version + 1);
    assert_eq!(store.get_material(M, &"cd".repeat(32)).await.unwrap().unwrap().stored, vec![4, 5]);

    // A write of the primary that changes nothing shared leaves replicas' versions alone.
    let mut east = store.get_key(M, "us-east-1").await.unwrap().unwrap();
    east.description = "renamed".into();
    store.update_key(&east).await.unwrap();
    assert_eq!(store.get_key(M, "eu-west-1").await.unwrap().unwrap().row_version, west_after.row_version);
}

async fn grants_aliases_and_uses_belong_to_one_member(store: &dyn Store) {
    let grant = |id: &str, region: &str| GrantRecord {
        grant_id: id.into(),
        key_id: M.into(),
        region: region.into(),
        grantee_principal: format!("arn:aws:iam::{ACCOUNT}:user/dave"),
        retiring_principal: None,
        name: None,
        created_at: 1,
        doc: "{}".into(),
    };
    assert!(store.insert_grant(&grant("mg-east", "us-east-1"), 1).await.unwrap());
    assert!(store.insert_grant(&grant("mg-west", "eu-west-1"), 1).await.unwrap(), "the limit counts one member's grants");
    assert!(matches!(store.insert_grant(&grant("mg-south", "ap-south-1"), 1).await, Err(StoreError::NotFound)));
    let west_grants = store.list_grants(M, "eu-west-1", None, 10).await.unwrap();
    assert_eq!(west_grants.iter().map(|g| g.grant_id.as_str()).collect::<Vec<_>>(), vec!["mg-west"]);
    let dave = vec![format!("arn:aws:iam::{ACCOUNT}:user/dave")];
    assert_eq!(store.grants_for(M, "us-east-1", &dave).await.unwrap().len(), 1);
    assert_eq!(store.get_grant("mg-west").await.unwrap().unwrap().region, "eu-west-1");

    let alias = |region: &str| AliasRecord { account_id: ACCOUNT.into(), region: region.into(), alias_name: "alias/mrk".into(), target_key_id: M.into(), created_at: 1, updated_at: 1 };
    store.insert_alias(&alias("us-east-1")).await.unwrap();
    store.insert_alias(&alias("eu-west-1")).await.unwrap();
    assert!(matches!(store.insert_alias(&alias("ap-south-1")).await, Err(StoreError::NotFound)), "no member there");

    let used = |region: &str, at: Millis| KeyUsageRecord {
        key_id: M.into(),
        region: region.into(),
        used_at: at,
        operation: "Encrypt".into(),
        request_id: format!("r-{region}"),
        event_id: None,
    };
    store.record_key_usage(&[used("us-east-1", 10), used("eu-west-1", 20), used("ap-south-1", 30)]).await.unwrap();
    assert_eq!(store.get_key_usage(M, "us-east-1").await.unwrap().unwrap().used_at, 10);
    assert_eq!(store.get_key_usage(M, "eu-west-1").await.unwrap().unwrap().used_at, 20);
    assert_eq!(store.get_key_usage(M, "ap-south-1").await.unwrap(), None);
}

async fn material_goes_with_the_last_member(store: &dyn Store) {
    let mut west = store.get_key(M, "eu-west-1").await.unwrap().unwrap();
    west.state = KeyState::PendingDeletion;
    west.deletion_date = Some(2_000);
    west.row_version = store.update_key(&west).await.unwrap();
    assert!(store.keys_due_for_deletion(2_000).await.unwrap().contains(&KeyLocation { key_id: M.into(), region: "eu-west-1".into() }));
    store.delete_key(M, "eu-west-1", west.row_version).await.unwrap();
    assert!(store.get_key(M, "eu-west-1").await.unwrap().is_none());
    assert!(store.get_grant("mg-west").await.unwrap().is_none());
    assert!(store.get_alias(ACCOUNT, "eu-west-1", "alias/mrk").await.unwrap().is_none());
    assert_eq!(store.get_key_usage(M, "eu-west-1").await.unwrap(), None);
    // The primary and what is its own stay, and so does the material.
    assert!(store.get_grant("mg-east").await.unwrap().is_some());
    assert!(store.get_alias(ACCOUNT, "us-east-1", "alias/mrk").await.unwrap().is_some());
    assert!(store.get_material(M, &"ab".repeat(32)).await.unwrap().is_some());
    assert!(store.get_material(M, &"cd".repeat(32)).await.unwrap().is_some());

    let east = store.get_key(M, "us-east-1").await.unwrap().unwrap();
    store.delete_key(M, "us-east-1", east.row_version).await.unwrap();
    assert!(store.key_members(M).await.unwrap().is_empty());
    assert!(store.get_material(M, &"ab".repeat(32)).await.unwrap().is_none(), "the last member took the material");
    assert!(store.get_material(M, &"cd".repeat(32)).await.unwrap().is_none());
}

/// Two ReplicateKey calls into one Region from the same read of the
/// primary (two nodes): exactly one replica is made.
async fn racing_replications_into_one_region(store: &dyn Store) {
    let (key, material) = primary(RACE);
    store.insert_key(&key, &material).await.unwrap();
    for (round, region) in ["eu-west-1", "ap-south-1", "sa-east-1"].into_iter().enumerate() {
        let read = store.get_key(RACE, "us-east-1").await.unwrap().unwrap();
        let racers = (0..4).map(|i| {
            let mut replica = replica_of(&read, region);
            replica.description = format!("racer {i}");
            let read = read.clone();
            async move { store.insert_replica(&read, &replica).await }
        });
        let results = join_all(racers).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: {results:?}");
        assert!(results.iter().all(|r| matches!(r, Ok(()) | Err(StoreError::Conflict | StoreError::AlreadyExists))), "{results:?}");
        // A loser that reads again and retries finds the Region taken.
        let fresh = store.get_key(RACE, "us-east-1").await.unwrap().unwrap();
        assert!(matches!(store.insert_replica(&fresh, &replica_of(&fresh, region)).await, Err(StoreError::AlreadyExists)));
        assert_eq!(store.key_members(RACE).await.unwrap().len(), round + 2);
        assert!(store.get_key(RACE, region).await.unwrap().unwrap().description.starts_with("racer "));
    }
}
