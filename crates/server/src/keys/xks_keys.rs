//! KMS keys in an external key store (origin `EXTERNAL_KEY_STORE`), as
//! AWS builds them: two backing keys, Trent's own AES-256 material
//! (software, sealed under the root key as any key's) and the external
//! key the XKS proxy holds. Encryption is double: Trent's AES-GCM first
//! (a version 1 blob), then the proxy's Encrypt of that blob; Decrypt
//! reverses both (docs/ciphertext-format.md, format version 2).
//!
//! Faults: AWS answers every proxy or connection failure during a
//! cryptographic operation with KMSInvalidStateException, its message
//! saying why, and leaves the key store's connection state alone (only
//! connecting and disconnecting change it), so Trent does too.

use trent_crypto::{ciphertext, Header, SecretBytes, StoredMaterial};
use trent_store::{ConnectionState, CustomKeyStoreRecord, KeyRecord};

use super::symmetric::EncryptionContext;
use super::xks_blob::{self, Outer};
use super::xks_stores::{self, EXTERNAL};
use super::{key_stores, OpCtx};
use crate::authz::Authorized;
use crate::keystores::xks_client::XksError;
use crate::keystores::xks_crypto::{RequestMetadata, Sealed};
use crate::protocol::catalogue::Error;
use crate::protocol::error::KmsError;

pub const ORIGIN: &str = "EXTERNAL_KEY_STORE";

/// CreateKey in external key store `id` on external key `xks_key_id`: the
/// key store is CONNECTED and the proxy says the key is an enabled AES-256
/// key for encryption and decryption (GetKeyMetadata). Whether another
/// KMS key uses it is the store's unique index, at insert.
pub async fn check_new_key(ctx: &OpCtx<'_>, account: &Authorized<String>, id: &str, xks_key_id: &str) -> Result<(), KmsError> {
    let store = key_stores::find(ctx, account, id).await?;
    if store.store_type != EXTERNAL {
        return Err(Error::KeyStoreTypeMismatch { origin: ORIGIN.to_owned(), id: id.to_owned(), store_type: store.store_type.clone() }.into());
    }
    if store.state != ConnectionState::Connected {
        return Err(key_stores::invalid_state(&store, "keys can be created only in a CONNECTED key store"));
    }
    let (proxy, secret) = proxy_of(ctx, &store)?;
    let client = ctx.state().key_stores.xks().map_err(KmsError::internal)?;
    let target = xks_stores::target(proxy, &store.region, secret.as_bytes());
    let invalid = |why: String| KmsError::from(Error::XksKeyInvalidConfiguration { xks_key_id: xks_key_id.to_owned(), why });
    let metadata = match client.key_metadata(&target, xks_key_id, "CreateKey", &ctx.principal().arn, ctx.request_id()).await {
        Ok(m) => m,
        Err(XksError::Refused { name, .. }) if name == "KeyNotFoundException" => {
            return Err(Error::XksKeyNotFound { xks_key_id: xks_key_id.to_owned(), id: id.to_owned() }.into());
        }
        Err(e) => {
            tracing::warn!(key_store = %id, error = %e, "GetKeyMetadata failed at CreateKey");
            return Err(key_stores::invalid_state(&store, &format!("its proxy failed: {e}")));
        }
    };
    if metadata.key_spec != "AES_256" {
        return Err(invalid(format!("its key spec is {}", metadata.key_spec)));
    }
    if !["ENCRYPT", "DECRYPT"].iter().all(|u| metadata.key_usage.iter().any(|k| k == u)) {
        return Err(invalid(format!("its key usage is {:?}", metadata.key_usage)));
    }
    if metadata.key_status != "ENABLED" {
        return Err(invalid(format!("its status is {}", metadata.key_status)));
    }
    Ok(())
}

/// Encrypt: Trent's layer with `material`, then the proxy's.
pub async fn encrypt(ctx: &OpCtx<'_>, key: &KeyRecord, operation: &str, material: &StoredMaterial, header: Header, context: &EncryptionContext, plaintext: &[u8]) -> Result<Vec<u8>, KmsError> {
    let (store, xks_key_id) = usable_store(ctx, key).await?;
    let inner = ctx.state().provider.encrypt(material, &header, context, plaintext)?;
    let aad = proxy_aad(key, &header, context)?;
    let (proxy, secret) = proxy_of(ctx, &store)?;
    let client = ctx.state().key_stores.xks().map_err(KmsError::internal)?;
    let target = xks_stores::target(proxy, &store.region, secret.as_bytes());
    let meta = metadata(ctx, key, operation);
    let sealed = client.encrypt(&target, xks_key_id, &meta, &inner, &aad).await.map_err(|e| proxy_error(key, &store, e))?;
    // GCM keeps the length: anything else is not the spec's answer.
    if sealed.ciphertext.len() != inner.len() {
        return Err(proxy_error(key, &store, XksError::InvalidResponse("Encrypt: the ciphertext's length is not the plaintext's".into())));
    }
    let outer = Outer { header, iv: sealed.iv, metadata: sealed.metadata, ciphertext: sealed.ciphertext, tag: sealed.tag };
    xks_blob::encode(&outer).ok_or_else(|| proxy_error(key, &store, XksError::InvalidResponse("Encrypt: iv, tag or metadata of an unexpected length".into())))
}

