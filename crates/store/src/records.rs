//! The records Trent keeps: the model layer between the API and the database.
//! Each is plain data; the store persists it and the server gives it meaning.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, from the server's injected clock.
pub type Millis = i64;

/// The lifecycle states of a KMS key, spelled as the API spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    Creating,
    Enabled,
    Disabled,
    PendingDeletion,
    PendingImport,
    PendingReplicaDeletion,
    Unavailable,
    Updating,
}

impl KeyState {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyState::Creating => "Creating",
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingImport => "PendingImport",
            KeyState::PendingReplicaDeletion => "PendingReplicaDeletion",
            KeyState::Unavailable => "Unavailable",
            KeyState::Updating => "Updating",
        }
    }
}

/// A tag as the API carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A KMS key's metadata, policy and tags. Key material is kept apart
/// ([`MaterialRecord`]) so that reading metadata never touches it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key_id: String,
    pub account_id: String,
    pub region: String,
    pub arn: String,
    pub created_at: Millis,
    pub description: String,
    pub key_usage: String,
    pub key_spec: String,
    pub origin: String,
    pub state: KeyState,
    /// When a key pending deletion is destroyed.
    #[serde(default)]
    pub deletion_date: Option<Millis>,
    #[serde(default)]
    pub pending_window_days: Option<i32>,
    pub policy: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Hex id of the material new ciphertexts are made with.
    pub current_material_id: String,
    #[serde(default)]
    pub multi_region: bool,
    /// A multi-Region key's primary Region, on every member of its set;
    /// None for single-Region keys and for primaries recorded before
    /// replicas existed (their own Region is the primary's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_region: Option<String>,
    /// Rotation schedule and history.
    #[serde(default)]
    pub rotation: KeyRotation,
    /// Imported key material's terms (origin EXTERNAL).
    #[serde(default)]
    pub import: KeyImport,
    /// Who manages the key: its account, or AWS (an AWS managed key).
    #[serde(default, skip_serializing_if = "KeyManager::is_customer")]
    pub key_manager: KeyManager,
    /// The custom key store whose token holds the key's material (origin
    /// `AWS_CLOUDHSM`); None for keys whose material Trent keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
    /// The external key (`XksKeyId`) of a key in an external key store
    /// (origin `EXTERNAL_KEY_STORE`). Unique per key store: the store's
    /// index refuses a second key on it (`StoreError::AlreadyExists`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xks_key_id: Option<String>,
    /// Optimistic-concurrency counter: bumped by every update; an update
    /// that starts from a stale copy fails with [`crate::StoreError::Conflict`].
    #[serde(skip)]
    pub row_version: i64,
}

/// Who manages a key (the API's `KeyManager`): the account that owns it,
/// or AWS — an AWS managed key, made the first time a service uses its
/// `alias/aws/<service>` on an account's behalf.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyManager {
    #[default]
    #[serde(rename = "CUSTOMER")]
    Customer,
    #[serde(rename = "AWS")]
    Aws,
}

impl KeyManager {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyManager::Customer => "CUSTOMER",
            KeyManager::Aws => "AWS",
        }
    }

    pub fn is_customer(&self) -> bool {
        *self == KeyManager::Customer
    }
}

/// How a rotation came about, spelled as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RotationType {
    #[serde(rename = "AUTOMATIC")]
    Automatic,
    #[serde(rename = "ON_DEMAND")]
    OnDemand,
}

impl RotationType {
    pub fn as_str(&self) -> &'static str {
        match self {
            RotationType::Automatic => "AUTOMATIC",
            RotationType::OnDemand => "ON_DEMAND",
        }
    }
}

/// A key's rotation schedule and history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRotation {
    /// Automatic rotation's period, while it is enabled.
    pub period_days: Option<i32>,
    /// When automatic rotation is next due (only while it is enabled).
    pub next_at: Option<Millis>,
    /// What the schedule counts from: when rotation was enabled or last
    /// rotated automatically. A changed period is counted from here.
    pub base: Option<Millis>,
    /// Every rotation so far, oldest first.
    pub history: Vec<Rotation>,
    /// The material the key was created with, recorded at its first
    /// rotation (until then it is `current_material_id`).
    pub initial_material_id: Option<String>,
}

