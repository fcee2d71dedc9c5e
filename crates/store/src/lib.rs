//! Trent's store: the last step of the request path
//! (HTTP -> protocol -> authentication -> dispatch -> authorization ->
//! operation -> key provider -> **store**).
//!
//! [`Store`] is the trait every database implements; SQLite ([`sqlite`]) is
//! the embedded default, PostgreSQL (`postgres`, cargo feature `postgres`,
//! on by default) lets several nodes share one database. Every call is one
//! transaction and is durable when it returns: the server acknowledges a
//! request only after its writes came back `Ok`. Updates of a key use
//! optimistic concurrency (`row_version`) so several nodes can share one
//! database without losing each other's writes. [`conformance`] is the one
//! suite every backend must pass.

#![forbid(unsafe_code)]

mod error;
pub mod records;
pub mod read_cache;
pub mod sqlite;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod conformance;
pub mod sealed;

pub use error::StoreError;
pub use records::*;
pub use sealed::{SealedColumn, SealedValue};

/// What saving a key with one of its materials does when that material is
/// stored already: a rotation's new material must be new (the insert
/// fails); an import may bring the same material again, kept as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoredMaterial {
    MustBeNew,
    KeepStored,
}

/// Where a listing resumes: the last id or name the previous page returned.
pub type After<'a> = Option<&'a str>;

