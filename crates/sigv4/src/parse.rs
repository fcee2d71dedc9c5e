//! Parsing of the `Authorization` header:
//! `AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=<hex>`.

use crate::SigV4Error;

/// The only algorithm supported.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The fixed last element of every credential scope.
pub const SCOPE_TERMINATOR: &str = "aws4_request";

/// A parsed SigV4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// Credential-scope date, `yyyymmdd` as sent (checked against the request date by [`crate::verify`]).
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lower-cased header names, in the order the client listed them.
    pub signed_headers: Vec<String>,
    /// The signature as sent (a valid one is 64 lowercase hex digits).
    pub signature: String,
}

impl Authorization {
    /// The credential scope, `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{SCOPE_TERMINATOR}",
            self.date, self.region, self.service
        )
    }

    /// The header re-rendered in canonical form (used in messages that echo it).
    pub fn to_header_value(&self) -> String {
        format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={}",
            self.access_key_id,
            self.scope(),
            self.signed_headers.join(";"),
            self.signature
        )
    }

    /// Checks the credential scope names the region and service serving the
    /// request (the server decides both; [`crate::verify`] does not).
    pub fn check_scope(&self, region: &str, service: &str) -> Result<(), SigV4Error> {
        if self.region != region {
            return Err(SigV4Error::WrongRegion {
                region: self.region.clone(),
            });
        }
        if self.service != service {
            return Err(SigV4Error::WrongService {
                expected: service.to_string(),
            });
        }
        Ok(())
    }
}