/// Decrypt of an outer blob: the proxy's layer, then Trent's with
/// `material`; the inner blob must name the same key and material.
pub async fn decrypt(ctx: &OpCtx<'_>, key: &KeyRecord, operation: &str, material: &StoredMaterial, blob: &[u8], context: &EncryptionContext) -> Result<SecretBytes, KmsError> {
    let invalid = || KmsError::from(Error::InvalidCiphertext);
    let outer = xks_blob::parse(blob).map_err(|_| invalid())?;
    let (store, xks_key_id) = usable_store(ctx, key).await?;
    let aad = proxy_aad(key, &outer.header, context)?;
    let (proxy, secret) = proxy_of(ctx, &store)?;
    let client = ctx.state().key_stores.xks().map_err(KmsError::internal)?;
    let target = xks_stores::target(proxy, &store.region, secret.as_bytes());
    let meta = metadata(ctx, key, operation);
    let sealed = Sealed { ciphertext: outer.ciphertext, iv: outer.iv, tag: outer.tag, metadata: outer.metadata };
    let inner = match client.decrypt(&target, xks_key_id, &meta, &sealed, &aad).await {
        Ok(inner) => inner,
        // The proxy refused the blob's parts (a changed iv length makes an
        // iv it does not take: ValidationException): the blob is bad.
        Err(XksError::Refused { name, .. }) if matches!(name.as_str(), "InvalidCiphertextException" | "ValidationException") => return Err(invalid()),
        Err(e) => return Err(proxy_error(key, &store, e)),
    };
    match ciphertext::parse_header(inner.as_bytes()) {
        Ok(h) if h == outer.header => {}
        _ => return Err(invalid()),
    }
    match ctx.state().provider.decrypt(material, &outer.header, inner.as_bytes(), context) {
        Ok(p) => Ok(p),
        Err(trent_crypto::CryptoError::Decrypt | trent_crypto::CryptoError::Malformed(_)) => Err(invalid()),
        Err(e) => Err(e.into()),
    }
}

/// The key's external key store, CONNECTED, and its external key id.
async fn usable_store<'k>(ctx: &OpCtx<'_>, key: &'k KeyRecord) -> Result<(CustomKeyStoreRecord, &'k str), KmsError> {
    let (Some(store_id), Some(xks_key_id)) = (&key.custom_key_store_id, &key.xks_key_id) else {
        return Err(KmsError::internal(format!("{} is not a key in an external key store", key.arn)));
    };
    let unusable = |why: String| KmsError::from(Error::XksKeyUnusable { arn: key.arn.clone(), id: store_id.clone(), why });
    let store = ctx.store().get_custom_key_store(store_id).await?.ok_or_else(|| unusable("the key store is gone".into()))?;
    if store.state != ConnectionState::Connected {
        return Err(unusable(format!("the external key store is {}", store.state.as_str())));
    }
    Ok((store, xks_key_id))
}

fn proxy_of<'s>(ctx: &OpCtx<'_>, store: &'s CustomKeyStoreRecord) -> Result<(&'s trent_store::XksProxy, SecretBytes), KmsError> {
    let proxy = store.xks.as_ref().ok_or_else(|| KmsError::internal(format!("external key store {} has no proxy", store.id)))?;
    Ok((proxy, xks_stores::unseal_secret(ctx.state(), store)?))
}

fn proxy_aad(key: &KeyRecord, header: &Header, context: &EncryptionContext) -> Result<Vec<u8>, KmsError> {
    let encoded = ciphertext::encode_context(context)?;
    xks_blob::proxy_aad(header, &key.arn, &encoded).map_err(|_| KmsError::internal("key ARN too long for the proxy AAD"))
}

/// The spec's requestMetadata: who asked, for what, in which request.
fn metadata<'a>(ctx: &'a OpCtx<'_>, key: &'a KeyRecord, operation: &'a str) -> RequestMetadata<'a> {
    RequestMetadata { principal: &ctx.principal().arn, operation, request_id: ctx.request_id(), key_arn: &key.arn }
}

/// AWS: KMSInvalidStateException for every proxy failure, the message
/// naming it (the XKS spec's "KMS Considerations" table for the proxy's
/// own errors).
fn proxy_error(key: &KeyRecord, store: &CustomKeyStoreRecord, e: XksError) -> KmsError {
    tracing::warn!(key = %key.arn, key_store = %store.id, error = %e, "the XKS proxy failed a cryptographic request");
    let why = match &e {
        XksError::Refused { name, .. } if name == "KeyNotFoundException" => "the external key store proxy cannot find the external key".to_owned(),
        XksError::Refused { name, .. } if name == "InvalidStateException" => "the external key is not enabled in the external key manager".to_owned(),
        XksError::DependencyTimeout => "the external key store proxy did not respond to the request in the time allotted; retry the request, and if you see this error repeatedly, report it to your external key store proxy administrator".to_owned(),
        XksError::Throttled => "the external key store proxy rejected the request due to a very high request rate; reduce the frequency of your calls using KMS keys in this external key store".to_owned(),
        _ => format!("the external key store proxy failed ({}): {e}", e.connection_error_code()),
    };
    Error::XksKeyUnusable { arn: key.arn.clone(), id: store.id.clone(), why }.into()
}