/// A key's imported materials. Records written before Trent kept several
/// materials per key hold only the current material's terms in the three
/// legacy fields; [`KeyRecord::imported_materials`] reads either form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyImport {
    /// Legacy: the current material's `ExpirationModel`, while imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<String>,
    /// Legacy: when the current material expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Millis>,
    /// Legacy: the current material's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material_description: Option<String>,
    /// Every material imported into the key, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub materials: Vec<ImportedMaterial>,
}

/// One imported material of a key and its terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedMaterial {
    pub material_id: String,
    /// `KEY_MATERIAL_EXPIRES` or `KEY_MATERIAL_DOES_NOT_EXPIRE`.
    pub expiration_model: String,
    /// When the material expires and is deleted.
    #[serde(default)]
    pub valid_to: Option<Millis>,
    #[serde(default)]
    pub description: Option<String>,
    /// False once deleted or expired, until the same material is imported
    /// again (the API's ImportState PENDING_IMPORT).
    pub imported: bool,
    /// Imported for an on-demand rotation that has not happened yet
    /// (KeyMaterialState PENDING_ROTATION): not yet part of the key.
    #[serde(default)]
    pub pending_rotation: bool,
}

impl KeyRecord {
    /// The key's imported materials, also from a record of the legacy form
    /// (one material, the current one; its terms cleared when it was deleted).
    pub fn imported_materials(&self) -> Vec<ImportedMaterial> {
        if !self.import.materials.is_empty() || self.origin != "EXTERNAL" || self.current_material_id.is_empty() {
            return self.import.materials.clone();
        }
        let legacy = &self.import;
        vec![ImportedMaterial {
            material_id: self.current_material_id.clone(),
            expiration_model: legacy.expiration_model.clone().unwrap_or_else(|| "KEY_MATERIAL_DOES_NOT_EXPIRE".into()),
            valid_to: legacy.valid_to,
            description: legacy.material_description.clone(),
            imported: legacy.expiration_model.is_some(),
            pending_rotation: false,
        }]
    }

    /// A replica of a multi-Region key (not its primary).
    pub fn is_replica(&self) -> bool {
        self.multi_region && self.primary_region.as_deref().is_some_and(|p| p != self.region)
    }

    /// When automatic rotation is next due, as the store indexes it: never
    /// for a replica, which its primary's rotation rotates.
    pub fn rotation_due(&self) -> Option<Millis> {
        if self.is_replica() { None } else { self.rotation.next_at }
    }

    /// Copies what every member of a multi-Region set shares (the current
    /// material and the rotation schedule and history) from `primary`.
    /// True if anything changed.
    ///
    /// Imported material is each member's own (AWS imports it into each
    /// member, with its own terms): a replica takes only which materials
    /// the set has ([`KeyRecord::share_materials_from`]).
    pub fn share_from(&mut self, primary: &KeyRecord) -> bool {
        let before = self.clone();
        self.current_material_id.clone_from(&primary.current_material_id);
        self.rotation.clone_from(&primary.rotation);
        if self.origin == "EXTERNAL" {
            self.share_materials_from(primary);
        }
        *self != before
    }

    /// A replica with imported material learns the set's materials from
    /// its primary, keeping its own import of each (imported or not, its
    /// terms): a material new to it is listed PENDING_IMPORT, waiting for
    /// the same material to be imported into it; whether a material waits
    /// for rotation is the primary's; material pending rotation that the
    /// primary deleted is deleted here too (AWS). A replica lacking
    /// material that is part of the key waits in PendingImport.
    fn share_materials_from(&mut self, primary: &KeyRecord) {
        let theirs = primary.imported_materials();
        let mut mine = self.imported_materials();
        mine.retain(|m| !m.pending_rotation || theirs.iter().any(|t| t.material_id == m.material_id));
        for t in &theirs {
            match mine.iter_mut().find(|m| m.material_id == t.material_id) {
                Some(m) => m.pending_rotation = t.pending_rotation,
                None => mine.push(ImportedMaterial { imported: false, valid_to: None, description: None, ..t.clone() }),
            }
        }
        let lacking = mine.iter().any(|m| !m.imported && !m.pending_rotation);
        if lacking && matches!(self.state, KeyState::Enabled | KeyState::Disabled) {
            self.state = KeyState::PendingImport;
        }
        self.import = KeyImport { materials: mine, ..KeyImport::default() };
    }

