//! AWS's errors: the exception names of the KMS model and the HTTP status
//! AWS answers them with. Handlers return a [`KmsError`]; the HTTP layer
//! turns it into `{"__type": ..., "message": ...}` (no `message` member when
//! AWS sends none). Nothing ever branches on the message text. The named
//! errors and their messages are in one table, `protocol/catalogue.rs`.

use axum::http::StatusCode;

/// Every exception Trent answers with. Names are the model's shape names
/// (plus the protocol-level ones AWS's front end sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    // Protocol and authentication.
    UnknownOperation,
    /// A body over Trent's bound (HTTP 413; AWS's answer is not published).
    RequestEntityTooLarge,
    Serialization,
    Validation,
    MissingAuthenticationToken,
    IncompleteSignature,
    InvalidSignature,
    UnrecognizedClient,
    /// Temporary credentials past their expiry.
    ExpiredToken,
    AccessDenied,
    /// Over a request quota (AWS's front end; not in the KMS model).
    Throttling,
    // The KMS model's exceptions.
    AlreadyExists,
    CloudHsmClusterInUse,
    CloudHsmClusterInvalidConfiguration,
    CloudHsmClusterNotActive,
    CloudHsmClusterNotFound,
    CloudHsmClusterNotRelated,
    Conflict,
    /// HTTP 500, a fault SDKs retry: Trent is sealed (crate::seal).
    DependencyTimeout,
    CustomKeyStoreHasCmks,
    CustomKeyStoreInvalidState,
    CustomKeyStoreNameInUse,
    CustomKeyStoreNotFound,
    IncorrectTrustAnchor,
    Disabled,
    DryRunOperation,
    ExpiredImportToken,
    IncorrectKey,
    IncorrectKeyMaterial,
    InvalidAliasName,
    InvalidArn,
    InvalidCiphertext,
    InvalidGrantId,
    InvalidGrantToken,
    InvalidImportToken,
    InvalidKeyUsage,
    InvalidMarker,
    KmsInternal,
    KmsInvalidMac,
    KmsInvalidSignature,
    KmsInvalidState,
    KeyUnavailable,
    LimitExceeded,
    MalformedPolicyDocument,
    NotFound,
    Tag,
    UnsupportedOperation,
    XksProxyIncorrectAuthenticationCredential,
    XksProxyInvalidConfiguration,
    XksProxyInvalidResponse,
    XksProxyUriInUse,
    XksProxyUriUnreachable,
    XksProxyVpcEndpointServiceNotFound,
    XksKeyAlreadyInUse,
    XksKeyInvalidConfiguration,
    XksKeyNotFound,
}

impl ErrorCode {
    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            UnknownOperation => "UnknownOperationException",
            RequestEntityTooLarge => "RequestEntityTooLargeException",
            Serialization => "SerializationException",
            Validation => "ValidationException",
            MissingAuthenticationToken => "MissingAuthenticationTokenException",
            IncompleteSignature => "IncompleteSignatureException",
            InvalidSignature => "InvalidSignatureException",
            UnrecognizedClient => "UnrecognizedClientException",
            ExpiredToken => "ExpiredTokenException",
            AccessDenied => "AccessDeniedException",
            Throttling => "ThrottlingException",
            AlreadyExists => "AlreadyExistsException",
            CloudHsmClusterInUse => "CloudHsmClusterInUseException",
            CloudHsmClusterInvalidConfiguration => "CloudHsmClusterInvalidConfigurationException",
            CloudHsmClusterNotActive => "CloudHsmClusterNotActiveException",
            CloudHsmClusterNotFound => "CloudHsmClusterNotFoundException",
            CloudHsmClusterNotRelated => "CloudHsmClusterNotRelatedException",
            CustomKeyStoreHasCmks => "CustomKeyStoreHasCMKsException",
            CustomKeyStoreInvalidState => "CustomKeyStoreInvalidStateException",
            CustomKeyStoreNameInUse => "CustomKeyStoreNameInUseException",
            IncorrectTrustAnchor => "IncorrectTrustAnchorException",
            Conflict => "ConflictException",
            DependencyTimeout => "DependencyTimeoutException",
            CustomKeyStoreNotFound => "CustomKeyStoreNotFoundException",
            Disabled => "DisabledException",
            DryRunOperation => "DryRunOperationException",
            ExpiredImportToken => "ExpiredImportTokenException",
            IncorrectKey => "IncorrectKeyException",
            IncorrectKeyMaterial => "IncorrectKeyMaterialException",
            InvalidAliasName => "InvalidAliasNameException",
            InvalidArn => "InvalidArnException",
            InvalidCiphertext => "InvalidCiphertextException",
            InvalidGrantId => "InvalidGrantIdException",
            InvalidGrantToken => "InvalidGrantTokenException",
            InvalidImportToken => "InvalidImportTokenException",
            InvalidKeyUsage => "InvalidKeyUsageException",
            InvalidMarker => "InvalidMarkerException",
            KmsInternal => "KMSInternalException",
            KmsInvalidMac => "KMSInvalidMacException",
            KmsInvalidSignature => "KMSInvalidSignatureException",
            KmsInvalidState => "KMSInvalidStateException",
            KeyUnavailable => "KeyUnavailableException",
            LimitExceeded => "LimitExceededException",
            MalformedPolicyDocument => "MalformedPolicyDocumentException",
            NotFound => "NotFoundException",
            Tag => "TagException",
            UnsupportedOperation => "UnsupportedOperationException",
            XksProxyIncorrectAuthenticationCredential => "XksProxyIncorrectAuthenticationCredentialException",
            XksProxyInvalidConfiguration => "XksProxyInvalidConfigurationException",
            XksProxyInvalidResponse => "XksProxyInvalidResponseException",
            XksProxyUriInUse => "XksProxyUriInUseException",
            XksProxyUriUnreachable => "XksProxyUriUnreachableException",
            XksProxyVpcEndpointServiceNotFound => "XksProxyVpcEndpointServiceNotFoundException",
            XksKeyAlreadyInUse => "XksKeyAlreadyInUseException",
            XksKeyInvalidConfiguration => "XksKeyInvalidConfigurationException",
            XksKeyNotFound => "XksKeyNotFoundException",
        }
    }

    /// AWS KMS answers client errors (authentication ones included, as
    /// JSON-protocol services do, and a DryRun that would have succeeded)
    /// with 400; server faults with 500.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            // DependencyTimeoutException is a fault with no status in the model: 500, as AWS documents it.
            KmsInternal | KeyUnavailable | DependencyTimeout => StatusCode::INTERNAL_SERVER_ERROR,
            RequestEntityTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An error answer. `message`: `None` when AWS sends the exception without
