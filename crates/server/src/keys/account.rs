//! What the store holds for an authorized account (account-level actions:
//! ListKeys, ListAliases, CreateKey, ListRetirableGrants), in the caller's
//! region.

use std::ops::Deref;

use trent_crypto::keytypes::KeySpec;
use trent_crypto::ciphertext::MATERIAL_ID_LEN;
use trent_crypto::StoredMaterial;
use trent_store::{AliasRecord, GrantRecord, KeyRecord, MaterialRecord};
use uuid::Uuid;

use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

/// Destroys every key whose deletion waiting period ended, so a listing
/// does not show it (or its aliases) even if the sweeper has not run yet.
pub async fn destroy_due_keys(ctx: &OpCtx<'_>, _account: &Authorized<String>) -> Result<(), KmsError> {
    let state = ctx.state();
    crate::lifecycle::deletion::sweep(state.store.as_ref(), state.clock.as_ref(), state).await?;
    Ok(())
}

/// A page of the account's keys in this region, in key id order.
pub async fn list_keys(ctx: &OpCtx<'_>, account: &Authorized<String>, after: Option<&str>, limit: usize) -> Result<Vec<KeyRecord>, KmsError> {
    Ok(ctx.store().list_keys(account, ctx.region(), after, limit).await?)
}

/// A page of the account's aliases in this region (only `key`'s, if
/// given), in name order.
pub async fn list_aliases(ctx: &OpCtx<'_>, account: &Authorized<String>, key: Option<&Authorized<KeyRecord>>, after: Option<&str>, limit: usize) -> Result<Vec<AliasRecord>, KmsError> {
    let key_id = key.map(|k| k.key_id.as_str());
    Ok(ctx.store().list_aliases(account, ctx.region(), key_id, after, limit).await?)
}

/// CreateKey's new material of `spec` for the key `id`, and its material
/// id (slow for some specs: on the blocking pool).
pub async fn generate_material(ctx: &OpCtx<'_>, _account: &Authorized<String>, id: Uuid, spec: KeySpec) -> Result<(StoredMaterial, [u8; MATERIAL_ID_LEN]), KmsError> {
    let provider = ctx.state().provider.clone();
    Ok(tokio::task::spawn_blocking(move || provider.generate_key(id, spec)).await.map_err(|e| KmsError::internal(format!("key generation task: {e}")))??)
}

/// `trent serve --seed`: the operator's material for the key `id`, checked
/// for `spec` as imported material is, and its material id.
pub async fn seed_material(ctx: &OpCtx<'_>, _account: &Authorized<String>, id: Uuid, spec: KeySpec, material: trent_crypto::SecretBytes) -> Result<(StoredMaterial, [u8; MATERIAL_ID_LEN]), KmsError> {
    let provider = ctx.state().provider.clone();
    let taken = tokio::task::spawn_blocking(move || provider.seed_key(id, spec, &material)).await.map_err(|e| KmsError::internal(format!("key material task: {e}")))?;
    taken.map_err(|e| match e {
        trent_crypto::CryptoError::InvalidInput(why) => Error::MaterialDoesNotFitSpec { why: why.to_string() }.into(),
        other => other.into(),
    })
}

/// Whether the key still has the material `material_id` (a seeded key
/// that was rotated since still has its seeded material).
pub async fn has_material(ctx: &OpCtx<'_>, key: &Authorized<KeyRecord>, material_id: &str) -> Result<bool, KmsError> {
    Ok(ctx.store().get_material(&key.key_id, material_id).await?.is_some())
}

/// Who may know a new key's id before it is saved.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum NewKeyId {
    /// Drawn at random for this call, shown to no one yet: see
    /// [`Store::insert_fresh_key`](trent_store::Store::insert_fresh_key).
    DrawnForThisCall,
    /// Chosen by someone (a seed), or already shown to a key store.
    KnownElsewhere,
}

