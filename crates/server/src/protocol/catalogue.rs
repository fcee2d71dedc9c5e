//! The catalogue: every named error Trent answers a KMS request with, in
//! one table. Each row gives the error's name, the exception (`ErrorCode`,
//! which fixes the HTTP status), the message template, and where the
//! wording comes from:
//!
//! - [`Source::Recorded`]: AWS KMS's own answer, as recorded from real AWS
//!   in a public test suite; `example` is one recorded answer and a unit
//!   test checks that the template produces it.
//! - [`Source::NotPublished`]: AWS publishes no wording (none could be
//!   found); the text is Trent's own, in AWS's style.
//!
//! A template of `None` means AWS sends the exception with no `message`
//! member at all; the body is then `{"__type": "..."}` only.
//!
//! Handlers return `Error::KeyNotFound { arn }.into()` (a [`KmsError`]);
//! nothing else writes a message for a KMS error, except the messages the
//! model crate words (validation of the input shape, AWS's "1 validation
//! error detected: ..." form), SigV4's (`trent-sigv4`), and internal
//! failures (a generic text; the detail goes to the log). docs/errors.md
//! lists the table.

use super::error::{ErrorCode, KmsError};

/// Where a row's wording comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// AWS's answer as recorded from AWS KMS: `at` says where the recording
    /// is published, `example` is the recorded message ("" when AWS sent
    /// none).
    Recorded { at: &'static str, example: &'static str },
    /// AWS's wording is not published: Trent's own.
    NotPublished,
}

/// One row of the table.
#[derive(Debug)]
pub struct Entry {
    pub name: &'static str,
    pub code: ErrorCode,
    /// `{field}` stands for a value the error carries; `None`: no message.
    pub template: Option<&'static str>,
    pub source: Source,
}

const LOCALSTACK: &str = "localstack/localstack tests/aws/services/kms/test_kms.snapshot.json (recorded against AWS KMS)";

macro_rules! template {
    (None) => {
        None
    };
    ($text:literal) => {
        Some($text)
    };
}

macro_rules! render {
    (None $(, $field:ident)*) => {
        None
    };
    ($text:literal $(, $field:ident)*) => {
        Some(format!($text $(, $field = $field)*))
    };
}

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $name:ident $({ $($field:ident),* })? => $code:ident, $template:tt, $source:expr; )*) => {
        /// Every named error; the values a message needs travel with it.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Error {
            $( $(#[$doc])* $name $({ $($field: String),* })?, )*
        }

        /// The table: one row per [`Error`] variant, in the same order.
        pub static TABLE: &[Entry] = &[
            $( Entry { name: stringify!($name), code: ErrorCode::$code, template: template!($template), source: $source }, )*
        ];

        impl Error {
            pub fn name(&self) -> &'static str {
                match self {
                    $( Error::$name $({ $($field: _),* })? => stringify!($name), )*
                }
            }

            pub fn code(&self) -> ErrorCode {
                match self {
                    $( Error::$name $({ $($field: _),* })? => ErrorCode::$code, )*
                }
            }

            /// The message AWS sends, `None` when it sends none.
            pub fn message(&self) -> Option<String> {
                match self {
                    $( Error::$name $({ $($field),* })? => render!($template $($(, $field)*)?), )*
                }
            }

            /// One of each variant, every field holding `<field>`.
            #[cfg(test)]
            pub fn samples() -> Vec<Error> {
                vec![ $( Error::$name $({ $($field: format!("<{}>", stringify!($field))),* })?, )* ]
            }
        }
    };
}