#[async_trait::async_trait]
pub trait Store: Send + Sync {
    // --- keys ---------------------------------------------------------------
    /// Inserts a new key together with its first material, atomically. A
    /// key naming a custom key store is inserted only if that store still
    /// exists (`NotFound` otherwise: it was deleted meanwhile).
    async fn insert_key(&self, key: &KeyRecord, material: &MaterialRecord) -> Result<(), StoreError>;
    /// CreateKey's [`Store::insert_key`], for a key whose id this process
    /// drew at random for this call and showed no one before it returns
    /// (not an operator's seed; not a key in a key store, whose token or
    /// proxy sees its id first). No lookup can have named such an id, so
    /// no cached answer on any node is about it, and a store may leave the
    /// caches alone (PostgreSQL: the change counter does not move, and no
    /// node's cache is emptied). An id anyone else could know goes through
    /// `insert_key`: a node that had looked it up would otherwise go on
    /// answering that it does not exist.
    async fn insert_fresh_key(&self, key: &KeyRecord, material: &MaterialRecord) -> Result<(), StoreError> {
        self.insert_key(key, material).await
    }
    /// Inserts a new key with its first material and an alias naming it,
    /// all or nothing: if the alias exists already, `AlreadyExists` and
    /// nothing is stored (two nodes making the same AWS managed key at
    /// once: one wins, the other uses the winner's).
    async fn insert_key_with_alias(&self, key: &KeyRecord, material: &MaterialRecord, alias: &AliasRecord) -> Result<(), StoreError>;
    /// A key by id in one Region (a multi-Region key has a member, with
    /// the same id, in each Region of its set).
    async fn get_key(&self, key_id: &str, region: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// Every member of the set sharing `key_id` (one, for a single-Region
    /// key), ordered by Region: the replica set, read from the rows
    /// themselves so it cannot drift.
    async fn key_members(&self, key_id: &str) -> Result<Vec<KeyRecord>, StoreError>;
    /// Writes `key` (found by id and Region) if its `row_version` is still
    /// the stored one, else `Conflict`. Returns the record's new
    /// `row_version`. Writing a multi-Region primary also copies what the
    /// set shares ([`KeyRecord::share_from`]) to every replica that
    /// differs, in the same transaction.
    async fn update_key(&self, key: &KeyRecord) -> Result<i64, StoreError>;
    /// Adds `replica` to the set of `primary`, in one transaction: only if
    /// the primary's `row_version` is still the stored one (`Conflict`
    /// otherwise, `NotFound` if it is gone), which it bumps; `AlreadyExists`
    /// if the replica's Region already holds a member, so of two nodes
    /// replicating into one Region at once exactly one wins. The replica
    /// shares the primary's material rows: none are written.
    async fn insert_replica(&self, primary: &KeyRecord, replica: &KeyRecord) -> Result<(), StoreError>;
    /// Writes several keys (the members of a multi-Region set: UpdatePrimaryRegion)
    /// in one transaction, in the order given, each as [`Store::update_key`]
    /// would: all of them, or, if any `row_version` is stale (`Conflict`)
    /// or any key gone (`NotFound`), none.
    async fn update_keys(&self, keys: &[KeyRecord]) -> Result<(), StoreError>;
    /// Keys of one account and region ordered by key id, after `after`.
    async fn list_keys(&self, account_id: &str, region: &str, after: After<'_>, limit: usize) -> Result<Vec<KeyRecord>, StoreError>;
    async fn get_material(&self, key_id: &str, material_id: &str) -> Result<Option<MaterialRecord>, StoreError>;
    /// Keys pending deletion whose deletion date is at or before `now`.
    async fn keys_due_for_deletion(&self, now: Millis) -> Result<Vec<KeyLocation>, StoreError>;
    /// Destroys a key (one member of a multi-Region set): its row, its
    /// grants, its last use and the aliases that point at it, and every
    /// version of its material if no other member shares it, in one
    /// transaction; only if `row_version` is still the stored one
    /// (`Conflict` otherwise), so a deletion that was cancelled meanwhile is
    /// never carried out.
    async fn delete_key(&self, key_id: &str, region: &str, row_version: i64) -> Result<(), StoreError>;
    /// Inserts a key created without material (origin EXTERNAL).
    async fn insert_key_without_material(&self, key: &KeyRecord) -> Result<(), StoreError>;
    /// Deletes the named versions of the key's material (imported material
    /// that was deleted or expired) and saves `key`, in one transaction, if
    /// `row_version` is still the stored one (`Conflict` otherwise). Returns
    /// the key's new `row_version`. A version another member of a
    /// multi-Region set still has imported ([`KeyRecord::materials_in_use`],
    /// after `key` is saved) stays: deleting on one member leaves the others
    /// usable.
    async fn remove_key_material(&self, key: &KeyRecord, material_ids: &[String]) -> Result<i64, StoreError>;
    /// ImportKeyMaterial: saves `key` (compare-and-set, as [`Store::update_key`])
    /// and writes `material` unless that version is stored already (another
    /// member of the set, or an earlier import, holds it), in one
    /// transaction, so a key that says it has the material always has it,
    /// whatever another member deletes meanwhile. Returns the key's new
    /// `row_version`.
    async fn save_imported_material(&self, key: &KeyRecord, material: &MaterialRecord) -> Result<i64, StoreError>;
    /// Keys whose imported material expires at or before `now`.
    async fn keys_with_expired_material(&self, now: Millis) -> Result<Vec<KeyLocation>, StoreError>;
    /// Enabled keys whose automatic rotation is due at or before `now`
    /// (never a replica: see [`KeyRecord::rotation_due`]).
    async fn keys_due_for_rotation(&self, now: Millis) -> Result<Vec<KeyLocation>, StoreError>;
    /// Rotation: adds `material` and saves `key` (whose current material it
    /// now is) in one transaction, only if `row_version` is still the stored
    /// one (`Conflict` otherwise). Returns the key's new `row_version`.
    async fn rotate_key(&self, key: &KeyRecord, material: &MaterialRecord) -> Result<i64, StoreError>;

    /// Records uses of keys, keeping for each key (id and Region) only the
    /// latest; uses of keys that no longer exist are dropped.
    async fn record_key_usage(&self, uses: &[KeyUsageRecord]) -> Result<(), StoreError>;
    async fn get_key_usage(&self, key_id: &str, region: &str) -> Result<Option<KeyUsageRecord>, StoreError>;

    // --- aliases ------------------------------------------------------------
    /// `AlreadyExists` if the name is taken in that account and region;
    /// `NotFound` if the target key does not exist (destroyed meanwhile).
    async fn insert_alias(&self, alias: &AliasRecord) -> Result<(), StoreError>;
    async fn get_alias(&self, account_id: &str, region: &str, alias_name: &str) -> Result<Option<AliasRecord>, StoreError>;
    /// Points an existing alias at another key, only if it still points at
    /// `expected_target` (the key whose permission was checked):
    /// `NotFound` if it is gone, `Conflict` if it points elsewhere now.
    async fn update_alias(&self, alias: &AliasRecord, expected_target: &str) -> Result<(), StoreError>;
    /// Deletes an alias, only if it still points at `expected_target`:
    /// `NotFound` if there was no such alias, `Conflict` if it points elsewhere now.
    async fn delete_alias(&self, account_id: &str, region: &str, alias_name: &str, expected_target: &str) -> Result<(), StoreError>;
    /// Aliases of one account and region ordered by name, optionally only
    /// those pointing at `key_id`.
    async fn list_aliases(&self, account_id: &str, region: &str, key_id: Option<&str>, after: After<'_>, limit: usize) -> Result<Vec<AliasRecord>, StoreError>;

    // --- grants -------------------------------------------------------------
    /// Inserts a grant unless its key already has `max_per_key` grants (then
    /// nothing is written and the answer is false); count and insert are one
    /// step. `NotFound` if the key (its id in its Region) does not exist.
    async fn insert_grant(&self, grant: &GrantRecord, max_per_key: usize) -> Result<bool, StoreError>;
    async fn get_grant(&self, grant_id: &str) -> Result<Option<GrantRecord>, StoreError>;
    /// Grants of a key (id and Region) ordered by grant id, after `after`.
    async fn list_grants(&self, key_id: &str, region: &str, after: After<'_>, limit: usize) -> Result<Vec<GrantRecord>, StoreError>;
    /// Grants whose retiring principal is `principal`, ordered by grant id.
    async fn list_retirable_grants(&self, principal: &str, after: After<'_>, limit: usize) -> Result<Vec<GrantRecord>, StoreError>;
    /// Grants of a key (id and Region) for any of `grantees` (authorization's lookup).
    async fn grants_for(&self, key_id: &str, region: &str, grantees: &[String]) -> Result<Vec<GrantRecord>, StoreError>;
    /// `NotFound` if there was no such grant.
    async fn delete_grant(&self, grant_id: &str) -> Result<(), StoreError>;

    // --- identity -----------------------------------------------------------
    /// Inserts a principal (and its account if new) with one access key.
    async fn insert_principal(&self, principal: &PrincipalRecord, key: &AccessKeyRecord) -> Result<(), StoreError>;
    /// Inserts the first principal, only if the store has none yet, as one
    /// atomic step: of several nodes starting on an empty database exactly
    /// one creates the admin. True if this call inserted it.
    async fn insert_first_principal(&self, principal: &PrincipalRecord, key: &AccessKeyRecord) -> Result<bool, StoreError>;
    async fn get_principal(&self, arn: &str) -> Result<Option<PrincipalRecord>, StoreError>;
    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError>;
    async fn count_principals(&self) -> Result<u64, StoreError>;

    // --- IAM: accounts, users, roles, managed policies, access keys ---------
    /// Creates an account; `AlreadyExists` if the id is taken.
    async fn insert_account(&self, account_id: &str, created_at: Millis) -> Result<(), StoreError>;
    /// Inserts an entity (and its account if new; a user's principal row
    /// too, with `key` if given), atomically. `AlreadyExists` if the account
    /// already has an entity of that kind and name (in any case) or the ARN.
    async fn insert_entity(&self, entity: &EntityRecord, key: Option<&AccessKeyRecord>) -> Result<(), StoreError>;
    /// By name, in any case.
    async fn get_entity(&self, account_id: &str, kind: EntityKind, name: &str) -> Result<Option<EntityRecord>, StoreError>;
    /// Writes `entity.doc` if its `row_version` is still the stored one, else
    /// `Conflict` (`NotFound` if it is gone). Returns the new `row_version`.
    async fn update_entity(&self, entity: &EntityRecord) -> Result<i64, StoreError>;
    /// Deletes an entity if `row_version` is still the stored one; a user's
    /// access keys and principal row go with it, in one transaction.
    async fn delete_entity(&self, account_id: &str, kind: EntityKind, name: &str, row_version: i64) -> Result<(), StoreError>;
    /// Entities of one kind in one account, by case-folded name, after the
    /// folded name `after`.
    async fn list_entities(&self, account_id: &str, kind: EntityKind, after: After<'_>, limit: usize) -> Result<Vec<EntityRecord>, StoreError>;
    /// Adds an access key to an existing principal (`NotFound` if there is
    /// none) unless it already has `max_per_principal` keys: then nothing is
    /// written and the answer is false. Count and insert are one step.
    async fn insert_access_key(&self, key: &AccessKeyRecord, max_per_principal: usize) -> Result<bool, StoreError>;
    /// A principal's access keys, oldest first.
    async fn list_access_keys(&self, principal_arn: &str) -> Result<Vec<AccessKeyRecord>, StoreError>;
    /// `NotFound` if there is no such key.
    async fn set_access_key_active(&self, access_key_id: &str, active: bool) -> Result<(), StoreError>;
    /// `NotFound` if there is no such key.
    async fn delete_access_key(&self, access_key_id: &str) -> Result<(), StoreError>;

    // --- custom key stores ---------------------------------------------------
    /// Inserts a key store unless its name is taken in its account and
    /// Region or its cluster is used by any key store: then nothing is
    /// written and the answer says which. Check and insert are one step.
    async fn insert_custom_key_store(&self, store: &CustomKeyStoreRecord) -> Result<Option<KeyStoreConflict>, StoreError>;
    async fn get_custom_key_store(&self, id: &str) -> Result<Option<CustomKeyStoreRecord>, StoreError>;
    async fn get_custom_key_store_by_name(&self, account_id: &str, region: &str, name: &str) -> Result<Option<CustomKeyStoreRecord>, StoreError>;
    /// Key stores of one account and Region ordered by id, after `after`.
    async fn list_custom_key_stores(&self, account_id: &str, region: &str, after: After<'_>, limit: usize) -> Result<Vec<CustomKeyStoreRecord>, StoreError>;
    /// Writes `store` if its `row_version` is still the stored one (else
    /// `Conflict`; `NotFound` if it is gone) and its name and cluster are
    /// still free (else `Ok(Err(..))`, nothing written). Returns the new
    /// `row_version`.
    async fn update_custom_key_store(&self, store: &CustomKeyStoreRecord) -> Result<Result<i64, KeyStoreConflict>, StoreError>;
    /// Deletes a key store if `row_version` is still the stored one
    /// (`Conflict` otherwise, `NotFound` if it is gone) and no key, in any
    /// state, names it: then the answer is false and nothing is deleted.
    async fn delete_custom_key_store(&self, id: &str, row_version: i64) -> Result<bool, StoreError>;
    /// How many keys (in any state) name the key store.
    async fn count_keys_in_custom_key_store(&self, id: &str) -> Result<u64, StoreError>;

    // --- deployment -----------------------------------------------------------
    /// A deployment-wide setting (e.g. the root key check value).
    async fn get_setting(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets a setting that must not change once set; `AlreadyExists` if it was.
    async fn insert_setting(&self, name: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Replaces a setting only if it still holds `expected` (compare-and-set,
    /// one statement): false, and nothing written, if it holds anything else
    /// or nothing. For the rare settings that may change (the seal
    /// configuration, at `trent operator rekey`), so two racing writers
    /// cannot both win.
    async fn replace_setting(&self, name: &str, expected: &[u8], value: &[u8]) -> Result<bool, StoreError>;
    /// Deletes a setting only if it still holds `expected`; false, and
    /// nothing deleted, otherwise (the root rotation's record, once done).
    async fn delete_setting(&self, name: &str, expected: &[u8]) -> Result<bool, StoreError>;

    // --- root key rotation ------------------------------------------------------
    /// Up to `limit` values of `column` in id order, after the row `after`.
    async fn list_sealed(&self, column: SealedColumn, after: Option<&(String, String)>, limit: usize) -> Result<Vec<SealedValue>, StoreError>;
    /// Writes each `(old, new)` in one transaction, each only where its row
    /// still holds `old.sealed` (compare-and-set: a row changed or deleted
    /// meanwhile is left as it is). Returns how many rows were written.
    async fn replace_sealed(&self, column: SealedColumn, changes: &[(SealedValue, Vec<u8>)]) -> Result<usize, StoreError>;
    /// Raises the root key fence to `generation`: from its return, no value
    /// sealed under a lower generation can be written any more
    /// ([`StoreError::RootKeyRotated`]), and every one written before is
    /// committed. Never lowers it. A no-op where one process alone writes
    /// (SQLite: the online rotation's drain covers it); on PostgreSQL it
    /// waits for the writes of sealed values in flight on every node.
    async fn raise_root_fence(&self, generation: u32) -> Result<(), StoreError> {
        let _ = generation;
        Ok(())
    }
    /// Takes or renews the lease `name` for `holder` until `now + ttl`.
    /// True if `holder` holds it: it was free, expired, or already `holder`'s.
    /// Background work runs only on the node that holds its lease, and moves
    /// to another node when a dead holder's lease expires.
    async fn try_lease(&self, name: &str, holder: &str, now: Millis, ttl: Millis) -> Result<bool, StoreError>;
    /// How the read cache has done, for a store that has one.
    fn read_cache_stats(&self) -> Option<read_cache::CacheStats> {
        None
    }
}
