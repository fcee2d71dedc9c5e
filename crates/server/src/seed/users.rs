//! Seeded IAM users, each with the access key the seed file gives (so a
//! test suite's fixed credentials work in the secure mode) and an optional
//! inline identity policy. Made as `trent account create` makes its admin;
//! a user that exists must have the same policy and access key.

use trent_store::{AccessKeyRecord, EntityKind, EntityRecord, StoreError};

use super::file::SeedUser;
use crate::auth::credentials::{seal_secret, unseal_secret};
use crate::iam::entity::Doc;
use crate::state::AppState;

/// The inline policy's name.
pub const POLICY_NAME: &str = "Seeded";

/// Makes the user and its access key unless they exist as described;
/// true if it made them.
pub async fn seed_user(state: &AppState, account: &str, seed: &SeedUser) -> Result<bool, String> {
    let valid_name = !seed.name.is_empty() && seed.name.len() <= 64 && seed.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !valid_name {
        return Err("`name` must be 1 to 64 letters, digits or +=,.@_-".into());
    }
    let id = &seed.access_key_id;
    if !(id.starts_with("AKIA") && (20..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())) {
        return Err("`access-key-id` must be AKIA and 16 to 124 upper-case letters or digits".into());
    }
    if !(16..=128).contains(&seed.secret_access_key.0.len()) {
        return Err("`secret-access-key` must be 16 to 128 characters".into());
    }
    let policy = seed.policy.as_ref().map(|p| match p {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    });
    if let Some(p) = &policy {
        crate::policy::cache::parsed(p).map_err(|e| format!("policy: {e}"))?;
    }
    let arn = format!("arn:aws:iam::{account}:user/{}", seed.name);
    let store = state.store.as_ref();
    let io = |e: StoreError| e.to_string();
    let now = state.clock.now_millis();
    if let Some(existing) = store.get_entity(account, EntityKind::User, &seed.name).await.map_err(io)? {
        return compare(state, &existing, policy.as_deref(), seed).await.map(|()| false);
    }
    match store.insert_account(account, now).await {
        Ok(()) | Err(StoreError::AlreadyExists) => {}
        Err(e) => return Err(e.to_string()),
    }
    let mut doc = Doc { id: crate::iam::entity::new_id("AIDA").map_err(|e| e.message)?, path: "/".into(), ..Doc::default() };
    if let Some(p) = &policy {
        doc.inline.insert(POLICY_NAME.to_owned(), p.clone());
    }
    let user = EntityRecord { account_id: account.to_owned(), kind: EntityKind::User, name: seed.name.clone(), arn: arn.clone(), created_at: now, doc: doc.to_json().map_err(|e| e.message)?, row_version: 1 };
    let sealed = seal_secret(&state.root_key.load(), id, &seed.secret_access_key.0).map_err(|e| e.internal.or(e.message).unwrap_or_default())?;
    let key = AccessKeyRecord { access_key_id: id.clone(), principal_arn: arn, sealed_secret: sealed, created_at: now, active: true };
    if let Err(e) = store.insert_entity(&user, Some(&key)).await {
        // Another node seeding the same database may have made it first.
        return match store.get_entity(account, EntityKind::User, &seed.name).await.map_err(io)? {
            Some(existing) => compare(state, &existing, policy.as_deref(), seed).await.map(|()| false),
            None => Err(match e {
                StoreError::AlreadyExists => format!("the access key {id} belongs to another principal"),
                other => other.to_string(),
            }),
        };
    }
    Ok(true)
}

async fn compare(state: &AppState, existing: &EntityRecord, policy: Option<&str>, seed: &SeedUser) -> Result<(), String> {
    let doc = Doc::parse(&existing.doc).map_err(|e| e.message)?;
    if doc.inline.get(POLICY_NAME).map(String::as_str) != policy {
        return Err(format!("the user exists with a different `{POLICY_NAME}` policy"));
    }
    let key = state.store.get_access_key(&seed.access_key_id).await.map_err(|e| e.to_string())?;
    let Some(key) = key.filter(|k| k.principal_arn == existing.arn) else {
        return Err(format!("the user exists without the access key {}", seed.access_key_id));
    };
    let secret = unseal_secret(&state.root_key.load(), &key).map_err(|e| e.internal.or(e.message).unwrap_or_default())?;
    if aws_lc_rs::constant_time::verify_slices_are_equal(secret.as_bytes(), seed.secret_access_key.0.as_bytes()).is_err() {
        return Err(format!("the access key {} exists with a different secret", seed.access_key_id));
    }
    if !key.active {
        return Err(format!("the access key {} is Inactive", seed.access_key_id));
    }
    Ok(())
}