catalogue! {
    // --- Naming a key or alias.
    /// A well-formed key id (a UUID, or `mrk-` and 32 hex digits) or key ARN
    /// of the caller's region that names no key.
    KeyNotFound { arn } => NotFound, "Key '{arn}' does not exist",
        Source::Recorded { at: LOCALSTACK, example: "Key 'arn:aws:kms:us-east-1:111111111111:key/mrk-d3b95762d3b95762d3b95762d3b95762' does not exist" };
    /// A key reference that is not a key id, key ARN, alias name or alias ARN.
    InvalidKeyId { id } => NotFound, "Invalid keyId '{id}'",
        Source::Recorded { at: LOCALSTACK, example: "Invalid keyId 'mrk-fake-key-id'" };
    /// A key or alias ARN of another region.
    InvalidArnRegion { region } => NotFound, "Invalid arn {region}",
        Source::Recorded { at: LOCALSTACK, example: "Invalid arn ap-southeast-1" };
    /// An ARN that is not a KMS key or alias ARN.
    InvalidArn { arn } => InvalidArn, "Invalid arn {arn}", Source::NotPublished;
    /// An alias that does not exist (AWS names it by its ARN).
    AliasNotFound { arn } => NotFound, "Alias {arn} is not found.", Source::NotPublished;
    /// An alias name without the `alias/` prefix.
    AliasPrefix => Validation, "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
        Source::Recorded { at: LOCALSTACK, example: "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html" };
    AliasNameInvalid { name } => InvalidAliasName, "Alias name {name} is invalid: use letters, digits, '/', '_' and '-' after \"alias/\".", Source::NotPublished;
    AliasReserved { name } => InvalidAliasName, "Alias names beginning with alias/aws/ are reserved: {name}", Source::NotPublished;
    AliasExists { arn } => AlreadyExists, "An alias with the name {arn} already exists", Source::NotPublished;

    // --- Key states.
    Disabled { arn } => Disabled, "{arn} is disabled.", Source::NotPublished;
    /// `state`: AWS's words for the state ("pending deletion", "pending import"...).
    InvalidState { arn, state } => KmsInvalidState, "{arn} is {state}.",
        Source::Recorded { at: LOCALSTACK, example: "arn:aws:kms:us-east-1:111111111111:key/0b4b2a3c-1b6e-4f6f-8a0c-6e9f4c9a0e11 is pending import." };
    Unavailable { arn } => KeyUnavailable, "{arn} is unavailable.", Source::NotPublished;
    /// CancelKeyDeletion on a key that is not pending deletion.
    NotPendingDeletion { arn } => KmsInvalidState, "{arn} is not pending deletion.", Source::NotPublished;

    // --- DryRun.
    /// A DryRun request that would have succeeded (HTTP 400, as every client error).
    DryRun => DryRunOperation, "The request would have succeeded, but the DryRun option is set.", Source::NotPublished;

    // --- Cryptographic refusals AWS sends without a message.
    InvalidCiphertext => InvalidCiphertext, None, Source::Recorded { at: LOCALSTACK, example: "" };
    InvalidSignature => KmsInvalidSignature, None, Source::Recorded { at: LOCALSTACK, example: "" };
    InvalidMac => KmsInvalidMac, None, Source::Recorded { at: LOCALSTACK, example: "" };
    /// Key rotation (automatic or on demand) of a key that is not a
    /// symmetric encryption key.
    RotationNotSymmetric => UnsupportedOperation, None,
        Source::Recorded { at: "localstack/localstack services/kms/provider.py rotate_key_on_demand raises it without a message, under a test marked validated against AWS (PR 12342); the recording itself not seen", example: "" };

    // --- Key type and algorithm.
    /// Decrypt or ReEncrypt with a KeyId that is not the ciphertext's key,
    /// or not a key that can decrypt (an HMAC or signing key).
    IncorrectKey => IncorrectKey, "The key ID in the request does not identify a CMK that can perform this operation.",
        Source::Recorded { at: LOCALSTACK, example: "The key ID in the request does not identify a CMK that can perform this operation." };
    WrongKeyUsage { arn, usage, operation } => InvalidKeyUsage, "{arn} key usage is {usage} which is not valid for {operation}.",
        Source::Recorded { at: LOCALSTACK, example: "arn:aws:kms:us-east-1:111111111111:key/0b4b2a3c-1b6e-4f6f-8a0c-6e9f4c9a0e11 key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac." };
    /// An encryption, signing or MAC algorithm the key's spec does not take.
    AlgorithmIncompatible { algorithm, spec } => InvalidKeyUsage, "Algorithm {algorithm} is incompatible with key spec {spec}.",
        Source::Recorded { at: LOCALSTACK, example: "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256." };
    /// A symmetric-only operation on an asymmetric key.
    NotSymmetric { arn, spec } => InvalidKeyUsage, "{arn} is an asymmetric key (key spec {spec}); this operation needs a symmetric encryption KMS key.", Source::NotPublished;
    PlaintextTooLong { algorithm, spec, max } => Validation, "Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {max} bytes.",
        Source::Recorded { at: LOCALSTACK, example: "Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 cannot encrypt data larger than 190 bytes." };
    DigestLength { algorithm } => Validation, "Digest is invalid length for algorithm {algorithm}.",
        Source::Recorded { at: LOCALSTACK, example: "Digest is invalid length for algorithm ECDSA_SHA_256." };
    ExternalMuLength { len } => Validation, "An EXTERNAL_MU message must be {len} bytes long.", Source::NotPublished;
    ContextNotSymmetric => Validation, "EncryptionContext is supported only with symmetric encryption KMS keys.", Source::NotPublished;
    NoPublicKey { arn, spec } => UnsupportedOperation, "{arn} is not an asymmetric KMS key (key spec {spec}): it has no public key.", Source::NotPublished;

    // --- CreateKey and other requests.
    /// CreateKey of a key other than symmetric encryption without KeyUsage.
    KeyUsageRequired => Validation, "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
        Source::Recorded { at: LOCALSTACK, example: "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys." };
    KeySpecAndCustomerMasterKeySpec => Validation, "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.", Source::NotPublished;
    UsageNotForSpec { usage, spec, allowed } => Validation, "KeyUsage {usage} is not compatible with KeySpec {spec}: {spec} keys take KeyUsage {allowed}.", Source::NotPublished;
    NumberOfBytesRequired => Validation, "NumberOfBytes is required.",
        Source::Recorded { at: LOCALSTACK, example: "NumberOfBytes is required." };
    CustomKeyStoreIdNotFound { id } => CustomKeyStoreNotFound, "Custom key store {id} not found.", Source::NotPublished;
    WrappingAlgorithmUnsupported { algorithm, why } => UnsupportedOperation, "The wrapping algorithm {algorithm} {why}.", Source::NotPublished;
    WrappingKeySpecUnsupported { spec } => UnsupportedOperation, "The wrapping key spec {spec} is not supported by Trent.", Source::NotPublished;
    WrappingAlgorithmAndSpec { algorithm, spec } => UnsupportedOperation, "The wrapping algorithm {algorithm} cannot be used with the wrapping key spec {spec}: SM2PKE goes with SM2, the RSA algorithms with RSA key specs.", Source::NotPublished;
    NumberOfBytesOrKeySpec => Validation, "Please specify either number of bytes or key spec.", Source::NotPublished;

    // --- Custom key stores (CloudHSM key stores on PKCS#11 tokens).
    KeyStoreNameNotFound { name } => CustomKeyStoreNotFound, "Custom key store with name {name} not found.", Source::NotPublished;
    KeyStoreNameInUse { name } => CustomKeyStoreNameInUse, "The custom key store name {name} is already in use in this account and Region.", Source::NotPublished;
    ClusterNotFound { cluster } => CloudHsmClusterNotFound, "Cannot find the CloudHSM cluster {cluster}: no PKCS#11 token is registered under that id (trent hsm register).", Source::NotPublished;
    ClusterInUse { cluster } => CloudHsmClusterInUse, "The CloudHSM cluster {cluster} is already associated with a custom key store, or shares a backup history with one.", Source::NotPublished;
    ClusterNotRelated { cluster, current } => CloudHsmClusterNotRelated, "The CloudHSM cluster {cluster} does not share a backup history with {current}, the key store's cluster.", Source::NotPublished;
    IncorrectTrustAnchor { cluster } => IncorrectTrustAnchor, "The trust anchor certificate is not the trust anchor certificate of the CloudHSM cluster {cluster}.", Source::NotPublished;
    KeyStoreLimit { max } => LimitExceeded, "An account can have at most {max} custom key stores in a Region.", Source::NotPublished;
    KeyStoreHasKeys { id } => CustomKeyStoreHasCmks, "Custom key store {id} contains KMS keys. Delete them (ScheduleKeyDeletion) before deleting the key store.", Source::NotPublished;
    KeyStoreInvalidState { id, state, why } => CustomKeyStoreInvalidState, "Custom key store {id} is {state}: {why}.", Source::NotPublished;
    /// Another request changed the key store between this one's read and write.
    KeyStoreChangedMeanwhile => KmsInternal, "The custom key store changed while the request ran. Retry the request.", Source::NotPublished;
    KeyStoreKeyUnusable { arn, id, why } => KmsInvalidState, "{arn} is unusable: {why} (custom key store {id}).", Source::NotPublished;
    CloudHsmParameterRequired { what } => Validation, "{what} is required to create a custom key store of type AWS_CLOUDHSM.", Source::NotPublished;
    OriginNeedsKeyStore { origin } => Validation, "Origin {origin} needs a CustomKeyStoreId, and a CustomKeyStoreId needs Origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE.", Source::NotPublished;
    KeyStoreKeySpec { spec } => UnsupportedOperation, "KeySpec {spec} cannot be created in a custom key store: only SYMMETRIC_DEFAULT keys with KeyUsage ENCRYPT_DECRYPT can.", Source::NotPublished;
    MultiRegionInKeyStore => UnsupportedOperation, "A multi-Region key cannot be created in a custom key store.", Source::NotPublished;
    /// ReplicateKey of a single-Region key or of a replica.
    NotMultiRegionPrimary { arn } => UnsupportedOperation, "{arn} is not a multi-Region primary key: only a multi-Region primary key can be replicated.", Source::NotPublished;
    /// ReplicateKey into a Region that holds a member of the set (the primary's own included).
    ReplicaExists { arn } => AlreadyExists, "{arn} already exists: a multi-Region key has at most one member in each Region.", Source::NotPublished;
    /// UpdatePrimaryRegion naming a replica or a single-Region key as the primary.
    NotMultiRegionPrimaryToMove { arn } => UnsupportedOperation, "{arn} is not a multi-Region primary key: UpdatePrimaryRegion takes the current primary key.", Source::NotPublished;
    /// EnableKeyRotation, DisableKeyRotation or RotateKeyOnDemand on a replica.
    ReplicaRotation { arn } => UnsupportedOperation, "{arn} is a multi-Region replica key: its rotation is managed on its primary key.", Source::NotPublished;
    /// ReplicateKey into a Region this deployment does not serve (`--regions`).
    RegionNotServed { region } => UnsupportedOperation, "KMS is not available in the Region {region}: this deployment does not serve it.", Source::NotPublished;
    NotForKeyStoreKeys { operation, arn } => UnsupportedOperation, "{operation} is not supported for {arn}: it is a KMS key in a custom key store.", Source::NotPublished;

    // --- External key stores (an XKS proxy; the KMS side).
    XksParameterRequired { what } => Validation, "{what} is required to create a custom key store of type EXTERNAL_KEY_STORE.", Source::NotPublished;
    /// A property of one key store type given for the other.
    NotForKeyStoreType { what, store_type } => Validation, "{what} is not valid for a custom key store of type {store_type}.", Source::NotPublished;
    XksVpcServiceNameRequired => Validation, "XksProxyVpcEndpointServiceName is required when XksProxyConnectivity is VPC_ENDPOINT_SERVICE, and not valid otherwise.", Source::NotPublished;
    /// Trent runs in no Amazon VPC: no endpoint service is ever found.
    XksVpcServiceNotFound { name } => XksProxyVpcEndpointServiceNotFound, "Cannot find the VPC endpoint service {name}: Trent has no Amazon VPC endpoint services. Use XksProxyConnectivity PUBLIC_ENDPOINT.", Source::NotPublished;
    XksUriInUse { endpoint, path } => XksProxyUriInUse, "The XksProxyUriEndpoint {endpoint} with the XksProxyUriPath {path} is already associated with another external key store in this account and Region.", Source::NotPublished;
    XksUnreachable { why } => XksProxyUriUnreachable, "KMS cannot reach the external key store proxy: {why}. The proxy must be reachable before you create the external key store or update its settings.", Source::NotPublished;
    XksIncorrectCredential => XksProxyIncorrectAuthenticationCredential, "The external key store proxy rejected a request signed with the XksProxyAuthenticationCredential: verify the AccessKeyId and RawSecretAccessKey established on the proxy.", Source::NotPublished;
    XksInvalidConfiguration { why } => XksProxyInvalidConfiguration, "The external key store proxy is not configured correctly: {why}.", Source::NotPublished;
    XksInvalidResponse { why } => XksProxyInvalidResponse, "KMS cannot interpret the response from the external key store proxy: {why}.", Source::NotPublished;
    XksNotForRandom { id } => UnsupportedOperation, "GenerateRandom does not support external key stores: {id} is an EXTERNAL_KEY_STORE.", Source::NotPublished;
    XksKeyIdRequired => Validation, "XksKeyId is required for a KMS key with Origin EXTERNAL_KEY_STORE, and not valid for any other Origin.", Source::NotPublished;
    KeyStoreTypeMismatch { origin, id, store_type } => UnsupportedOperation, "Origin {origin} cannot create a KMS key in {id}: it is a custom key store of type {store_type}.", Source::NotPublished;
    XksKeyNotFound { xks_key_id, id } => XksKeyNotFound, "The external key store proxy of {id} cannot find the external key {xks_key_id}.", Source::NotPublished;
    XksKeyInvalidConfiguration { xks_key_id, why } => XksKeyInvalidConfiguration, "The external key {xks_key_id} does not meet the requirements for a KMS key in an external key store: {why}. It must be an enabled AES-256 key that performs encryption and decryption.", Source::NotPublished;
    XksKeyAlreadyInUse { xks_key_id, id } => XksKeyAlreadyInUse, "The external key {xks_key_id} is already associated with another KMS key in the external key store {id}.", Source::NotPublished;
    /// A proxy failure during a cryptographic operation: AWS answers
    /// KMSInvalidStateException for all of them, the message says why.
    XksKeyUnusable { arn, id, why } => KmsInvalidState, "{arn} is unusable: {why} (external key store {id}).", Source::NotPublished;

    // --- Tags.
    TagKeyReserved => Tag, "Tags beginning with aws: are reserved and cannot be created or modified.", Source::NotPublished;
    DuplicateTagKey { key } => Tag, "Duplicate tag key: {key}", Source::NotPublished;
    /// More than 50 tags on one key.
    TooManyTags { max } => Tag, "A KMS key can have at most {max} tags.", Source::NotPublished;

    // --- Imported key material.
    /// ImportKeyMaterial with KEY_MATERIAL_EXPIRES and no ValidTo.
    ValidToRequired => Validation, "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
        Source::Recorded { at: LOCALSTACK, example: "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES" };
    ValidToOutOfRange => Validation, "ValidTo must be in the future and at most 365 days from now.", Source::NotPublished;
    ValidToWithoutExpiry => Validation, "ValidTo is not valid when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.", Source::NotPublished;
    /// An operation for keys with imported material on a key of another origin
    /// (GetParametersForImport on an AWS_KMS key, rotation of an EXTERNAL key...).
    OriginNotValid { arn, origin } => UnsupportedOperation, "{arn} origin is {origin} which is not valid for this operation.",
        Source::Recorded { at: LOCALSTACK, example: "arn:aws:kms:us-east-1:111111111111:key/0b4b2a3c-1b6e-4f6f-8a0c-6e9f4c9a0e11 origin is AWS_KMS which is not valid for this operation." };
    /// ImportKeyMaterial of new material while other material waits for rotation.
    KeyMaterialPendingRotation { arn, material } => KmsInvalidState, "{arn} already has key material pending rotation ({material}). Rotate to it with RotateKeyOnDemand or delete it with DeleteImportedKeyMaterial before importing new key material.", Source::NotPublished;
    /// RotateKeyOnDemand of an EXTERNAL key with no material waiting.
    NoPendingKeyMaterial { arn } => KmsInvalidState, "{arn} has no key material pending rotation. Import new key material (ImportKeyMaterial with ImportType NEW_KEY_MATERIAL) before RotateKeyOnDemand.", Source::NotPublished;
    KeyMaterialMismatch => IncorrectKeyMaterial, "The key material does not match KeyMaterialId.", Source::NotPublished;
    KeyMaterialAlreadyImported { arn, material } => IncorrectKeyMaterial, "The key material is already associated with {arn} (key material {material}); import it with ImportType EXISTING_KEY_MATERIAL.", Source::NotPublished;
    NoKeyMaterialToReimport { arn } => IncorrectKeyMaterial, "{arn} has no key material to re-import; use ImportType NEW_KEY_MATERIAL.", Source::NotPublished;
    NotPreviousKeyMaterial { arn } => IncorrectKeyMaterial, "The key material is not the material previously imported into {arn}.", Source::NotPublished;
    /// ImportKeyMaterial with ImportType NEW_KEY_MATERIAL into a multi-Region replica.
    NewMaterialIntoReplica { arn } => UnsupportedOperation, "{arn} is a multi-Region replica key: import new key material into its primary key, then the same key material into each replica key with ImportType EXISTING_KEY_MATERIAL.", Source::NotPublished;
    /// RotateKeyOnDemand of a multi-Region primary while members of its set lack the material pending rotation.
    PendingMaterialNotInMembers { arn, material, regions } => KmsInvalidState, "{arn} cannot rotate to key material {material} yet: it is not imported into the multi-Region keys in {regions}. Import the same key material into every key of the set first.", Source::NotPublished;
    SymmetricMaterialSize => IncorrectKeyMaterial, "Symmetric key material must be 256 bits (32 bytes).", Source::NotPublished;
    MaterialDoesNotFitSpec { why } => IncorrectKeyMaterial, "The key material does not fit the KMS key's key spec: {why}.", Source::NotPublished;
    KeyMaterialNotFound { material, arn } => NotFound, "Key material {material} is not associated with {arn}.", Source::NotPublished;
    KeyMaterialIdWithNew => Validation, "KeyMaterialId cannot be given with ImportType NEW_KEY_MATERIAL.", Source::NotPublished;
    ImportTypeNotSymmetric => Validation, "ImportType and KeyMaterialId are only valid for symmetric encryption keys.", Source::NotPublished;
    OnDemandRotationLimit { arn, max } => LimitExceeded, "{arn} has reached the limit of {max} on-demand rotations.", Source::NotPublished;
    KeyBusy { arn } => Conflict, "{arn} is being changed by other requests; try again.", Source::NotPublished;
    InvalidImportToken => InvalidImportToken, "The import token is invalid or is associated with a different KMS key.", Source::NotPublished;
    ExpiredImportToken => ExpiredImportToken, "The import token has expired. Call GetParametersForImport for a new one.", Source::NotPublished;

    // --- Grants, policies, lists.
    InvalidMarker => InvalidMarker, "The request contains an invalid marker.", Source::NotPublished;
    InvalidGrantToken => InvalidGrantToken, "The grant token is invalid.", Source::NotPublished;
    InvalidGrantId { id } => InvalidGrantId, "Invalid grant ID '{id}'", Source::NotPublished;
    GrantNotFound { id } => NotFound, "Grant ID {id} not found", Source::NotPublished;
    NoSuchPolicy { name } => NotFound, "No such policy exists: {name}", Source::NotPublished;

    MessageTypeNotValid { message_type, algorithm, allowed } => Validation, "MessageType {message_type} is not valid with signing algorithm {algorithm}; use {allowed}.", Source::NotPublished;
    EncryptionContextTooLarge { bytes, max } => Validation, "The encryption context is {bytes} bytes; its keys and values together may be at most {max} bytes.", Source::NotPublished;
    GrantOperationsUnsupported { operations, arn, spec, usage } => Validation, "Grant operations [{operations}] are not supported by KMS key {arn}, whose KeySpec is {spec} and KeyUsage {usage}.", Source::NotPublished;
    GranteeRequired => Validation, "You must specify either GranteePrincipal or GranteeServicePrincipal.", Source::NotPublished;
    GrantOperationsEmpty => Validation, "1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1", Source::NotPublished;
    InvalidPrincipal { member, principal } => Validation, "Invalid {member}: '{principal}' is not a principal ARN or an account id", Source::NotPublished;
    GrantLimit { max, arn } => LimitExceeded, "The request would exceed the limit of {max} grants for KMS key {arn}.", Source::NotPublished;
    RetireGrantArguments => Validation, "RetireGrant needs either GrantToken, or both KeyId and GrantId.", Source::NotPublished;
    /// ScheduleKeyDeletion's PendingWindowInDays outside 7-30 (the model allows 1-365).
    PendingWindow { days, bound } => Validation, "1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value {bound}", Source::NotPublished;
    MalformedPolicy { why } => MalformedPolicyDocument, "The new key policy will not allow you to update the key policy in the future, or is malformed: {why}", Source::NotPublished;
    PolicyInvalidPrincipals => MalformedPolicyDocument, "Policy contains a statement with one or more invalid principals.", Source::NotPublished;
    PolicyLockout => MalformedPolicyDocument, "The new key policy will not allow you to update the key policy in the future.", Source::NotPublished;
    AliasMoved { arn } => KmsInvalidState, "Alias {arn} was changed by another request while this one was processed; nothing was changed, try again.", Source::NotPublished;
    AliasTypeMismatch { arn } => Validation, "{arn} has a different key spec or key usage than the key the alias points to; an alias can only move between keys of the same type and usage.", Source::NotPublished;
    UnknownDataKeySpec { spec } => Validation, "Unknown data key spec {spec}", Source::NotPublished;

    RetiringPrincipalRequired => Serialization, "Cannot read the request: missing field `RetiringPrincipal`", Source::NotPublished;
    CiphertextRequired => Validation, "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null", Source::NotPublished;
    IgnoreCiphertextNeedsKeyId => Validation, "A DryRun with IGNORE_CIPHERTEXT needs a KeyId to check.", Source::NotPublished;

    // --- Authorization (the policy evaluator words ordinary denials:
    // `AccessDenied`, whose text is AWS's IAM form "User: ... is not
    // authorized to perform: ... on resource: ... because ...").
    AccessDenied { message } => AccessDenied, "{message}", Source::NotPublished;
    NoResourcePolicyAllows { principal, action, resource } => AccessDenied, "User: {principal} is not authorized to perform: {action} on resource: {resource} because no resource-based policy allows the {action} action", Source::NotPublished;
    GrantBeyondParent { principal, arn } => AccessDenied, "User: {principal} is not authorized to perform: kms:CreateGrant on resource: {arn}: a grant made through a grant may not allow more than that grant", Source::NotPublished;
    RetireGrantDenied { principal, grant } => AccessDenied, "User: {principal} is not authorized to perform: kms:RetireGrant on grant: {grant}", Source::NotPublished;
    RetiringPrincipalOtherAccount { principal, retiring, account } => AccessDenied, "User: {principal} is not authorized to perform: kms:ListRetirableGrants for principal {retiring}: it is not in account {account}", Source::NotPublished;
    OnBehalfRefused { signer, on_behalf, why } => AccessDenied, "User: {signer} may not call on behalf of {on_behalf}: {why}", Source::NotPublished;

    // --- Authentication (SigV4's own refusals are worded by trent-sigv4).
    UnsignedPayload => InvalidSignature, "UNSIGNED-PAYLOAD is not accepted: sign the request body.", Source::NotPublished;
    UnrecognizedClient => UnrecognizedClient, "The security token included in the request is invalid.", Source::NotPublished;
    ExpiredToken => ExpiredToken, "The security token included in the request is expired", Source::NotPublished;

    // --- Request quotas (dispatch/throttle.rs).
    RateExceeded => Throttling, "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.", Source::Recorded { at: "AWS KMS Developer Guide, Request quotas (the ThrottlingException it shows)", example: "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls." };

    // --- The protocol.
    UnknownTarget { target } => UnknownOperation, "X-Amz-Target {target} does not name an AWS KMS operation.", Source::NotPublished;
    WrongContentType { expected } => UnknownOperation, "The request's Content-Type is not {expected}.", Source::NotPublished;
    NotPostToRoot => UnknownOperation, "AWS KMS operations are POST requests to /.", Source::NotPublished;
    BodyTooLarge { max } => RequestEntityTooLarge, "The request body is larger than {max} bytes.", Source::NotPublished;
    BodyUnreadable => Validation, "The request body could not be read.", Source::NotPublished;
    /// Every request while the root key is sealed (crate::seal::http::sealed).
    Sealed => DependencyTimeout, "Trent is sealed: its root key is not open, so no request can be served until operators unseal it (trent operator unseal).", Source::NotPublished;
    AuditUnavailable => KmsInternal, "Trent cannot write its audit log, so it refuses requests until an operator fixes it.", Source::NotPublished;

    /// Input the key cannot take (a public key that does not parse, say);
    /// the text names no key bytes.
    InvalidInput { what } => Validation, "Invalid input: {what}.", Source::NotPublished;

    // --- What Trent does not do.
    /// A request AWS would serve that Trent cannot (a custom key store,
    /// a multi-Region key...).
    TrentUnsupported { what } => UnsupportedOperation, "{what} is not supported by Trent yet.", Source::NotPublished;
}

