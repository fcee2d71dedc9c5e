//! `trent serve --seed FILE`: keys with fixed ids (given or generated
//! material, policy, tags) and aliases, made at start-up before any
//! request is served, for deterministic tests (docs/seeding.md).
//!
//! Beside the request path, like `lifecycle/`: it holds `AppState`, but
//! makes keys and aliases through the same `keys::` functions as CreateKey
//! and CreateAlias, with `Authorized` values from
//! `authz::for_operator_seed`. Each thing made is one audit event.
//! Idempotent: a key or alias that exists and equals the file's is left
//! alone; one that differs stops the start naming the field. Inserts are
//! the store's atomic ones, so nodes seeding one database at once make
//! each key once (the loser re-reads and compares).

pub mod file;
pub mod users;

use std::sync::Arc;

use serde_json::json;
use trent_crypto::keytypes::{KeySpec, KeyUsage};
use trent_store::{KeyRecord, KeyState, Tag};

use crate::authz::{for_operator_seed, AliasScope, Authorized};
use crate::keys::{account as accounts, alias, policy, reference, tags, OpCtx};
use crate::state::{AppState, Ctx, Principal};
use file::{SeedAlias, SeedFile, SeedKey};

const DEFAULT_REGION: &str = "us-east-1";

/// What a seeding made (the rest already existed as the file says).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub keys_created: usize,
    pub aliases_created: usize,
    pub users_created: usize,
}

/// Applies `seed`; `default_account` is `--dev`'s account, if any.
pub async fn apply(state: &Arc<AppState>, seed: SeedFile, default_account: Option<&str>) -> Result<Outcome, String> {
    let account = seed.account.as_deref().or(default_account).ok_or("the seed file names no `account` (required without --dev)")?.to_owned();
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("account `{account}` is not a 12-digit account id"));
    }
    let region = seed.region.clone().unwrap_or_else(|| DEFAULT_REGION.into());
    if !state.regions.contains(&region) {
        return Err(format!("region `{region}` is not one this server serves (--regions)"));
    }
    let ctx = Ctx {
        state: state.clone(),
        principal: Principal::root(&account),
        region,
        request_id: "seed".into(),
        event_id: "seed".into(),
        audit: Default::default(),
        authz: Default::default(),
    };
    let op = OpCtx::new(&ctx);
    let owner = for_operator_seed(account);
    let mut outcome = Outcome::default();
    // Users first: a key policy may name them.
    for user in &seed.users {
        if users::seed_user(state, owner.as_str(), user).await.map_err(|e| format!("seed user {}: {e}", user.name))? {
            let event = user_event(owner.as_str(), op.region(), &user.name, &user.access_key_id, op.now());
            record(state, event).await.map_err(|e| format!("seed user {}: {e}", user.name))?;
            outcome.users_created += 1;
        }
    }
    for key in seed.keys {
        let id = key.id.clone();
        if seed_key(state, &op, &owner, key).await.map_err(|e| format!("seed key {id}: {e}"))? {
            outcome.keys_created += 1;
        }
    }
    for a in &seed.aliases {
        if seed_alias(state, &op, &owner, a).await.map_err(|e| format!("seed alias {}: {e}", a.name))? {
            outcome.aliases_created += 1;
        }
    }
    Ok(outcome)
}