/// CreateKey: saves a new key of the account, in this region, with its
/// first material (none for a key awaiting imported material).
pub async fn insert_key(ctx: &OpCtx<'_>, account: &Authorized<String>, key: &KeyRecord, material: Option<StoredMaterial>, id: NewKeyId) -> Result<(), KmsError> {
    if key.account_id != account.as_str() || key.region != ctx.region() {
        return Err(KmsError::internal(format!("{} is not a key of the authorized account and region", key.arn)));
    }
    let inserted = match material {
        Some(stored) => {
            stall_for_tests(key).await;
            let material = MaterialRecord { key_id: key.key_id.clone(), material_id: key.current_material_id.clone(), stored: stored.0, created_at: key.created_at };
            match id {
                NewKeyId::DrawnForThisCall => ctx.store().insert_fresh_key(key, &material).await,
                NewKeyId::KnownElsewhere => ctx.store().insert_key(key, &material).await,
            }
        }
        None => ctx.store().insert_key_without_material(key).await,
    };
    match (inserted, &key.xks_key_id, &key.custom_key_store_id) {
        // The unique index on (key store, external key): another KMS key has it.
        (Err(trent_store::StoreError::AlreadyExists), Some(xks_key_id), Some(id)) => Err(Error::XksKeyAlreadyInUse { xks_key_id: xks_key_id.clone(), id: id.clone() }.into()),
        (result, _, _) => Ok(result?),
    }
}

/// TEST ONLY: a CreateKey whose Description is this variable's value
/// waits 3 s between sealing its material and storing it, so a test can
/// start an online root rotation in between (tests/rotate_root_online.rs).
pub const TEST_STALL_ENV: &str = "TRENT_TEST_CREATE_KEY_STALL";

async fn stall_for_tests(key: &KeyRecord) {
    static STALLED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if STALLED.get_or_init(|| std::env::var(TEST_STALL_ENV).ok()).as_deref().is_some_and(|d| d == key.description) {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    }
}

/// ListRetirableGrants, as in AWS, is only about principals of the
/// caller's own account.
pub fn check_retiring_principal(ctx: &OpCtx<'_>, account: &Authorized<String>, retiring_principal: &str) -> Result<(), KmsError> {
    if retiring_principal.split(':').nth(4).unwrap_or(retiring_principal) != account.as_str() {
        return Err(Error::RetiringPrincipalOtherAccount { principal: ctx.principal().arn.clone(), retiring: retiring_principal.to_owned(), account: account.as_str().to_owned() }.into());
    }
    Ok(())
}

/// A grant [`retirable_grants`] listed; only this module makes one, so
/// [`retirable_grant_key`] reads only the keys of listed grants.
pub struct RetirableGrant(GrantRecord);

impl Deref for RetirableGrant {
    type Target = GrantRecord;
    fn deref(&self) -> &GrantRecord {
        &self.0
    }
}

/// A page of the grants `retiring_principal`, a principal of the account
/// ([`check_retiring_principal`]), may retire, on any key.
pub async fn retirable_grants(ctx: &OpCtx<'_>, account: &Authorized<String>, retiring_principal: &str, after: Option<&str>, limit: usize) -> Result<Vec<RetirableGrant>, KmsError> {
    check_retiring_principal(ctx, account, retiring_principal)?;
    let grants = ctx.store().list_retirable_grants(retiring_principal, after, limit).await?;
    Ok(grants.into_iter().map(RetirableGrant).collect())
}

/// The ARN of a listed grant's key, if the key exists in this region
/// (grants on keys of other regions are not this endpoint's to show).
pub async fn retirable_grant_key(ctx: &OpCtx<'_>, grant: &RetirableGrant) -> Result<Option<String>, KmsError> {
    if grant.region != ctx.region() {
        return Ok(None);
    }
    Ok(ctx.store().get_key(&grant.key_id, &grant.region).await?.map(|key| key.arn))
}
