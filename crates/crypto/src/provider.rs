//! The key provider: where key material lives and where crypto with it runs.
//!
//! The server talks only to [`KeyProvider`], so a provider that keeps
//! material in an HSM can replace [`SoftwareProvider`] later (the way rustls
//! takes a crypto provider). The store keeps whatever [`StoredMaterial`] a
//! provider hands out and gives it back unchanged.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use uuid::Uuid;
use zeroize::Zeroizing;

use crate::ciphertext::{self, Header, MATERIAL_ID_LEN, MATERIAL_LEN};
use crate::error::CryptoError;
use crate::handle::{SoftwareSymmetricKey, SymmetricKey};
use crate::keytypes::{self, KeyCache, KeySpec, PrivateKey};
use crate::live_root::LiveRootKey;
use crate::secret::{random_bytes, random_secret, SecretBytes};

/// Key material as the store keeps it: opaque bytes that only the provider
/// that made it can use (sealed under the root key for the software
/// provider; an HSM handle later).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredMaterial(pub Vec<u8>);

impl fmt::Debug for StoredMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoredMaterial(<{} bytes>)", self.0.len())
    }
}

/// Where key material lives and crypto runs.
pub trait KeyProvider: Send + Sync {
    /// Short name for logs, e.g. `"software"`.
    fn name(&self) -> &'static str;

    /// Makes new symmetric (AES-256) key material for `key_id`, returning it
    /// in stored form and its material id.
    fn generate_symmetric(
        &self,
        key_id: Uuid,
    ) -> Result<(StoredMaterial, [u8; MATERIAL_ID_LEN]), CryptoError>;

    /// The handle of the symmetric key whose material `stored` is (the
    /// material `header` names): it does the crypto inside itself.
    fn symmetric_key(&self, stored: &StoredMaterial, header: &Header) -> Result<Arc<dyn SymmetricKey>, CryptoError>;

    /// Encrypts `plaintext` with the material `stored` (which must be the
    /// material `header` names) into a ciphertext blob.
    fn encrypt(
        &self,
        stored: &StoredMaterial,
        header: &Header,
        context: &BTreeMap<String, String>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.symmetric_key(stored, header)?.encrypt(context, plaintext)
    }

    /// Decrypts `blob`, whose parsed header is `header`, with the material
    /// `stored` that the store found for that header.
    fn decrypt(
        &self,
        stored: &StoredMaterial,
        header: &Header,
        blob: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<SecretBytes, CryptoError> {
        // The caller should have looked `stored` up by this blob's header;
        // if not, refuse before touching key material.
        if ciphertext::parse_header(blob)? != *header {
            return Err(CryptoError::Decrypt);
        }
        self.symmetric_key(stored, header)?.decrypt(blob, context)
    }

    /// Makes new key material of an asymmetric or HMAC `spec` for `key_id`.
    /// Slow for RSA-4096 (seconds): call it off the async threads.
    fn generate_key(
        &self,
        key_id: Uuid,
        spec: KeySpec,
    ) -> Result<(StoredMaterial, [u8; MATERIAL_ID_LEN]), CryptoError>;

    /// The usable key for the asymmetric or HMAC material `stored` (of
    /// `key_id`, `material_id` and `spec`). Parsed once, then cached.
    fn private_key(
        &self,
        key_id: Uuid,
        material_id: &[u8; MATERIAL_ID_LEN],
        spec: KeySpec,
        stored: &StoredMaterial,
    ) -> Result<Arc<PrivateKey>, CryptoError>;

    /// The usable key for this material if it is ready without the stored
    /// form (cached), so a request can skip reading the store.
    fn cached_private_key(
        &self,
        key_id: Uuid,
        material_id: &[u8; MATERIAL_ID_LEN],
        spec: KeySpec,
    ) -> Option<Arc<PrivateKey>>;

    /// Forgets cached keys of `key_id` (after it is deleted).
    fn forget_key(&self, key_id: Uuid);

    /// Takes imported material of `spec` (checked for it: `InvalidInput`
    /// says why not), stored like generated material. Its material id is
    /// the same whenever the same material is imported into the same key
    /// (so a re-import can be told apart from different material) and
    /// reveals nothing of it.
    fn import_key(
        &self,
        key_id: Uuid,
        spec: KeySpec,
        material: &SecretBytes,
    ) -> Result<(StoredMaterial, [u8; MATERIAL_ID_LEN]), CryptoError>;

    /// Takes operator-given material of `spec` (`trent serve --seed`),
    /// checked as imported material is. Its material id depends only on
    /// the material, the spec and the key id, not on the root key, so two
    /// servers seeded alike decrypt each other's ciphertexts.
    fn seed_key(
        &self,
        key_id: Uuid,
        spec: KeySpec,
        material: &SecretBytes,
    ) -> Result<(StoredMaterial, [u8; MATERIAL_ID_LEN]), CryptoError>;
}

/// A seeded key's material id: HMAC-SHA256 keyed by the material itself,
/// so it reveals nothing a ciphertext under that material does not.
pub fn seeded_material_id(key_id: Uuid, spec: KeySpec, material: &SecretBytes) -> [u8; MATERIAL_ID_LEN] {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, material.as_bytes());
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(b"trent/seeded-material-id/v1\0");
    data.extend_from_slice(spec.as_str().as_bytes());
    data.push(0);
    data.extend_from_slice(key_id.as_bytes());
    let mut id = [0u8; MATERIAL_ID_LEN];
    id.copy_from_slice(hmac::sign(&key, &data).as_ref());
    id
}