impl From<Error> for KmsError {
    fn from(e: Error) -> Self {
        KmsError { code: e.code(), message: e.message(), internal: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `example` is what `template` renders with some non-empty
    /// text for each `{field}`.
    fn matches(template: &str, example: &str) -> bool {
        let mut pieces = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').map(|c| open + c).expect("a closed placeholder");
            pieces.push(&rest[..open]);
            rest = &rest[close + 1..];
        }
        pieces.push(rest);
        let (first, others) = pieces.split_first().expect("one piece");
        let Some(mut text) = example.strip_prefix(first) else { return false };
        for (i, piece) in others.iter().enumerate() {
            let last = i == others.len() - 1;
            let at = if last { text.len().checked_sub(piece.len()).filter(|&at| text[at..] == **piece) } else { text.get(1..).and_then(|t| t.find(piece)).map(|at| at + 1) };
            match at {
                Some(at) if at > 0 => text = &text[at + piece.len()..],
                _ => return false,
            }
        }
        text.is_empty()
    }

    #[test]
    fn every_entry_is_an_aws_exception_with_its_status_and_renders() {
        let samples = Error::samples();
        assert_eq!(samples.len(), TABLE.len());
        for (entry, sample) in TABLE.iter().zip(&samples) {
            assert_eq!(entry.name, sample.name());
            assert_eq!(entry.code, sample.code(), "{}", entry.name);
            use ErrorCode::*;
            let protocol = matches!(entry.code, UnknownOperation | RequestEntityTooLarge | Serialization | Validation | MissingAuthenticationToken | IncompleteSignature | InvalidSignature | UnrecognizedClient | ExpiredToken | AccessDenied | Throttling);
            assert!(protocol || trent_model::is_exception(entry.code.name()), "{}: {} is neither a protocol error nor a model exception", entry.name, entry.code.name());
            let err = KmsError::from(sample.clone());
            // AWS: every client error is 400 (DryRunOperationException too), server faults 500.
            let status = match entry.code {
                KmsInternal | KeyUnavailable | DependencyTimeout => 500,
                RequestEntityTooLarge => 413,
                _ => 400,
            };
            assert_eq!(err.code.status(), status, "{}", entry.name);
            match (entry.template, &err.message) {
                (None, None) => {}
                (Some(_), Some(text)) => assert!(!text.contains('{') || entry.template.is_some_and(|t| t.contains("{{")), "{}: {text}", entry.name),
                other => panic!("{}: template and message disagree: {other:?}", entry.name),
            }
        }
        let mut names: Vec<_> = TABLE.iter().map(|e| e.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TABLE.len(), "names are unique");
    }

    #[test]
    fn recorded_entries_render_what_aws_sent() {
        for entry in TABLE {
            let Source::Recorded { example, .. } = entry.source else { continue };
            match entry.template {
                None => assert_eq!(example, "", "{}: AWS sent a message", entry.name),
                Some(template) => assert!(matches(template, example), "{}: {template:?} does not produce AWS's {example:?}", entry.name),
            }
        }
    }

    #[test]
    fn the_matcher_matches_only_what_a_template_renders() {
        assert!(matches("Key '{arn}' does not exist", "Key 'x' does not exist"));
        assert!(!matches("Key '{arn}' does not exist", "Key '' does not exist"));
        assert!(!matches("Key '{arn}' does not exist", "Key 'x' does not exist."));
        assert!(matches("{arn} is {state}.", "a is pending import."));
        assert!(!matches("Invalid keyId '{id}'", "Invalid keyId x"));
    }

    /// The table as docs/errors.md shows it.
    fn markdown() -> String {
        let mut out = String::from("| error | exception | HTTP | message | wording |\n| --- | --- | --- | --- | --- |\n");
        for e in TABLE {
            let message = e.template.map_or("*(no message)*".to_owned(), |t| format!("`` {} ``", t.replace('|', "\\|")));
            let source = match e.source {
                Source::Recorded { at, .. } => format!("AWS's, recorded: {at}"),
                Source::NotPublished => "not published (Trent's own)".to_owned(),
            };
            out.push_str(&format!("| `{}` | {} | {} | {message} | {source} |\n", e.name, e.code.name(), e.code.status().as_u16()));
        }
        out
    }

    /// docs/errors.md lists the table as it is (`TRENT_UPDATE_DOCS=1` rewrites it).
    #[test]
    fn docs_list_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md");
        let doc = std::fs::read_to_string(path).expect("docs/errors.md");
        let (begin, end) = ("<!-- catalogue:begin -->\n", "<!-- catalogue:end -->");
        let start = doc.find(begin).expect("begin marker") + begin.len();
        let stop = doc.find(end).expect("end marker");
        let table = markdown();
        if std::env::var_os("TRENT_UPDATE_DOCS").is_some() {
            std::fs::write(path, format!("{}{table}{}", &doc[..start], &doc[stop..])).expect("write docs/errors.md");
            return;
        }
        assert_eq!(doc[start..stop], table, "docs/errors.md is out of date: TRENT_UPDATE_DOCS=1 cargo test -p trent --lib catalogue");
    }

