//! Authentication: who signed this request. SigV4 is verified by the pure
//! `trent-sigv4` crate; this module finds the access key's secret (sealed
//! under the root key in the store) and the principal it belongs to.

pub mod accounts;
pub mod credentials;
pub mod regions;
pub mod root_check;
pub mod session;
pub mod signing_keys;

use std::sync::Arc;

use aws_lc_rs::hmac;
use trent_sigv4::{Authorization, Request};
use zeroize::Zeroizing;

use crate::protocol::error::{ErrorCode, KmsError};
use crate::protocol::catalogue::Error;
use crate::state::{AppState, AuthMode, Principal};

/// The region used when a dev-mode request carries no credential scope.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The service name requests must be signed for.
pub const SERVICE: &str = "kms";

/// The headers Trent reads to decide what a request does, which must be
/// signed whenever a request carries them (beside `host` and the date
/// header, which `trent_sigv4::verify` requires): the operation
/// (`x-amz-target`), the protocol (`content-type`), the session
/// (`x-amz-security-token`), and Trent's own headers (`x-trent-*`, e.g.
/// `X-Trent-On-Behalf-Of`). Every AWS SDK and the aws CLI sign all of them;
/// what they leave unsigned (`user-agent`, `content-length`,
/// `x-amzn-trace-id`...) decides nothing here.
pub const MUST_BE_SIGNED: trent_sigv4::SignedHeaderRules<'static> = trent_sigv4::SignedHeaderRules {
    names: &["content-type", "x-amz-date", "x-amz-security-token", "x-amz-target"],
    prefixes: &["x-trent-"],
};

/// The caller and the region it signed for, on the KMS path.
pub async fn authenticate(state: &AppState, req: &Request<'_>) -> Result<(Principal, String), KmsError> {
    authenticate_for(state, req, SERVICE).await
}

/// The caller of a request that must be signed for `service` (`kms`, `iam`
/// or `sts`), and the region it signed for.
pub async fn authenticate_for(state: &AppState, req: &Request<'_>, service: &str) -> Result<(Principal, String), KmsError> {
    match &state.auth {
        AuthMode::Dev { account_id } => {
            // Like the emulators: whatever the credentials, the caller is the account root.
            // The region still becomes part of ARNs: only a well-formed one is taken.
            let region = match trent_sigv4::authorization_header(req).ok().and_then(|h| trent_sigv4::parse_authorization(h).ok()) {
                Some(auth) => {
                    auth.check_region_name().map_err(sigv4_error)?;
                    state.regions.check(&auth.region).map_err(sigv4_error)?;
                    auth.region
                }
                None => DEFAULT_REGION.to_owned(),
            };
            Ok((root_of(account_id), region))
        }
        AuthMode::Secure => {
            let header = trent_sigv4::authorization_header(req).map_err(sigv4_error)?;
            let auth = trent_sigv4::parse_authorization(header).map_err(sigv4_error)?;
            auth.check_region_name().map_err(sigv4_error)?;
            state.regions.check(&auth.region).map_err(sigv4_error)?;
            auth.check_scope(&auth.region, service).map_err(sigv4_error)?;
            auth.check_signed_headers(req, &MUST_BE_SIGNED).map_err(sigv4_error)?;
            require_signed_payload(req)?;
            let (principal, signing_key) = if auth.access_key_id.starts_with(TEMPORARY_KEY_PREFIX) {
                session_lookup(state, req, &auth).await?
            } else {
                lookup(state, &auth).await?
            };
            trent_sigv4::verify_with_hmac_key(req, &auth, &signing_key, state.clock.now_secs()).map_err(sigv4_error)?;
            Ok((principal, auth.region))
        }
    }
}

/// Every KMS client signs its payload; an unsigned one would let anyone on
/// the path change the body of a signed request.
fn require_signed_payload(req: &Request<'_>) -> Result<(), KmsError> {
    let unsigned = req.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("x-amz-content-sha256") && v.trim() == trent_sigv4::UNSIGNED_PAYLOAD);
    if unsigned {
        return Err(Error::UnsignedPayload.into());
    }
    Ok(())
}

pub fn root_of(account_id: &str) -> Principal {
    Principal::root(account_id)
}

/// Access key ids of temporary (STS) credentials start with this, as AWS's.
pub const TEMPORARY_KEY_PREFIX: &str = "ASIA";

fn invalid_token() -> KmsError {
    Error::UnrecognizedClient.into()
}

/// The caller behind a long-term access key, and the signing key of the request's scope.
async fn lookup(state: &AppState, auth: &Authorization) -> Result<(Principal, Arc<hmac::Key>), KmsError> {
    let unknown = invalid_token;
    // An inactive key is refused exactly like an unknown one, as AWS does.
    let key = state.store.get_access_key(&auth.access_key_id).await?.filter(|k| k.active).ok_or_else(unknown)?;
    let principal = state.store.get_principal(&key.principal_arn).await?.ok_or_else(unknown)?;
    let signing_key = signing_keys::signing_key(&key.sealed_secret, auth, || credentials::unseal_secret(&state.root_key.load(), &key))?;
    // A stored principal whose ARN is not a root or user of its account acts as nobody.
    let principal = Principal::from_arn(&principal.arn).filter(|p| p.account_id == principal.account_id).ok_or_else(unknown)?;
    Ok((principal, signing_key))
}

