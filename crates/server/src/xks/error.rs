//! The XKS proxy's errors: the spec's error table (errorName + HTTP status),
//! answered as `{"errorName": ..., "errorMessage": ...}`.

use std::fmt;

/// The error names of the XKS Proxy API specification's "Error codes" table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorName {
    ValidationException,
    InvalidStateException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    AuthenticationFailedException,
    AccessDeniedException,
    KeyNotFoundException,
    InvalidUriPathException,
    ThrottlingException,
    UnsupportedOperationException,
    DependencyTimeoutException,
    InternalException,
}

impl ErrorName {
    /// The HTTP status the table gives this error.
    pub fn status(self) -> u16 {
        use ErrorName::*;
        match self {
            ValidationException | InvalidStateException | InvalidCiphertextException | InvalidKeyUsageException => 400,
            AuthenticationFailedException => 401,
            AccessDeniedException => 403,
            KeyNotFoundException | InvalidUriPathException => 404,
            ThrottlingException => 429,
            UnsupportedOperationException => 501,
            DependencyTimeoutException => 503,
            InternalException => 500,
        }
    }

    pub fn as_str(self) -> &'static str {
        use ErrorName::*;
        match self {
            ValidationException => "ValidationException",
            InvalidStateException => "InvalidStateException",
            InvalidCiphertextException => "InvalidCiphertextException",
            InvalidKeyUsageException => "InvalidKeyUsageException",
            AuthenticationFailedException => "AuthenticationFailedException",
            AccessDeniedException => "AccessDeniedException",
            KeyNotFoundException => "KeyNotFoundException",
            InvalidUriPathException => "InvalidUriPathException",
            ThrottlingException => "ThrottlingException",
            UnsupportedOperationException => "UnsupportedOperationException",
            DependencyTimeoutException => "DependencyTimeoutException",
            InternalException => "InternalException",
        }
    }
}

/// An error to answer. The message goes to the caller (KMS logs it in the
/// customer's CloudWatch): never put secrets or internal details in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XksError {
    pub name: ErrorName,
    pub message: String,
}

/// The spec: errorMessage under 512 characters, printable ASCII only.
const MAX_MESSAGE_LEN: usize = 511;

impl XksError {
    pub fn new(name: ErrorName, message: impl Into<String>) -> XksError {
        XksError { name, message: message.into() }
    }

    pub fn validation(message: impl Into<String>) -> XksError {
        XksError::new(ErrorName::ValidationException, message)
    }

    /// An internal failure: the details go to the log (with the request's
    /// kmsRequestId, by the caller), the answer says only that it failed.
    pub fn internal() -> XksError {
        XksError::new(ErrorName::InternalException, "The external key store proxy failed internally.")
    }

    /// The JSON body of the answer.
    pub fn body(&self) -> Vec<u8> {
        let message: String = self
            .message
            .chars()
            .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
            .take(MAX_MESSAGE_LEN)
            .collect();
        serde_json::json!({ "errorName": self.name.as_str(), "errorMessage": message })
            .to_string()
            .into_bytes()
    }
}

impl fmt::Display for XksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name.as_str(), self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_printable_ascii_and_short() {
        let e = XksError::validation(format!("bad\u{7}\u{e9}{}", "x".repeat(600)));
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        let m = v["errorMessage"].as_str().unwrap();
        assert!(m.len() < 512);
        assert!(m.starts_with("bad??"));
        assert_eq!(v["errorName"], "ValidationException");
    }
}
