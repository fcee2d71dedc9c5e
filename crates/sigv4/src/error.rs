//! The errors SigV4 authentication can end in, each tied to the AWS error
//! (`__type`) that AWS JSON-protocol services such as KMS return for it.
//!
//! Several variants share one AWS code; each variant maps to exactly one code.
//! `Display` (and [`SigV4Error::message`]) give the AWS-style text meant for the
//! client. No message ever contains a secret key, a derived signing key, or a
//! signature computed by the server; the only signature that can appear is the
//! one the client itself sent, echoed inside its own `Authorization` header (as
//! AWS does).

/// Every way SigV4 authentication of a request can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header, or an empty one.
    #[error("{}", self.message())]
    MissingAuthenticationToken,

    /// The `Authorization` header lacks `Credential`, `SignedHeaders` and/or
    /// `Signature` (also what AWS answers for a non-SigV4 scheme such as
    /// `AWS AKID:sig` or `Bearer ...`). `authorization` is the header as sent.
    #[error("{}", self.message())]
    MissingAuthorizationComponents {
        credential: bool,
        signed_headers: bool,
        signature: bool,
        authorization: String,
    },

    /// A component of the `Authorization` header is not `key=value`.
    #[error("{}", self.message())]
    MalformedAuthorizationComponent {
        component: String,
        authorization: String,
    },

    /// `AWS4-...` scheme other than `AWS4-HMAC-SHA256` (e.g. SigV4a).
    #[error("{}", self.message())]
    UnsupportedAlgorithm { algorithm: String },

    /// `Credential=` does not have the five `keyid/date/region/service/aws4_request` parts.
    #[error("{}", self.message())]
    MalformedCredential { credential: String },

    /// The credential scope does not end in `aws4_request`.
    #[error("{}", self.message())]
    InvalidScopeTerminator { terminator: String },

    /// Neither `X-Amz-Date` nor `Date` is present. `authorization` is the
    /// Authorization header re-rendered from the parsed form.
    #[error("{}", self.message())]
    MissingDate { authorization: String },

    /// `X-Amz-Date` (or `Date`) is not a valid timestamp.
    #[error("{}", self.message())]
    InvalidDateFormat { value: String },

    /// `host` is not among the signed headers.
    #[error("{}", self.message())]
    HostNotSigned,

    /// A header the request carries and that must be signed (the date
    /// header the request time comes from, or one of the server's
    /// [`crate::SignedHeaderRules`]) is not among the signed headers.
    /// `header` is its name as AWS writes it, e.g. `X-Amz-Target`.
    #[error("{}", self.message())]
    HeaderNotSigned { header: String },

    /// The date in the credential scope differs from the request date.
    #[error("{}", self.message())]
    ScopeDateMismatch {
        scope_date: String,
        request_date: String,
        request_timestamp: String,
    },

    /// The credential scope names another region than the one serving the request.
    #[error("{}", self.message())]
    WrongRegion { region: String },

    /// The credential scope names another service than the one serving the request.
    #[error("{}", self.message())]
    WrongService { expected: String },

    /// Request time is more than 5 minutes before the server's clock.
    /// All three values are `yyyymmddThhmmssZ`.
    #[error("{}", self.message())]
    SignatureExpired {
        request_time: String,
        earliest: String,
        now: String,
    },

    /// Request time is more than 5 minutes after the server's clock.
    #[error("{}", self.message())]
    SignatureNotYetCurrent {
        request_time: String,
        latest: String,
        now: String,
    },

    /// A header listed in `SignedHeaders` is not in the request. The client is
    /// told only that the signature does not match (`header` is for logs).
    #[error("{}", self.message())]
    SignedHeaderMissing { header: String },

    /// `x-amz-content-sha256` is present and is neither `UNSIGNED-PAYLOAD` nor
    /// the SHA-256 of the body.
    #[error("{}", self.message())]
    PayloadHashMismatch,

    /// The signature does not match the one computed from the request.
    #[error("{}", self.message())]
    SignatureMismatch,

    /// The access key id is not known. Never produced by this crate: the
    /// server returns it when its credential lookup fails.
    #[error("{}", self.message())]
    UnrecognizedClient,
}

/// The message AWS gives when the signature does not match.
pub const SIGNATURE_MISMATCH_MESSAGE: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// The AWS error a SigV4 failure is answered with; several variants of
/// [`SigV4Error`] share each one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigV4ErrorKind {
    MissingAuthenticationToken,
    IncompleteSignature,
    InvalidSignature,
    UnrecognizedClient,
}