/// Temporary credentials: the session token (`X-Amz-Security-Token`) must
/// be one this deployment sealed for this access key id, unexpired, and its
/// role must still exist (deleting a role ends its sessions at once).
async fn session_lookup(state: &AppState, req: &Request<'_>, auth: &Authorization) -> Result<(Principal, Arc<hmac::Key>), KmsError> {
    let token = req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("x-amz-security-token")).map(|(_, v)| *v).ok_or_else(invalid_token)?;
    let session = session::open(&state.root_key.load(), token).filter(|s| s.access_key_id == auth.access_key_id).ok_or_else(invalid_token)?;
    if state.clock.now_millis() >= session.expires_at {
        return Err(Error::ExpiredToken.into());
    }
    let role = state.store.get_entity(&session.account_id, trent_store::EntityKind::Role, &session.role_name).await?;
    let current = role.and_then(|r| crate::iam::entity::Doc::parse(&r.doc).ok()).is_some_and(|doc| doc.id == session.role_id);
    if !current {
        return Err(invalid_token());
    }
    let principal = Principal::from_arn(&session.assumed_role_arn()).filter(|p| p.account_id == session.account_id).ok_or_else(invalid_token)?;
    let signing_key = Zeroizing::new(trent_sigv4::signing_key(session.secret.as_bytes(), &auth.date, &auth.region, &auth.service));
    Ok((principal, Arc::new(hmac::Key::new(hmac::HMAC_SHA256, signing_key.as_ref()))))
}

/// The KMS error for a SigV4 failure, by its kind (the grouping of variants is the sigv4 crate's).
fn sigv4_error(e: trent_sigv4::SigV4Error) -> KmsError {
    KmsError::new(sigv4_code(&e), e.message())
}

fn sigv4_code(e: &trent_sigv4::SigV4Error) -> ErrorCode {
    use trent_sigv4::SigV4ErrorKind as Kind;
    match e.kind() {
        Kind::MissingAuthenticationToken => ErrorCode::MissingAuthenticationToken,
        Kind::IncompleteSignature => ErrorCode::IncompleteSignature,
        Kind::InvalidSignature => ErrorCode::InvalidSignature,
        Kind::UnrecognizedClient => ErrorCode::UnrecognizedClient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trent_sigv4::SigV4Error;

    #[test]
    fn each_sigv4_failure_answers_the_aws_code_it_names() {
        let s = || String::from("x");
        let all = [
            SigV4Error::MissingAuthenticationToken,
            SigV4Error::MissingAuthorizationComponents { credential: true, signed_headers: false, signature: false, authorization: s() },
            SigV4Error::MalformedAuthorizationComponent { component: s(), authorization: s() },
            SigV4Error::UnsupportedAlgorithm { algorithm: s() },
            SigV4Error::MalformedCredential { credential: s() },
            SigV4Error::InvalidScopeTerminator { terminator: s() },
            SigV4Error::MissingDate { authorization: s() },
            SigV4Error::InvalidDateFormat { value: s() },
            SigV4Error::HostNotSigned,
            SigV4Error::HeaderNotSigned { header: s() },
            SigV4Error::ScopeDateMismatch { scope_date: s(), request_date: s(), request_timestamp: s() },
            SigV4Error::WrongRegion { region: s() },
            SigV4Error::WrongService { expected: s() },
            SigV4Error::SignatureExpired { request_time: s(), earliest: s(), now: s() },
            SigV4Error::SignatureNotYetCurrent { request_time: s(), latest: s(), now: s() },
            SigV4Error::SignedHeaderMissing { header: s() },
            SigV4Error::PayloadHashMismatch,
            SigV4Error::SignatureMismatch,
            SigV4Error::UnrecognizedClient,
        ];
        for e in all {
            let kms = sigv4_error(e.clone());
            assert_eq!(kms.code.name(), e.aws_error_code(), "{e:?}");
            assert_eq!(kms.code.status().as_u16(), e.http_status(), "{e:?}");
            assert_eq!(kms.text(), e.message());
        }
    }

    #[test]
    fn decisive_headers_must_be_signed_and_others_need_not() {
        for name in ["X-Amz-Target", "content-type", "X-Amz-Security-Token", "x-amz-date", "X-Trent-On-Behalf-Of", "x-trent-anything"] {
            assert!(MUST_BE_SIGNED.applies_to(name), "{name}");
        }
        for name in ["user-agent", "content-length", "x-amz-user-agent", "amz-sdk-invocation-id", "amz-sdk-request", "x-amzn-trace-id", "accept-encoding", "expect"] {
            assert!(!MUST_BE_SIGNED.applies_to(name), "{name}");
        }
    }
}