/// AAD prefix for key material sealed under the root key.
const MATERIAL_AAD_PREFIX: &[u8] = b"trent/material/v1";

/// Key material in software: generated with aws-lc's CSPRNG, stored sealed
/// under the root key with AAD `"trent/material/v1" || key id || material id`,
/// so a sealed blob cannot be moved to another key or material row.
///
/// Asymmetric and HMAC material is sealed the same way with AAD
/// `"trent/material/v1:" || KeySpec || key id || material id`, so it cannot
/// be read as another spec either; parsed keys are kept in a [`KeyCache`].
#[derive(Debug)]
pub struct SoftwareProvider {
    root: std::sync::Arc<LiveRootKey>,
    cache: KeyCache,
}

/// Parsed keys kept in memory (each a few kilobytes at most).
const KEY_CACHE_CAPACITY: usize = 10_000;
/// A parsed key unused this long is dropped from memory.
const KEY_CACHE_IDLE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

impl SoftwareProvider {
    /// A software provider sealing material under `root` (shared: the server
    /// seals other secrets, such as access keys, under the same root key).
    pub fn new(root: std::sync::Arc<LiveRootKey>) -> Self {
        SoftwareProvider { root, cache: KeyCache::new(KEY_CACHE_CAPACITY, KEY_CACHE_IDLE) }
    }

    fn typed_material_aad(spec: KeySpec, key_id: &Uuid, material_id: &[u8; MATERIAL_ID_LEN]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(MATERIAL_AAD_PREFIX.len() + 24 + 16 + MATERIAL_ID_LEN);
        aad.extend_from_slice(MATERIAL_AAD_PREFIX);
        aad.push(b':');
        aad.extend_from_slice(spec.as_str().as_bytes());
        aad.extend_from_slice(key_id.as_bytes());
        aad.extend_from_slice(material_id);
        aad
    }

    /// `stored` (the material `material_id` of `key_id`) sealed again
    /// under the root key's current generation (`trent operator
    /// rotate-root`); `None` if it already is. The row does not say the
    /// key's spec, so the AAD of symmetric material and then each spec's
    /// are tried (a wrong AAD fails the tag; nothing else is learnt).
    pub fn reseal(&self, key_id: Uuid, material_id: &[u8; MATERIAL_ID_LEN], stored: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
        let root = self.root.load();
        if root.sealed_by_this(stored) {
            return Ok(None);
        }
        let typed = KeySpec::ALL.iter().map(|spec| Self::typed_material_aad(*spec, &key_id, material_id));
        for aad in std::iter::once(Self::material_aad(&key_id, material_id)).chain(typed) {
            match root.reseal(stored, &aad) {
                Err(CryptoError::Decrypt) => continue,
                other => return other,
            }
        }
        Err(CryptoError::Internal("stored key material cannot be unsealed"))
    }

    /// Number of parsed keys in the cache (for tests and metrics).
    pub fn cached_keys(&self) -> usize {
        self.cache.len()
    }

    /// Imported symmetric (AES-256) material for `key_id`, stored, with
    /// its material id: the same whenever the same material is imported
    /// into the same key (so a re-import can be told apart from different
    /// material), revealing nothing of it.
    fn import_symmetric(
        &self,
        key_id: Uuid,
        material: &SecretBytes,
    ) -> Result<(StoredMaterial, [u8; MATERIAL_ID_LEN]), CryptoError> {
        if material.len() != MATERIAL_LEN {
            return Err(CryptoError::Malformed("symmetric key material must be 32 bytes"));
        }
        let mut data = Zeroizing::new(Vec::with_capacity(16 + MATERIAL_LEN));
        data.extend_from_slice(key_id.as_bytes());
        data.extend_from_slice(material.as_bytes());
        let material_id = self.root.load().keyed_digest(crate::root_key::MATERIAL_ID_LABEL, &data);
        let aad = Self::material_aad(&key_id, &material_id);
        let sealed = self.root.load().seal(material.as_bytes(), &aad)?;
        Ok((StoredMaterial(sealed), material_id))
    }

    fn material_aad(key_id: &Uuid, material_id: &[u8; MATERIAL_ID_LEN]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(MATERIAL_AAD_PREFIX.len() + 16 + MATERIAL_ID_LEN);
        aad.extend_from_slice(MATERIAL_AAD_PREFIX);
        aad.extend_from_slice(key_id.as_bytes());
        aad.extend_from_slice(material_id);
        aad
    }