/// Makes the key unless it exists as described; true if it made it.
async fn seed_key(state: &AppState, op: &OpCtx<'_>, owner: &Authorized<String>, seed: SeedKey) -> Result<bool, String> {
    let kms = |e: crate::protocol::error::KmsError| e.message.clone().unwrap_or_else(|| format!("{:?}", e.code));
    let uuid = if reference::is_multi_region_id(&seed.id) || reference::parse_key_id(&seed.id).is_some() {
        reference::key_id_bytes(&seed.id).ok_or("malformed id")?
    } else {
        return Err("`id` must be a lowercase key id (UUID) or a multi-Region key id (mrk- and 32 lowercase hex digits)".into());
    };
    let spec = KeySpec::parse(&seed.key_spec).ok_or_else(|| format!("unknown key-spec `{}`", seed.key_spec))?;
    let key_usage = match (&seed.key_usage, spec) {
        (Some(u), _) => u.clone(),
        (None, KeySpec::SymmetricDefault) => "ENCRYPT_DECRYPT".into(),
        (None, _) => return Err("key-usage is required for this key-spec".into()),
    };
    let usage = KeyUsage::parse(&key_usage).ok_or_else(|| format!("unknown key-usage `{key_usage}`"))?;
    if !spec.usages().contains(&usage) {
        return Err(format!("key-usage {key_usage} is not allowed for key-spec {}", seed.key_spec));
    }
    let policy = match seed.policy_text() {
        Some(text) => {
            policy::validate(&text).map_err(kms)?;
            policy::check_principals(op, owner, &text).await.map_err(kms)?;
            text
        }
        None => policy::default_policy(owner),
    };
    let mut tag_inputs = Vec::new();
    for (k, v) in &seed.tags {
        let value = v.as_str().ok_or_else(|| format!("tag `{k}`: its value must be a string"))?;
        tag_inputs.push(tags::TagInput { tag_key: k.clone(), tag_value: value.to_owned() });
    }
    let tags = tags::parse(tag_inputs).map_err(kms)?;
    let given_material_id = seed.material.as_ref().map(|m| hex::encode(trent_crypto::provider::seeded_material_id(uuid, spec, &m.0)));
    let desired = KeyRecord {
        arn: reference::key_arn(op.region(), owner, &seed.id),
        key_id: seed.id.clone(),
        account_id: owner.as_str().to_owned(),
        region: op.region().to_owned(),
        created_at: op.now(),
        description: seed.description.clone(),
        key_usage,
        key_spec: seed.key_spec.clone(),
        origin: "AWS_KMS".into(),
        state: KeyState::Enabled,
        deletion_date: None,
        pending_window_days: None,
        policy,
        tags,
        current_material_id: String::new(),
        multi_region: reference::is_multi_region_id(&seed.id),
        // A seeded mrk- key is a primary in the seed's Region, as CreateKey makes one.
        primary_region: reference::is_multi_region_id(&seed.id).then(|| op.region().to_owned()),
        rotation: Default::default(),
        import: Default::default(),
        key_manager: Default::default(),
        custom_key_store_id: None,
        xks_key_id: None,
        row_version: 0,
    };
    if let Some(existing) = state.store.get_key(&seed.id, op.region()).await.map_err(|e| e.to_string())? {
        return compare(op, &existing, &desired, given_material_id.as_deref()).await.map(|()| false);
    }
    let (stored, material_id) = match seed.material {
        Some(m) => accounts::seed_material(op, owner, uuid, spec, m.0).await.map_err(kms)?,
        None => accounts::generate_material(op, owner, uuid, spec).await.map_err(kms)?,
    };
    let key = KeyRecord { current_material_id: hex::encode(material_id), ..desired };
    if let Err(e) = accounts::insert_key(op, owner, &key, Some(stored), accounts::NewKeyId::KnownElsewhere).await {
        // Another node seeding the same database may have made it first.
        return match state.store.get_key(&seed.id, op.region()).await.map_err(|e| e.to_string())? {
            Some(existing) => compare(op, &existing, &key, given_material_id.as_deref()).await.map(|()| false),
            None => Err(kms(e)),
        };
    }
    let event = seed_event("CreateKey", &key, op.now(), json!({ "keyId": key.key_id, "keySpec": key.key_spec, "keyUsage": key.key_usage }));
    record(state, event).await?;
    Ok(true)
}

/// A differing field of an existing key is a start-up error naming it.
async fn compare(op: &OpCtx<'_>, existing: &KeyRecord, desired: &KeyRecord, material_id: Option<&str>) -> Result<(), String> {
    let differs = |field: &str, has: &str, wants: &str| Err(format!("the key exists with a different {field} (the store has `{has}`, the seed file says `{wants}`); change the seed file or the key"));
    if existing.account_id != desired.account_id {
        return differs("account", &existing.account_id, &desired.account_id);
    }
    for (field, has, wants) in [
        ("description", &existing.description, &desired.description),
        ("key-spec", &existing.key_spec, &desired.key_spec),
        ("key-usage", &existing.key_usage, &desired.key_usage),
        ("origin", &existing.origin, &desired.origin),
    ] {
        if has != wants {
            return differs(field, has, wants);
        }
    }
    if existing.policy != desired.policy {
        return Err("the key exists with a different policy; change the seed file or the key".into());
    }
    let sorted = |t: &[Tag]| {
        let mut v: Vec<(String, String)> = t.iter().map(|t| (t.key.clone(), t.value.clone())).collect();
        v.sort();
        v
    };
    if sorted(&existing.tags) != sorted(&desired.tags) {
        return Err(format!("the key exists with different tags (the store has {:?})", sorted(&existing.tags)));
    }
    if let Some(material_id) = material_id {
        let key = for_operator_seed(existing.clone());
        if !accounts::has_material(op, &key, material_id).await.map_err(|e| format!("{:?}", e.code))? {
            return Err("the key exists with different key material".into());
        }
    }
    Ok(())
}