/// one. `internal` carries details for the server log only.
#[derive(Debug)]
pub struct KmsError {
    pub code: ErrorCode,
    pub message: Option<String>,
    pub internal: Option<String>,
}

impl KmsError {
    /// A message worded outside the catalogue (SigV4's, the model's,
    /// Trent's admin API). A KMS refusal is a row of `catalogue.rs` instead.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        KmsError { code, message: Some(message.into()), internal: None }
    }

    /// A failure inside Trent: the client sees a generic message, the log the detail.
    pub fn internal(detail: impl Into<String>) -> Self {
        KmsError { code: ErrorCode::KmsInternal, message: Some("An internal error occurred.".into()), internal: Some(detail.into()) }
    }

    /// The message, or "" when there is none (for logs and the audit event).
    pub fn text(&self) -> &str {
        self.message.as_deref().unwrap_or("")
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, message)
    }

    pub fn dry_run() -> Self {
        super::catalogue::Error::DryRun.into()
    }
}

impl From<trent_store::StoreError> for KmsError {
    fn from(e: trent_store::StoreError) -> Self {
        match e {
            trent_store::StoreError::Backend(_) => crate::metrics::METRICS.store_error(),
            trent_store::StoreError::RootKeyRotated => crate::seal::online::follow::nudge(),
            _ => {}
        }
        KmsError::internal(format!("store: {e}"))
    }
}

impl From<trent_crypto::CryptoError> for KmsError {
    fn from(e: trent_crypto::CryptoError) -> Self {
        match e {
            // A valid request the key provider cannot carry out.
            trent_crypto::CryptoError::Unsupported(what) => super::catalogue::Error::TrentUnsupported { what: what.to_string() }.into(),
            // The caller's input does not fit the key (the text names no key bytes).
            trent_crypto::CryptoError::InvalidInput(what) => super::catalogue::Error::InvalidInput { what: what.to_string() }.into(),
            e => {
                if e == trent_crypto::CryptoError::Malformed(trent_crypto::root_key::UNKNOWN_GENERATION) {
                    crate::seal::online::follow::nudge();
                }
                KmsError::internal(format!("crypto: {e}"))
            }
        }
    }
}

impl From<trent_model::InputError> for KmsError {
    fn from(e: trent_model::InputError) -> Self {
        let code = match e {
            trent_model::InputError::Serialization(_) => ErrorCode::Serialization,
            trent_model::InputError::Validation(_) => ErrorCode::Validation,
        };
        KmsError::new(code, e.message().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kms_exception_name_is_in_the_model() {
        use ErrorCode::*;
        let model_exceptions = [
            AlreadyExists, CloudHsmClusterInUse, CloudHsmClusterInvalidConfiguration, CloudHsmClusterNotActive, CloudHsmClusterNotFound, CloudHsmClusterNotRelated, CustomKeyStoreHasCmks, CustomKeyStoreInvalidState, CustomKeyStoreNameInUse, IncorrectTrustAnchor, Conflict, DependencyTimeout, CustomKeyStoreNotFound, Disabled, DryRunOperation, ExpiredImportToken, IncorrectKeyMaterial, InvalidImportToken, IncorrectKey, InvalidAliasName, InvalidArn,
            InvalidCiphertext, InvalidGrantId, InvalidGrantToken, InvalidKeyUsage, InvalidMarker, KmsInternal, KmsInvalidMac, KmsInvalidSignature,
            KmsInvalidState, KeyUnavailable,
            LimitExceeded, MalformedPolicyDocument, NotFound, Tag, UnsupportedOperation,
            XksProxyIncorrectAuthenticationCredential, XksProxyInvalidConfiguration, XksProxyInvalidResponse, XksProxyUriInUse,
            XksProxyUriUnreachable, XksProxyVpcEndpointServiceNotFound, XksKeyAlreadyInUse, XksKeyInvalidConfiguration, XksKeyNotFound,
        ];
        for code in model_exceptions {
            assert!(trent_model::is_exception(code.name()), "{} is not an exception shape in the model", code.name());
        }
    }
}