    /// Unseals stored material. A failure here is the server's problem (a
    /// corrupt store row or the wrong root key), not the caller's ciphertext,
    /// so it is `Internal`, never `Decrypt`.
    fn unseal(&self, stored: &StoredMaterial, header: &Header) -> Result<SecretBytes, CryptoError> {
        let aad = Self::material_aad(&header.key_id, &header.material_id);
        let material = self
            .root
            .load()
            .unseal(&stored.0, &aad)
            .map_err(|_| CryptoError::Internal("stored key material cannot be unsealed"))?;
        if material.len() != MATERIAL_LEN {
            return Err(CryptoError::Internal(
                "stored key material has wrong length",
            ));
        }
        Ok(material)
    }
}

impl KeyProvider for SoftwareProvider {
    fn name(&self) -> &'static str {
        "software"
    }

    fn generate_symmetric(
        &self,
        key_id: Uuid,
    ) -> Result<(StoredMaterial, [u8; MATERIAL_ID_LEN]), CryptoError> {
        let material = random_secret(MATERIAL_LEN)?;
        let mut material_id = [0u8; MATERIAL_ID_LEN];
        material_id.copy_from_slice(&random_bytes(MATERIAL_ID_LEN)?);
        let aad = Self::material_aad(&key_id, &material_id);
        let sealed = self.root.load().seal(material.as_bytes(), &aad)?;
        Ok((StoredMaterial(sealed), material_id))
    }

    fn symmetric_key(&self, stored: &StoredMaterial, header: &Header) -> Result<Arc<dyn SymmetricKey>, CryptoError> {
        let material = self.unseal(stored, header)?;
        Ok(Arc::new(SoftwareSymmetricKey::new(*header, material)?))
    }

    fn generate_key(
        &self,
        key_id: Uuid,
        spec: KeySpec,
    ) -> Result<(StoredMaterial, [u8; MATERIAL_ID_LEN]), CryptoError> {
        if spec == KeySpec::SymmetricDefault {
            return self.generate_symmetric(key_id);
        }
        let material = keytypes::generate_material(spec)?;
        let mut material_id = [0u8; MATERIAL_ID_LEN];
        material_id.copy_from_slice(&random_bytes(MATERIAL_ID_LEN)?);
        let aad = Self::typed_material_aad(spec, &key_id, &material_id);
        let sealed = self.root.load().seal(material.as_bytes(), &aad)?;
        Ok((StoredMaterial(sealed), material_id))
    }

    fn private_key(
        &self,
        key_id: Uuid,
        material_id: &[u8; MATERIAL_ID_LEN],
        spec: KeySpec,
        stored: &StoredMaterial,
    ) -> Result<Arc<PrivateKey>, CryptoError> {
        self.cache.get_or_parse(key_id, material_id, spec, || {
            let aad = Self::typed_material_aad(spec, &key_id, material_id);
            let material = self
                .root
                .load()
                .unseal(&stored.0, &aad)
                .map_err(|_| CryptoError::Internal("stored key material cannot be unsealed"))?;
            PrivateKey::parse(spec, &material)
        })
    }

    fn cached_private_key(
        &self,
        key_id: Uuid,
        material_id: &[u8; MATERIAL_ID_LEN],
        spec: KeySpec,
    ) -> Option<Arc<PrivateKey>> {
        self.cache.get(key_id, material_id, spec)
    }

    fn forget_key(&self, key_id: Uuid) {
        self.cache.forget_key(key_id);
    }

    fn import_key(
        &self,
        key_id: Uuid,
        spec: KeySpec,
        material: &SecretBytes,
    ) -> Result<(StoredMaterial, [u8; MATERIAL_ID_LEN]), CryptoError> {
        if spec == KeySpec::SymmetricDefault {
            return self.import_symmetric(key_id, material);
        }
        keytypes::check_imported_material(spec, material).map_err(CryptoError::InvalidInput)?;
        let mut data = Zeroizing::new(Vec::with_capacity(64 + material.len()));
        data.extend_from_slice(spec.as_str().as_bytes());
        data.push(0);
        data.extend_from_slice(key_id.as_bytes());
        data.extend_from_slice(material.as_bytes());
        let material_id = self.root.load().keyed_digest(crate::root_key::MATERIAL_ID_LABEL, &data);
        let aad = Self::typed_material_aad(spec, &key_id, &material_id);
        let sealed = self.root.load().seal(material.as_bytes(), &aad)?;
        Ok((StoredMaterial(sealed), material_id))
    }

    fn seed_key(
        &self,
        key_id: Uuid,
        spec: KeySpec,
        material: &SecretBytes,
    ) -> Result<(StoredMaterial, [u8; MATERIAL_ID_LEN]), CryptoError> {
        let material_id = seeded_material_id(key_id, spec, material);
        if spec == KeySpec::SymmetricDefault {
            if material.len() != MATERIAL_LEN {
                return Err(CryptoError::InvalidInput("symmetric key material must be 32 bytes"));
            }
            let sealed = self.root.load().seal(material.as_bytes(), &Self::material_aad(&key_id, &material_id))?;
            return Ok((StoredMaterial(sealed), material_id));
        }
        keytypes::check_imported_material(spec, material).map_err(CryptoError::InvalidInput)?;
        let sealed = self.root.load().seal(material.as_bytes(), &Self::typed_material_aad(spec, &key_id, &material_id))?;
        Ok((StoredMaterial(sealed), material_id))
    }
}