/// Makes the alias unless it exists pointing at the same key; true if made.
async fn seed_alias(state: &AppState, op: &OpCtx<'_>, owner: &Authorized<String>, seed: &SeedAlias) -> Result<bool, String> {
    let kms = |e: crate::protocol::error::KmsError| e.message.clone().unwrap_or_else(|| format!("{:?}", e.code));
    alias::check_name(&seed.name).map_err(kms)?;
    alias::check_not_reserved(&seed.name).map_err(kms)?;
    let target = match state.store.get_key(&seed.target, op.region()).await.map_err(|e| e.to_string())? {
        Some(k) if k.account_id == owner.as_str() => k,
        _ => return Err(format!("its target `{}` is no key of account {} in {} (name a key id)", seed.target, owner.as_str(), op.region())),
    };
    let existing = || async { state.store.get_alias(owner, op.region(), &seed.name).await.map_err(|e| e.to_string()) };
    let same = |current: trent_store::AliasRecord| {
        if current.target_key_id == target.key_id {
            Ok(false)
        } else {
            Err(format!("the alias exists pointing at {}, not {}", current.target_key_id, target.key_id))
        }
    };
    if let Some(current) = existing().await? {
        return same(current);
    }
    let scope = for_operator_seed(AliasScope { account_id: owner.as_str().to_owned(), region: op.region().to_owned(), name: seed.name.clone() });
    let key = for_operator_seed(target.clone());
    if let Err(e) = alias::create(op, &scope, &key).await {
        // Another node seeding the same database may have made it first.
        return match existing().await? {
            Some(current) => same(current),
            None => Err(kms(e)),
        };
    }
    record(state, seed_event("CreateAlias", &target, op.now(), json!({ "aliasName": seed.name, "targetKeyId": target.key_id }))).await?;
    Ok(true)
}

/// CloudTrail's shape (`lifecycle::events::service_event`), said to be
/// the operator's seeding rather than a request.
fn seed_event(name: &str, key: &KeyRecord, at: i64, request: serde_json::Value) -> serde_json::Value {
    let mut e = crate::lifecycle::events::service_event(name, key, at, None);
    e["userIdentity"] = json!({ "type": "TrentOperator", "accountId": key.account_id, "invokedBy": "trent serve --seed" });
    e["requestParameters"] = request;
    e["trentAuthorizationReason"] = json!("not evaluated: seeded by the operator (trent serve --seed)");
    e
}

/// CreateUser's event (with the access key's id, never its secret).
fn user_event(account: &str, region: &str, name: &str, access_key_id: &str, at: i64) -> serde_json::Value {
    let arn = format!("arn:aws:iam::{account}:user/{name}");
    json!({
        "eventVersion": "1.11",
        "userIdentity": { "type": "TrentOperator", "accountId": account, "invokedBy": "trent serve --seed" },
        "eventTime": crate::audit::event::format_time(at),
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateUser",
        "awsRegion": region,
        "sourceIPAddress": "trent serve --seed",
        "userAgent": "trent serve --seed",
        "requestParameters": { "userName": name, "accessKeyId": access_key_id },
        "responseElements": null,
        "eventID": uuid::Uuid::new_v4().to_string(),
        "readOnly": false,
        "resources": [{ "accountId": account, "type": "AWS::IAM::User", "ARN": arn }],
        "eventType": "AwsServiceEvent",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "trentAuthorizationReason": "not evaluated: seeded by the operator (trent serve --seed)",
    })
}

/// Fsynced before serving; a failure stops the start (an unaudited seed
/// must not serve).
async fn record(state: &AppState, event: serde_json::Value) -> Result<(), String> {
    state.audit.record(&event, true).await.map_err(|e| format!("its audit event could not be written: {e}"))
}

#[cfg(test)]
mod tests {
    /// `authz::for_operator_seed` makes `Authorized` values without a
    /// decision: only start-up seeding may call it, never request code.
    #[test]
    fn only_seeding_makes_authorized_values_without_a_decision() {
        fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") && std::fs::read_to_string(&path).unwrap().contains("for_operator_seed") {
                    found.push(path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap().display().to_string());
                }
            }
        }
        let mut found = Vec::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        found.sort();
        assert_eq!(found, ["src/authz/mod.rs", "src/seed/mod.rs"]);
    }
}