    /// The imported materials any of `members` holds now: their sealed
    /// copies must stay while one member still uses them.
    pub fn materials_in_use(members: &[KeyRecord]) -> std::collections::BTreeSet<String> {
        members.iter().flat_map(|m| m.imported_materials()).filter(|m| m.imported).map(|m| m.material_id).collect()
    }

    /// The earliest ValidTo of the key's imported materials: what the store
    /// indexes to find expired material.
    pub fn next_material_expiry(&self) -> Option<Millis> {
        self.imported_materials().iter().filter(|m| m.imported).filter_map(|m| m.valid_to).min()
    }
}

/// One rotation: the material it made current, when and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    pub material_id: String,
    pub rotated_at: Millis,
    pub kind: RotationType,
}

/// One version of a key's material, in the provider's stored (sealed) form.
#[derive(Clone, PartialEq, Eq)]
pub struct MaterialRecord {
    pub key_id: String,
    pub material_id: String,
    pub stored: Vec<u8>,
    pub created_at: Millis,
}

impl std::fmt::Debug for MaterialRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sealed, but there is still no reason to print it.
        f.debug_struct("MaterialRecord")
            .field("key_id", &self.key_id)
            .field("material_id", &self.material_id)
            .field("stored", &format_args!("<{} bytes>", self.stored.len()))
            .finish()
    }
}

/// An alias: a friendly name for a key within one account and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRecord {
    pub account_id: String,
    pub region: String,
    /// Includes the `alias/` prefix, as the API spells it.
    pub alias_name: String,
    pub target_key_id: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A user or role that can sign requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalRecord {
    pub arn: String,
    pub account_id: String,
    pub created_at: Millis,
}

/// An access key: its secret is sealed under the root key by the caller.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub principal_arn: String,
    pub sealed_secret: Vec<u8>,
    pub created_at: Millis,
    /// An inactive key (IAM UpdateAccessKey) is refused at once.
    pub active: bool,
}

impl std::fmt::Debug for AccessKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("access_key_id", &self.access_key_id)
            .field("principal_arn", &self.principal_arn)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// Where a key is: its id and Region (the members of a multi-Region key
/// share the id, one per Region).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyLocation {
    pub key_id: String,
    pub region: String,
}

/// The last successful cryptographic use of a key (GetKeyLastUsage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUsageRecord {
    pub key_id: String,
    pub region: String,
    pub used_at: Millis,
    /// The operation's name, e.g. `Encrypt`.
    pub operation: String,
    pub request_id: String,
    /// The `eventID` of the use's audit event (GetKeyLastUsage's
    /// `CloudTrailEventId`). None for uses recorded before Trent kept it.
    pub event_id: Option<String>,
}

/// The kinds of IAM entity an account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    User,
    Role,
    /// A customer managed policy.
    Policy,
}

impl EntityKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Role => "role",
            EntityKind::Policy => "policy",
        }
    }
}

/// An IAM user, role or managed policy of one account. Names are unique per
/// account and kind regardless of case, as in IAM. The store keeps `doc`
/// (the server's JSON: ids, path, tags, policy documents) without looking
/// inside it. A user is also a principal: inserting one inserts its
/// [`PrincipalRecord`], deleting it deletes that and its access keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityRecord {
    pub account_id: String,
    pub kind: EntityKind,
    pub name: String,
    pub arn: String,
    pub created_at: Millis,
    pub doc: String,
    /// Optimistic-concurrency counter, as [`KeyRecord::row_version`].
    pub row_version: i64,
}