/// Parses an `Authorization` header value.
///
/// Components may be separated by commas and/or whitespace; unknown
/// components are ignored; if one repeats, the last wins. An empty value is
/// treated as no header at all.
pub fn parse_authorization(header_value: &str) -> Result<Authorization, SigV4Error> {
    let value = header_value.trim();
    if value.is_empty() {
        return Err(SigV4Error::MissingAuthenticationToken);
    }
    let (algorithm, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    let all_missing = || SigV4Error::MissingAuthorizationComponents {
        credential: true,
        signed_headers: true,
        signature: true,
        authorization: value.to_string(),
    };
    if !algorithm.starts_with("AWS4-") {
        // Not SigV4 at all (`AWS AKID:sig`, `Bearer ...`): AWS answers that none
        // of the SigV4 components are present.
        return Err(all_missing());
    }
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm {
            algorithm: algorithm.to_string(),
        });
    }

    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|c| !c.is_empty())
    {
        let Some((key, val)) = component.split_once('=') else {
            return Err(SigV4Error::MalformedAuthorizationComponent {
                component: component.to_string(),
                authorization: value.to_string(),
            });
        };
        match key {
            "Credential" => credential = Some(val),
            "SignedHeaders" => signed_headers = Some(val),
            "Signature" => signature = Some(val),
            _ => {}
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        return Err(SigV4Error::MissingAuthorizationComponents {
            credential: credential.is_none(),
            signed_headers: signed_headers.is_none(),
            signature: signature.is_none(),
            authorization: value.to_string(),
        });
    };

    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = parts.as_slice() else {
        return Err(SigV4Error::MalformedCredential {
            credential: credential.to_string(),
        });
    };
    if *terminator != SCOPE_TERMINATOR {
        return Err(SigV4Error::InvalidScopeTerminator {
            terminator: terminator.to_string(),
        });
    }

    Ok(Authorization {
        access_key_id: access_key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: signed_headers
            .split(';')
            .filter(|h| !h.is_empty())
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        signature: signature.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

    #[test]
    fn parses_a_good_header() {
        let a = parse_authorization(GOOD).unwrap();
        assert_eq!(a.access_key_id, "AKIDEXAMPLE");
        assert_eq!(a.date, "20150830");
        assert_eq!(a.region, "us-east-1");
        assert_eq!(a.service, "service");
        assert_eq!(a.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(
            a.signature,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(a.to_header_value(), GOOD);
        // Separators: commas without spaces, or spaces only.
        assert_eq!(parse_authorization(&GOOD.replace(", ", ",")).unwrap(), a);
        assert_eq!(parse_authorization(&GOOD.replace(", ", " ")).unwrap(), a);
    }

    #[test]
    fn empty_header_is_missing_token() {
        for v in ["", "   "] {
            let e = parse_authorization(v).unwrap_err();
            assert_eq!(e, SigV4Error::MissingAuthenticationToken);
            assert_eq!(e.aws_error_code(), "MissingAuthenticationTokenException");
        }
    }

    #[test]
    fn missing_components_are_incomplete() {
        let e = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request",
        )
        .unwrap_err();
        assert_eq!(e.aws_error_code(), "IncompleteSignatureException");
        assert_eq!(
            e.message(),
            "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
             Authorization=AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request"
        );
        let e = parse_authorization("AWS4-HMAC-SHA256").unwrap_err();
        assert!(matches!(
            e,
            SigV4Error::MissingAuthorizationComponents {
                credential: true,
                signed_headers: true,
                signature: true,
                ..
            }
        ));
    }

    #[test]
    fn non_sigv4_scheme_is_incomplete() {
        let e = parse_authorization("AWS AKIDEXAMPLE:qaNdqGsI6bq4Hi+9Gzovwyjbh0E=").unwrap_err();
        assert_eq!(e.aws_error_code(), "IncompleteSignatureException");
        assert_eq!(
            e.message(),
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. \
             Authorization header requires 'SignedHeaders' parameter. Authorization=AWS AKIDEXAMPLE:qaNdqGsI6bq4Hi+9Gzovwyjbh0E="
        );
        assert_eq!(
            parse_authorization("Bearer x")
                .unwrap_err()
                .aws_error_code(),
            "IncompleteSignatureException"
        );
    }

    #[test]
    fn unknown_algorithm_is_rejected() {
        for alg in [
            "AWS4-HMAC-SHA512",
            "AWS4-ECDSA-P256-SHA256",
            "aws4-hmac-sha256",
        ] {
            let h = GOOD.replacen(ALGORITHM, alg, 1);
            let e = parse_authorization(&h).unwrap_err();
            assert_eq!(e.aws_error_code(), "IncompleteSignatureException", "{alg}");
        }
        let e = parse_authorization(&GOOD.replacen(ALGORITHM, "AWS4-HMAC-SHA512", 1)).unwrap_err();
        assert_eq!(
            e,
            SigV4Error::UnsupportedAlgorithm {
                algorithm: "AWS4-HMAC-SHA512".into()
            }
        );
    }

    #[test]
    fn component_without_equals_is_incomplete() {
        let h = "AWS4-HMAC-SHA256 Credential= AKID/20150830/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00";
        let e = parse_authorization(h).unwrap_err();
        assert_eq!(e.aws_error_code(), "IncompleteSignatureException");
        assert!(e.message().starts_with("'AKID/20150830/us-east-1/kms/aws4_request' not a valid key=value pair (missing equal-sign) in Authorization header: '"));
    }

    #[test]
    fn malformed_credential_is_incomplete() {
        for cred in [
            "AKID/20150830/us-east-1/kms",
            "AK/ID/20150830/us-east-1/kms/aws4_request",
            "",
        ] {
            let h = format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders=host, Signature=00");
            let e = parse_authorization(&h).unwrap_err();
            assert_eq!(
                e,
                SigV4Error::MalformedCredential {
                    credential: cred.into()
                }
            );
            assert_eq!(e.aws_error_code(), "IncompleteSignatureException");
        }
        let h = "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws5_request, SignedHeaders=host, Signature=00";
        assert_eq!(
            parse_authorization(h).unwrap_err(),
            SigV4Error::InvalidScopeTerminator {
                terminator: "aws5_request".into()
            }
        );
    }

    #[test]
    fn check_scope() {
        let a = parse_authorization(GOOD).unwrap();
        assert!(a.check_scope("us-east-1", "service").is_ok());
        let e = a.check_scope("eu-west-1", "service").unwrap_err();
        assert_eq!(
            e.message(),
            "Credential should be scoped to a valid region, not 'us-east-1'."
        );
        let e = a.check_scope("us-east-1", "kms").unwrap_err();
        assert_eq!(
            e.message(),
            "Credential should be scoped to correct service: 'kms'."
        );
        assert_eq!(e.aws_error_code(), "InvalidSignatureException");
    }
}
