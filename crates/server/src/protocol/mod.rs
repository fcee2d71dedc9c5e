//! The AWS JSON 1.1 protocol: `POST /` with `X-Amz-Target:
//! TrentService.<Operation>`, a JSON body checked against the KMS model
//! (`trent-model`), and JSON answers; errors as `{"__type", "message"}`.

pub mod catalogue;
pub mod error;
pub mod limits;

use error::KmsError;

pub const TARGET_PREFIX: &str = "TrentService.";
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Whether a request carries the AWS JSON 1.1 content type (parameters
/// such as `charset` aside), the only one AWS's front end routes to KMS.
pub fn is_json_request(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

/// The operation a request names in its `X-Amz-Target` header, if the KMS
/// model has it. Routing looks at nothing else.
pub fn operation(target: Option<&str>) -> Result<&'static str, KmsError> {
    let unknown = || KmsError::from(catalogue::Error::UnknownTarget { target: target.unwrap_or("(missing)").to_owned() });
    let name = target.and_then(|t| t.strip_prefix(TARGET_PREFIX)).ok_or_else(unknown)?;
    trent_model::Operation::from_name(name).map(trent_model::Operation::name).ok_or_else(unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::ErrorCode;

    #[test]
    fn routes_only_on_known_targets() {
        assert_eq!(operation(Some("TrentService.ListKeys")).unwrap(), "ListKeys");
        for bad in [None, Some("TrentService.Nope"), Some("ListKeys"), Some("Kms.ListKeys"), Some("TrentService.")] {
            assert_eq!(operation(bad).unwrap_err().code, ErrorCode::UnknownOperation, "{bad:?}");
        }
    }
}