impl EntityRecord {
    /// The case-folded name that uniqueness and listing order go by.
    pub fn folded_name(name: &str) -> String {
        name.to_lowercase()
    }
}

/// A grant on a KMS key. What it allows (operations, constraints) is in
/// `doc`, which the server writes and reads; the store only keeps the
/// columns it looks grants up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    pub grant_id: String,
    pub key_id: String,
    /// The Region of the key (member) the grant is on.
    pub region: String,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    pub name: Option<String>,
    pub created_at: Millis,
    pub doc: String,
}

/// A custom key store's connection state, spelled as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    Connected,
    Connecting,
    Disconnected,
    Disconnecting,
    Failed,
}

impl ConnectionState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ConnectionState::Connected => "CONNECTED",
            ConnectionState::Connecting => "CONNECTING",
            ConnectionState::Disconnected => "DISCONNECTED",
            ConnectionState::Disconnecting => "DISCONNECTING",
            ConnectionState::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Connected, Self::Connecting, Self::Disconnected, Self::Disconnecting, Self::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// A custom key store: of type `AWS_CLOUDHSM`, a registered PKCS#11 token
/// (its "cluster") and the sealed PIN Trent logs in with; of type
/// `EXTERNAL_KEY_STORE`, an XKS proxy ([`XksProxy`]) and the sealed secret
/// access key Trent signs its requests with. Names are unique per account
/// and Region; a cluster belongs to at most one key store in the whole
/// deployment (a token is one physical thing); a proxy's endpoint and path
/// together to at most one per account and Region (AWS's rule).
#[derive(Clone, PartialEq, Eq)]
pub struct CustomKeyStoreRecord {
    /// `cks-` and 17 hex digits, as AWS.
    pub id: String,
    pub account_id: String,
    pub region: String,
    pub name: String,
    /// `AWS_CLOUDHSM` or `EXTERNAL_KEY_STORE`.
    pub store_type: String,
    /// An external key store has no cluster: its own id stands here, so the
    /// deployment-wide uniqueness of clusters never concerns it.
    pub cluster_id: String,
    /// The PEM the key store was created with (TrustAnchorCertificate).
    pub trust_anchor: String,
    /// The token's user PIN (the `kmsuser` password), or the XKS proxy's
    /// raw secret access key, sealed under the root key by the server.
    pub sealed_password: Vec<u8>,
    /// An external key store's proxy (`None` for CloudHSM).
    pub xks: Option<XksProxy>,
    pub state: ConnectionState,
    /// AWS's `ConnectionErrorCode` while the state is FAILED.
    pub error_code: Option<String>,
    /// Changes at every ConnectCustomKeyStore (and every automatic
    /// reconnection): a node whose token session was opened under another
    /// connection id logs in again.
    pub connection_id: String,
    pub created_at: Millis,
    /// Optimistic-concurrency counter, as [`KeyRecord::row_version`].
    pub row_version: i64,
}

impl std::fmt::Debug for CustomKeyStoreRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomKeyStoreRecord")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("region", &self.region)
            .field("name", &self.name)
            .field("cluster_id", &self.cluster_id)
            .field("xks", &self.xks)
            .field("state", &self.state)
            .field("error_code", &self.error_code)
            .finish_non_exhaustive()
    }
}

/// Where and as whom an external key store calls its XKS proxy (the
/// secret is the record's `sealed_password`). Nothing here is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XksProxy {
    /// `https://` and a host name (AWS: port 443, no path).
    pub uri_endpoint: String,
    /// Ends in `/kms/xks/v1`, an optional prefix before.
    pub uri_path: String,
    /// `PUBLIC_ENDPOINT` (or `VPC_ENDPOINT_SERVICE`, which Trent refuses).
    pub connectivity: String,
    pub access_key_id: String,
}

/// Why a custom key store could not be inserted or updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStoreConflict {
    /// Another key store of the account and Region has the name.
    NameInUse,
    /// Another key store (of any account) uses the cluster.
    ClusterInUse,
    /// Another external key store of the account and Region has the same
    /// proxy endpoint and path.
    XksUriInUse,
}
