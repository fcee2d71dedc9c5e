//! Errors of the Query protocol services (IAM, STS): a code (which fixes
//! the HTTP status AWS sends it with) and a message, written as
//! `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.

use crate::protocol::error::{ErrorCode, KmsError};

/// Every error code Trent's IAM and STS answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryCode {
    AccessDenied,
    ConcurrentModification,
    DeleteConflict,
    EntityAlreadyExists,
    ExpiredToken,
    IncompleteSignature,
    InvalidAction,
    InvalidClientTokenId,
    InvalidInput,
    InvalidParameterValue,
    InvalidRequest,
    LimitExceeded,
    MalformedPolicyDocument,
    MissingAction,
    MissingAuthenticationToken,
    NoSuchEntity,
    ServiceFailure,
    SignatureDoesNotMatch,
    ValidationError,
}

impl QueryCode {
    /// The code as AWS writes it in `<Code>`.
    pub fn name(self) -> &'static str {
        use QueryCode::*;
        match self {
            AccessDenied => "AccessDenied",
            ConcurrentModification => "ConcurrentModification",
            DeleteConflict => "DeleteConflict",
            EntityAlreadyExists => "EntityAlreadyExists",
            ExpiredToken => "ExpiredToken",
            IncompleteSignature => "IncompleteSignature",
            InvalidAction => "InvalidAction",
            InvalidClientTokenId => "InvalidClientTokenId",
            InvalidInput => "InvalidInput",
            InvalidParameterValue => "InvalidParameterValue",
            InvalidRequest => "InvalidRequest",
            LimitExceeded => "LimitExceeded",
            MalformedPolicyDocument => "MalformedPolicyDocument",
            MissingAction => "MissingAction",
            MissingAuthenticationToken => "MissingAuthenticationToken",
            NoSuchEntity => "NoSuchEntity",
            ServiceFailure => "ServiceFailure",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
            ValidationError => "ValidationError",
        }
    }

    /// The HTTP status AWS sends the code with (IAM's and STS's API
    /// references and the Query common errors).
    pub fn status(self) -> u16 {
        use QueryCode::*;
        match self {
            NoSuchEntity => 404,
            ConcurrentModification | DeleteConflict | EntityAlreadyExists | LimitExceeded => 409,
            AccessDenied | ExpiredToken | InvalidClientTokenId | MissingAuthenticationToken | SignatureDoesNotMatch => 403,
            ServiceFailure => 500,
            IncompleteSignature
            | InvalidAction
            | InvalidInput
            | InvalidParameterValue
            | InvalidRequest
            | MalformedPolicyDocument
            | MissingAction
            | ValidationError => 400,
        }
    }
}

#[derive(Debug)]
pub struct QueryError {
    pub code: QueryCode,
    pub message: String,
    /// Details for the server log only.
    pub internal: Option<String>,
}

impl QueryError {
    pub fn new(code: QueryCode, message: impl Into<String>) -> Self {
        QueryError { code, message: message.into(), internal: None }
    }
    pub fn no_such_entity(message: impl Into<String>) -> Self {
        Self::new(QueryCode::NoSuchEntity, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(QueryCode::EntityAlreadyExists, message)
    }
    pub fn malformed_policy(message: impl Into<String>) -> Self {
        Self::new(QueryCode::MalformedPolicyDocument, message)
    }
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new(QueryCode::LimitExceeded, message)
    }
    pub fn delete_conflict(message: impl Into<String>) -> Self {
        Self::new(QueryCode::DeleteConflict, message)
    }
    pub fn concurrent_modification(message: impl Into<String>) -> Self {
        Self::new(QueryCode::ConcurrentModification, message)
    }
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(QueryCode::InvalidInput, message)
    }
    /// IAM's and STS's model validation failure.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(QueryCode::ValidationError, message)
    }
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(QueryCode::AccessDenied, message)
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        QueryError { code: QueryCode::ServiceFailure, message: "An internal error occurred.".into(), internal: Some(detail.into()) }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// `Sender` for the caller's mistakes, `Receiver` for ours.
    pub fn fault(&self) -> &'static str {
        if self.status() >= 500 { "Receiver" } else { "Sender" }
    }
}

impl From<trent_store::StoreError> for QueryError {
    fn from(e: trent_store::StoreError) -> Self {
        match e {
            trent_store::StoreError::Backend(_) => crate::metrics::METRICS.store_error(),
            trent_store::StoreError::RootKeyRotated => crate::seal::online::follow::nudge(),
            _ => {}
        }
        QueryError::internal(format!("store: {e}"))
    }
}

impl From<trent_crypto::CryptoError> for QueryError {
    fn from(e: trent_crypto::CryptoError) -> Self {
        QueryError::internal(format!("crypto: {e}"))
    }
}

/// Authentication answers in the Query services' own codes.
impl From<KmsError> for QueryError {
    fn from(e: KmsError) -> Self {
        let code = match e.code {
            ErrorCode::MissingAuthenticationToken => QueryCode::MissingAuthenticationToken,
            ErrorCode::IncompleteSignature => QueryCode::IncompleteSignature,
            ErrorCode::InvalidSignature => QueryCode::SignatureDoesNotMatch,
            ErrorCode::UnrecognizedClient => QueryCode::InvalidClientTokenId,
            ErrorCode::ExpiredToken => QueryCode::ExpiredToken,
            ErrorCode::AccessDenied => QueryCode::AccessDenied,
            ErrorCode::KmsInternal => return QueryError { internal: e.internal, ..QueryError::internal("") },
            _ => QueryCode::InvalidRequest,
        };
        QueryError { code, message: e.message.unwrap_or_default(), internal: e.internal }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_failures_keep_their_meaning_in_query_codes() {
        let cases = [
            (ErrorCode::MissingAuthenticationToken, QueryCode::MissingAuthenticationToken, 403),
            (ErrorCode::IncompleteSignature, QueryCode::IncompleteSignature, 400),
            (ErrorCode::InvalidSignature, QueryCode::SignatureDoesNotMatch, 403),
            (ErrorCode::UnrecognizedClient, QueryCode::InvalidClientTokenId, 403),
            (ErrorCode::ExpiredToken, QueryCode::ExpiredToken, 403),
            (ErrorCode::AccessDenied, QueryCode::AccessDenied, 403),
        ];
        for (kms, query, status) in cases {
            let e = QueryError::from(KmsError::new(kms, "m"));
            assert_eq!((e.code, e.status(), e.message.as_str(), e.fault()), (query, status, "m", "Sender"), "{kms:?}");
        }
        let e = QueryError::from(KmsError::internal("detail"));
        assert_eq!((e.code.name(), e.status(), e.fault(), e.internal.as_deref()), ("ServiceFailure", 500, "Receiver", Some("detail")));
    }
}