    /// Class 3 of issue 17: AWS's exception (and status) for each case.
    #[test]
    fn aws_exception_for_each_case() {
        let x = || "x".to_owned();
        let cases = [
            (Error::AliasPrefix, "ValidationException"),
            (Error::TooManyTags { max: x() }, "TagException"),
            (Error::IncorrectKey, "IncorrectKeyException"),
            (Error::Disabled { arn: x() }, "DisabledException"),
            (Error::DryRun, "DryRunOperationException"),
        ];
        for (e, name) in cases {
            let err = KmsError::from(e.clone());
            assert_eq!((err.code.name(), err.code.status().as_u16()), (name, 400), "{e:?}");
        }
    }

    /// Class 4 of issue 17: AWS's text for each case (the recorded ones are
    /// also checked against AWS's answer above).
    #[test]
    fn aws_message_for_each_case() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let s = |v: &str| v.to_owned();
        let cases = [
            (Error::KeyNotFound { arn: s("arn:aws:kms:us-east-1:111122223333:key/mrk-d3b95762d3b95762d3b95762d3b95762") }, "Key 'arn:aws:kms:us-east-1:111122223333:key/mrk-d3b95762d3b95762d3b95762d3b95762' does not exist".to_owned()),
            (Error::NumberOfBytesRequired, s("NumberOfBytes is required.")),
            (Error::PlaintextTooLong { algorithm: s("RSAES_OAEP_SHA_1"), spec: s("RSA_2048"), max: s("214") }, s("Algorithm RSAES_OAEP_SHA_1 and key spec RSA_2048 cannot encrypt data larger than 214 bytes.")),
            (Error::ValidToRequired, s("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")),
            (Error::AlgorithmIncompatible { algorithm: s("HMAC_SHA_256"), spec: s("HMAC_224") }, s("Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224.")),
            (Error::OriginNotValid { arn: s(arn), origin: s("AWS_KMS") }, format!("{arn} origin is AWS_KMS which is not valid for this operation.")),
            (Error::WrongKeyUsage { arn: s(arn), usage: s("SIGN_VERIFY"), operation: s("DeriveSharedSecret") }, format!("{arn} key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret.")),
            (Error::KeyUsageRequired, s("You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")),
            (Error::NotPendingDeletion { arn: s(arn) }, format!("{arn} is not pending deletion.")),
            (Error::IncorrectKey, s("The key ID in the request does not identify a CMK that can perform this operation.")),
        ];
        for (e, text) in cases {
            assert_eq!(e.message().as_deref(), Some(text.as_str()), "{e:?}");
        }
    }

    /// Class 1 of issue 17: the exceptions AWS sends without a message.
    #[test]
    fn aws_sends_these_without_a_message() {
        for e in [Error::InvalidCiphertext, Error::InvalidSignature, Error::InvalidMac, Error::RotationNotSymmetric] {
            let err = KmsError::from(e.clone());
            assert_eq!(err.message, None, "{e:?}");
        }
    }
}