impl SigV4Error {
    /// Which of AWS's four SigV4 errors this failure is.
    pub fn kind(&self) -> SigV4ErrorKind {
        use SigV4Error::*;
        match self {
            MissingAuthenticationToken => SigV4ErrorKind::MissingAuthenticationToken,
            MissingAuthorizationComponents { .. }
            | MalformedAuthorizationComponent { .. }
            | UnsupportedAlgorithm { .. }
            | MalformedCredential { .. }
            | InvalidScopeTerminator { .. }
            | MissingDate { .. }
            | InvalidDateFormat { .. } => SigV4ErrorKind::IncompleteSignature,
            HostNotSigned
            | HeaderNotSigned { .. }
            | ScopeDateMismatch { .. }
            | WrongRegion { .. }
            | WrongService { .. }
            | SignatureExpired { .. }
            | SignatureNotYetCurrent { .. }
            | SignedHeaderMissing { .. }
            | PayloadHashMismatch
            | SignatureMismatch => SigV4ErrorKind::InvalidSignature,
            UnrecognizedClient => SigV4ErrorKind::UnrecognizedClient,
        }
    }

    /// The AWS error code (`__type` of the JSON error body).
    pub fn aws_error_code(&self) -> &'static str {
        match self.kind() {
            SigV4ErrorKind::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            SigV4ErrorKind::IncompleteSignature => "IncompleteSignatureException",
            SigV4ErrorKind::InvalidSignature => "InvalidSignatureException",
            SigV4ErrorKind::UnrecognizedClient => "UnrecognizedClientException",
        }
    }

    /// HTTP status. AWS JSON-protocol services (KMS, DynamoDB, ...) answer all
    /// of these with 400 Bad Request, MissingAuthenticationTokenException
    /// included (the Query-protocol "common errors" table lists 403 for
    /// `MissingAuthenticationToken`, but that is the XML/Query family).
    pub fn http_status(&self) -> u16 {
        400
    }

    /// AWS-style message for the client.
    pub fn message(&self) -> String {
        use SigV4Error::*;
        match self {
            MissingAuthenticationToken => "Request is missing Authentication Token".to_string(),
            MissingAuthorizationComponents { credential, signed_headers, signature, authorization } => {
                let mut m = String::new();
                for (missing, name) in [(credential, "Credential"), (signature, "Signature"), (signed_headers, "SignedHeaders")] {
                    if *missing {
                        m.push_str(&format!("Authorization header requires '{name}' parameter. "));
                    }
                }
                m.push_str(&format!("Authorization={authorization}"));
                m
            }
            MalformedAuthorizationComponent { component, authorization } => format!(
                "'{component}' not a valid key=value pair (missing equal-sign) in Authorization header: '{authorization}'."
            ),
            UnsupportedAlgorithm { algorithm } => format!("Unsupported AWS 'algorithm': '{algorithm}'."),
            MalformedCredential { credential } => format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
            ),
            InvalidScopeTerminator { terminator } => format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
            ),
            MissingDate { authorization } => format!(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={authorization}"
            ),
            InvalidDateFormat { value } => format!(
                "Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ),
            HostNotSigned => "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_string(),
            HeaderNotSigned { header } => format!("'{header}' must be a 'SignedHeader' in the AWS Authorization."),
            ScopeDateMismatch { scope_date, request_date, request_timestamp } => format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{request_date}', from '{request_timestamp}'."
            ),
            WrongRegion { region } => format!("Credential should be scoped to a valid region, not '{region}'."),
            WrongService { expected } => format!("Credential should be scoped to correct service: '{expected}'."),
            SignatureExpired { request_time, earliest, now } => {
                format!("Signature expired: {request_time} is now earlier than {earliest} ({now} - 5 min.)")
            }
            SignatureNotYetCurrent { request_time, latest, now } => {
                format!("Signature not yet current: {request_time} is still later than {latest} ({now} + 5 min.)")
            }
            SignedHeaderMissing { .. } | SignatureMismatch => SIGNATURE_MISMATCH_MESSAGE.to_string(),
            PayloadHashMismatch => {
                "The provided 'x-amz-content-sha256' header does not match what was computed.".to_string()
            }
            UnrecognizedClient => "The security token included in the request is invalid.".to_string(),
        }
    }
}
