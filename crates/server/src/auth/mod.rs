//! Authentication: who signed this request. SigV4 is verified by the pure
//! `trent-sigv4` crate; this module finds the access key's secret (sealed
//! under the root key in the store) and the principal it belongs to.

pub mod credentials;

use trent_sigv4::{Authorization, Request};

use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::{AppState, AuthMode, Principal};

/// The region used when a dev-mode request carries no credential scope.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The caller and the region it signed for.
pub async fn authenticate(state: &AppState, req: &Request<'_>) -> Result<(Principal, String), KmsError> {
    let header = req.headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("authorization")).map(|(_, v)| v.as_str());
    match &state.auth {
        AuthMode::Dev { account_id } => {
            // Like the emulators: whatever the credentials, the caller is the account root.
            let region = header.and_then(|h| trent_sigv4::parse_authorization(h).ok()).map(|a| a.region).unwrap_or_else(|| DEFAULT_REGION.to_owned());
            Ok((root_of(account_id), region))
        }
        AuthMode::Secure => {
            let header = header.ok_or_else(|| KmsError::new(ErrorCode::MissingAuthenticationToken, "Request is missing Authentication Token"))?;
            let auth = trent_sigv4::parse_authorization(header).map_err(sigv4_error)?;
            let (principal, secret) = lookup(state, &auth).await?;
            trent_sigv4::verify(req, &auth, secret.as_bytes(), state.clock.now_secs()).map_err(sigv4_error)?;
            Ok((principal, auth.region))
        }
    }
}

pub fn root_of(account_id: &str) -> Principal {
    Principal { account_id: account_id.to_owned(), arn: format!("arn:aws:iam::{account_id}:root") }
}

async fn lookup(state: &AppState, auth: &Authorization) -> Result<(Principal, trent_crypto::SecretBytes), KmsError> {
    let unknown = || KmsError::new(ErrorCode::UnrecognizedClient, "The security token included in the request is invalid.");
    let key = state.store.get_access_key(&auth.access_key_id).await?.ok_or_else(unknown)?;
    let principal = state.store.get_principal(&key.principal_arn).await?.ok_or_else(unknown)?;
    let secret = credentials::unseal_secret(&state.root_key, &key)?;
    Ok((Principal { account_id: principal.account_id, arn: principal.arn }, secret))
}

fn sigv4_error(e: trent_sigv4::SigV4Error) -> KmsError {
    let code = match e.aws_error_code() {
        "MissingAuthenticationTokenException" => ErrorCode::MissingAuthenticationToken,
        "IncompleteSignatureException" => ErrorCode::IncompleteSignature,
        "UnrecognizedClientException" => ErrorCode::UnrecognizedClient,
        _ => ErrorCode::InvalidSignature,
    };
    KmsError::new(code, e.message())
}
