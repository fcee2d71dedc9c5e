//! `kms:ViaService`: a trusted service calling KMS on a user's behalf.
//!
//! The operator names each trusted service and the IAM principal it signs
//! as (`trent serve --trusted-service s3.us-east-1.amazonaws.com=ARN`). A
//! request signed by that principal may carry `X-Trent-On-Behalf-Of: <ARN>`
//! (which must be among the SigV4 signed headers); it is then authorized as
//! that caller, with `kms:ViaService` set to the service's name. The header
//! from anyone else is refused. The caller named must be a user that exists,
//! or the root of the service principal's own account.

use std::str::FromStr;

use crate::protocol::error::{ErrorCode, KmsError};
use crate::state::{AppState, Principal};

/// The header a trusted service names its caller in.
pub const HEADER: &str = "x-trent-on-behalf-of";

/// A service allowed to call on behalf of others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedService {
    /// What `kms:ViaService` says, e.g. `s3.us-east-1.amazonaws.com`.
    pub name: String,
    /// The principal the service signs its requests as.
    pub principal_arn: String,
}

impl FromStr for TrustedService {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (name, arn) = text.split_once('=').ok_or_else(|| format!("'{text}' is not NAME=PRINCIPAL_ARN"))?;
        if name.is_empty() || !arn.starts_with("arn:aws:iam::") {
            return Err(format!("'{text}' is not NAME=PRINCIPAL_ARN (an IAM user or root ARN)"));
        }
        Ok(TrustedService { name: name.to_owned(), principal_arn: arn.to_owned() })
    }
}

/// The principal a request acts as and the service it came through, if a
/// trusted service forwarded it.
pub async fn forwarded(state: &AppState, signer: Principal, req: &trent_sigv4::Request<'_>) -> Result<(Principal, Option<String>), KmsError> {
    let Some(on_behalf) = req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(HEADER)).map(|(_, v)| v.trim().to_owned()) else {
        return Ok((signer, None));
    };
    let refuse = |why: &str| KmsError::new(ErrorCode::AccessDenied, format!("User: {} may not call on behalf of {on_behalf}: {why}", signer.arn));
    let Some(service) = state.trusted_services.iter().find(|s| s.principal_arn == signer.arn) else {
        return Err(refuse("it is not a trusted service"));
    };
    let signed = trent_sigv4::authorization_header(req).ok().and_then(|h| trent_sigv4::parse_authorization(h).ok()).is_some_and(|a| a.signed_headers.iter().any(|h| h == HEADER));
    if !signed {
        return Err(refuse("the X-Trent-On-Behalf-Of header must be signed"));
    }
    let account = on_behalf.split(':').nth(4).unwrap_or_default().to_owned();
    let is_root = on_behalf == format!("arn:aws:iam::{}:root", signer.account_id);
    let exists = is_root || (on_behalf.starts_with("arn:aws:iam::") && state.store.get_principal(&on_behalf).await?.is_some());
    if !exists {
        return Err(refuse("no such principal"));
    }
    Ok((Principal { account_id: account, arn: on_behalf.clone() }, Some(service.name.clone())))
}
