//! CreateKey: a new KMS key in the caller's account and region, of any
//! KeySpec with a KeyUsage AWS allows for it (`KeySpec::usages`); other
//! pairs are a ValidationException.

use serde_json::{json, Value};
use trent_model::input::CreateKeyRequest;
use trent_store::{KeyRecord, KeyState};
use trent_crypto::keytypes::{KeySpec, KeyUsage};

use super::validation_unsupported;
use crate::authz::Authorized;
use crate::keys::OpCtx;
use crate::keys::{account as accounts, key_stores, metadata, multi_region, policy, reference::key_arn, tags, xks_keys};
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub async fn handle(ctx: &OpCtx<'_>, req: CreateKeyRequest, account: Authorized<String>) -> Result<Value, KmsError> {
    if req.key_spec.is_some() && req.customer_master_key_spec.is_some() {
        return Err(Error::KeySpecAndCustomerMasterKeySpec.into());
    }
    let key_spec = req.key_spec.or(req.customer_master_key_spec).unwrap_or_else(|| "SYMMETRIC_DEFAULT".into());
    // KeyUsage is optional only for symmetric encryption keys (AWS's CreateKey).
    if req.key_usage.is_none() && key_spec != "SYMMETRIC_DEFAULT" {
        return Err(Error::KeyUsageRequired.into());
    }
    let key_usage = req.key_usage.unwrap_or_else(|| "ENCRYPT_DECRYPT".into());
    // The model checked both against its enums; one Trent cannot make:
    let spec = KeySpec::parse(&key_spec).ok_or_else(|| KmsError::from(Error::TrentUnsupported { what: format!("KeySpec {key_spec}") }))?;
    let usage = KeyUsage::parse(&key_usage).ok_or_else(|| KmsError::from(Error::TrentUnsupported { what: format!("KeyUsage {key_usage}") }))?;
    if !spec.usages().contains(&usage) {
        let allowed = spec.usages().iter().map(|u| u.as_str()).collect::<Vec<_>>().join(" or ");
        return Err(Error::UsageNotForSpec { usage: key_usage, spec: key_spec, allowed }.into());
    }
    let origin = req.origin.unwrap_or_else(|| "AWS_KMS".into());
    // EXTERNAL: created without material, PendingImport until ImportKeyMaterial.
    let external = origin == "EXTERNAL";
    // AWS_CLOUDHSM: material generated in a key store's token.
    let in_token = origin == key_stores::CLOUDHSM;
    // EXTERNAL_KEY_STORE: Trent's material and an external key (double encryption).
    let in_xks = origin == xks_keys::ORIGIN;
    let in_key_store = in_token || in_xks;
    if origin != "AWS_KMS" && !external && !in_key_store {
        return Err(validation_unsupported(format!("Origin {origin}")));
    }
    if in_key_store != req.custom_key_store_id.is_some() {
        return Err(Error::OriginNeedsKeyStore { origin }.into());
    }
    if in_xks != req.xks_key_id.is_some() {
        return Err(Error::XksKeyIdRequired.into());
    }
    // AWS: "you cannot create a multi-Region key in a custom key store".
    if in_key_store && req.multi_region == Some(true) {
        return Err(Error::MultiRegionInKeyStore.into());
    }
    if in_key_store && (spec != KeySpec::SymmetricDefault || usage != KeyUsage::EncryptDecrypt) {
        return Err(Error::KeyStoreKeySpec { spec: key_spec.clone() }.into());
    }
    // The key types AWS takes imported material for (not ML-DSA, ML-KEM, Ed25519).
    let importable = spec == KeySpec::SymmetricDefault || spec.is_hmac() || key_spec.starts_with("RSA_") || key_spec.starts_with("ECC_NIST_P") || matches!(spec, KeySpec::EccSecgP256k1 | KeySpec::Sm2);
    if external && !importable {
        return Err(validation_unsupported(format!("Origin EXTERNAL (imported key material) with KeySpec {key_spec}")));
    }
    let policy_given = req.policy.is_some();
    let policy = match req.policy {
        Some(p) => {
            policy::validate(&p)?;
            policy::check_principals(ctx, &account, &p).await?;
            p
        }
        None => policy::default_policy(&account),
    };
    let tags = tags::parse(super::tag_inputs(req.tags.unwrap_or_default()))?;
    if tags.len() > tags::MAX_TAGS_PER_KEY {
        return Err(Error::TooManyTags { max: tags::MAX_TAGS_PER_KEY.to_string() }.into());
    }

    // A multi-Region primary's id is `mrk-` and 32 hex digits, as AWS's.
    let multi_region = req.multi_region == Some(true);
    let (id, key_id) = if multi_region {
        multi_region::new_id()?
    } else {
        let id = trent_crypto::new_uuid();
        (id, id.to_string())
    };
    let arn = key_arn(ctx.region(), &account, &key_id);
    let generated = match &req.custom_key_store_id {
        _ if external => None,
        Some(store_id) if in_xks => {
            let xks_key_id = req.xks_key_id.as_deref().unwrap_or_default();
            xks_keys::check_new_key(ctx, &account, store_id, xks_key_id).await?;
            Some(accounts::generate_material(ctx, &account, id, spec).await?)
        }
        Some(store_id) => Some((key_stores::generate_key(ctx, &account, store_id, &arn).await?, trent_crypto::random_bytes(32)?.try_into().map_err(|_| KmsError::internal("material id"))?)),
        None => Some(accounts::generate_material(ctx, &account, id, spec).await?),
    };
    let now = ctx.now();
    let key = KeyRecord {
        arn,
        key_id,
        account_id: account.as_str().to_owned(),
        region: ctx.region().to_owned(),
        created_at: now,
        description: req.description.unwrap_or_default(),
        key_usage,
        key_spec,
        origin,
        state: if external { KeyState::PendingImport } else { KeyState::Enabled },
        deletion_date: None,
        pending_window_days: None,
        policy,
        tags,
        current_material_id: generated.as_ref().map(|(_, id)| hex::encode(id)).unwrap_or_default(),
        primary_region: multi_region.then(|| ctx.region().to_owned()),
        multi_region,
        rotation: Default::default(),
        import: Default::default(),
        key_manager: Default::default(),
        custom_key_store_id: req.custom_key_store_id.clone(),
        xks_key_id: req.xks_key_id.clone(),
        row_version: 0,
    };
    let saved = async {
        if policy_given {
            policy::lockout_check(ctx, &account, &key, req.bypass_policy_lockout_safety_check == Some(true)).await?;
        }
        // A key store's token or proxy saw the id already (see NewKeyId).
        let id = if in_key_store { accounts::NewKeyId::KnownElsewhere } else { accounts::NewKeyId::DrawnForThisCall };
        accounts::insert_key(ctx, &account, &key, generated.map(|(stored, _)| stored), id).await
    };
    if let Err(e) = saved.await {
        if let (Some(store_id), true) = (&key.custom_key_store_id, in_token) {
            // No KMS key names the token object made for it: destroy it.
            key_stores::discard_key(ctx, &account, store_id, &key.arn).await;
        }
        return Err(e);
    }
    Ok(json!({ "KeyMetadata": metadata::key_metadata(&key) }))
}
