//! Errors of the Query protocol services (IAM, STS): a code, the HTTP status
//! AWS sends it with, and a message, written as
//! `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.

use crate::protocol::error::{ErrorCode, KmsError};

#[derive(Debug)]
pub struct QueryError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
    /// Details for the server log only.
    pub internal: Option<String>,
}

impl QueryError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        QueryError { code, status, message: message.into(), internal: None }
    }
    pub fn no_such_entity(message: impl Into<String>) -> Self {
        Self::new("NoSuchEntity", 404, message)
    }
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new("EntityAlreadyExists", 409, message)
    }
    pub fn malformed_policy(message: impl Into<String>) -> Self {
        Self::new("MalformedPolicyDocument", 400, message)
    }
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new("LimitExceeded", 409, message)
    }
    pub fn delete_conflict(message: impl Into<String>) -> Self {
        Self::new("DeleteConflict", 409, message)
    }
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new("InvalidInput", 400, message)
    }
    /// IAM's and STS's model validation failure.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", 400, message)
    }
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new("AccessDenied", 403, message)
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        QueryError { code: "ServiceFailure", status: 500, message: "An internal error occurred.".into(), internal: Some(detail.into()) }
    }

    /// `Sender` for the caller's mistakes, `Receiver` for ours.
    pub fn fault(&self) -> &'static str {
        if self.status >= 500 { "Receiver" } else { "Sender" }
    }
}

impl From<trent_store::StoreError> for QueryError {
    fn from(e: trent_store::StoreError) -> Self {
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
        let (code, status) = match e.code {
            ErrorCode::MissingAuthenticationToken => ("MissingAuthenticationToken", 403),
            ErrorCode::IncompleteSignature => ("IncompleteSignature", 400),
            ErrorCode::InvalidSignature => ("SignatureDoesNotMatch", 403),
            ErrorCode::UnrecognizedClient => ("InvalidClientTokenId", 403),
            ErrorCode::ExpiredToken => ("ExpiredToken", 403),
            ErrorCode::AccessDenied => ("AccessDenied", 403),
            ErrorCode::KmsInternal => return QueryError { internal: e.internal, ..QueryError::internal("") },
            _ => ("InvalidRequest", 400),
        };
        QueryError { code, status, message: e.message, internal: e.internal }
    }
}
