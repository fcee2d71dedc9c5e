//! `kms:ViaService`: a trusted service calling KMS on a user's behalf.
//!
//! The operator names each trusted service and the IAM principal it signs
//! as (`trent serve --trusted-service s3.us-east-1.amazonaws.com=ARN`). A
//! request signed by that principal may carry `X-Trent-On-Behalf-Of: <ARN>`
//! (which must be among the SigV4 signed headers); it is then authorized as
//! that caller, with `kms:ViaService` set to the service's name. The header
//! from anyone else is refused.
//!
//! The caller named must be a user that exists, or the root of the
//! service's own account; and it must belong to the service's own account,
//! unless the operator allowed the service other accounts by name
//! (`--trusted-service-accounts NAME=ACCOUNT,ACCOUNT`; users only there).
//! Roles and role sessions cannot be named: a service acting for a role's
//! session signs with that session's credentials instead.

use std::str::FromStr;

use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;
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
    /// Accounts other than its own whose users the service may act for
    /// (`--trusted-service-accounts`); none unless the operator says so.
    pub other_accounts: Vec<String>,
}

impl TrustedService {
    /// The account the service's principal belongs to.
    pub fn account_id(&self) -> &str {
        account_of(&self.principal_arn).unwrap_or_default()
    }
}

impl FromStr for TrustedService {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (name, arn) = text.split_once('=').ok_or_else(|| format!("'{text}' is not NAME=PRINCIPAL_ARN"))?;
        if name.is_empty() || name.contains(',') || CallerArn::parse(arn).is_none() {
            return Err(format!("'{text}' is not NAME=PRINCIPAL_ARN (an IAM user or root ARN, e.g. arn:aws:iam::111122223333:user/gateway)"));
        }
        Ok(TrustedService { name: name.to_owned(), principal_arn: arn.to_owned(), other_accounts: Vec::new() })
    }
}

/// `--trusted-service-accounts NAME=ACCOUNT[,ACCOUNT...]`: other accounts
/// whose users the trusted service NAME may act for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccounts {
    pub name: String,
    pub accounts: Vec<String>,
}

impl FromStr for ServiceAccounts {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("'{text}' is not NAME=ACCOUNT[,ACCOUNT...] (12-digit account ids)");
        let (name, list) = text.split_once('=').ok_or_else(bad)?;
        let accounts: Vec<String> = list.split(',').map(|a| a.trim().to_owned()).collect();
        if name.is_empty() || accounts.iter().any(|a| !is_account_id(a)) {
            return Err(bad());
        }
        Ok(ServiceAccounts { name: name.to_owned(), accounts })
    }
}

/// Gives each trusted service the other accounts the operator allowed it;
/// an entry naming no `--trusted-service` is an error.
pub fn allow_accounts(services: &mut [TrustedService], extra: &[ServiceAccounts]) -> Result<(), String> {
    for entry in extra {
        let service = services
            .iter_mut()
            .find(|s| s.name == entry.name)
            .ok_or_else(|| format!("--trusted-service-accounts names '{}', which no --trusted-service defines", entry.name))?;
        for account in &entry.accounts {
            if !service.other_accounts.contains(account) && account != account_of(&service.principal_arn).unwrap_or_default() {
                service.other_accounts.push(account.clone());
            }
        }
    }
    Ok(())
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

fn account_of(arn: &str) -> Option<&str> {
    CallerArn::parse(arn).map(|c| c.account)
}

/// The only callers that can be named: `arn:aws:iam::ACCOUNT:root` and
/// `arn:aws:iam::ACCOUNT:user/[PATH/]NAME`.
#[derive(Debug, PartialEq, Eq)]
struct CallerArn<'a> {
    account: &'a str,
    root: bool,
}

impl<'a> CallerArn<'a> {
    fn parse(arn: &'a str) -> Option<Self> {
        let rest = arn.strip_prefix("arn:aws:iam::")?;
        let (account, resource) = rest.split_once(':')?;
        if !is_account_id(account) {
            return None;
        }
        if resource == "root" {
            return Some(CallerArn { account, root: true });
        }
        let user = resource.strip_prefix("user/")?;
        (!user.is_empty() && !user.ends_with('/')).then_some(CallerArn { account, root: false })
    }
}

/// The principal a request acts as and the service it came through, if a
/// trusted service forwarded it.
pub async fn forwarded(state: &AppState, signer: Principal, req: &trent_sigv4::Request<'_>) -> Result<(Principal, Option<String>), KmsError> {
    let mut values = req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(HEADER)).map(|(_, v)| v.trim());
    let Some(on_behalf) = values.next().map(str::to_owned) else {
        return Ok((signer, None));
    };
    let refuse = |why: &str| KmsError::from(Error::OnBehalfRefused { signer: signer.arn.clone(), on_behalf: on_behalf.to_string(), why: why.to_owned() });
    if values.next().is_some() {
        return Err(refuse("the X-Trent-On-Behalf-Of header may be sent once"));
    }
    let Some(service) = state.trusted_services.iter().find(|s| s.principal_arn == signer.arn) else {
        return Err(refuse("it is not a trusted service"));
    };
    let signed = trent_sigv4::authorization_header(req).ok().and_then(|h| trent_sigv4::parse_authorization(h).ok()).is_some_and(|a| a.is_signed(HEADER));
    if !signed {
        return Err(refuse("the X-Trent-On-Behalf-Of header must be signed"));
    }
    let Some(caller) = CallerArn::parse(&on_behalf) else {
        return Err(refuse("only an IAM user or the account root can be named"));
    };
    let own_account = caller.account == signer.account_id;
    if !own_account && !service.other_accounts.iter().any(|a| a == caller.account) {
        return Err(refuse("the principal is in another account than the trusted service, and the operator did not allow that account (--trusted-service-accounts)"));
    }
    if caller.root && !own_account {
        return Err(refuse("a trusted service may act for the root of its own account only"));
    }
    if !caller.root && state.store.get_principal(&on_behalf).await?.is_none() {
        return Err(refuse("no such principal"));
    }
    let principal = Principal::from_arn(&on_behalf).ok_or_else(|| refuse("only an IAM user or the account root can be named"))?;
    Ok((principal, Some(service.name.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_that_can_be_named() {
        for (arn, want) in [
            ("arn:aws:iam::111122223333:root", Some(CallerArn { account: "111122223333", root: true })),
            ("arn:aws:iam::111122223333:user/ann", Some(CallerArn { account: "111122223333", root: false })),
            ("arn:aws:iam::111122223333:user/team/ann", Some(CallerArn { account: "111122223333", root: false })),
        ] {
            assert_eq!(CallerArn::parse(arn), want, "{arn}");
        }
        for arn in [
            "arn:aws:iam::111122223333:role/ops",
            "arn:aws:sts::111122223333:assumed-role/ops/me",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:iam::111122223333:user/team/",
            "arn:aws:iam::11112222333:root",
            "arn:aws:iam::1111222233334:root",
            "arn:aws:iam::11112222333x:root",
            "arn:aws:iam:us-east-1:111122223333:root",
            "arn:aws-cn:iam::111122223333:root",
            "arn:aws:iam::111122223333:rootx",
            "111122223333",
            "",
        ] {
            assert_eq!(CallerArn::parse(arn), None, "{arn}");
        }
    }

    #[test]
    fn flags_parse_and_combine() {
        let s: TrustedService = "s3.us-east-1.amazonaws.com=arn:aws:iam::111122223333:user/gateway".parse().unwrap();
        assert_eq!((s.name.as_str(), s.account_id(), s.other_accounts.len()), ("s3.us-east-1.amazonaws.com", "111122223333", 0));
        for bad in ["noequals", "=arn:aws:iam::111122223333:user/g", "s3=arn:aws:iam::1111:user/g", "s3=arn:aws:iam::111122223333:role/r", "a,b=arn:aws:iam::111122223333:root"] {
            assert!(bad.parse::<TrustedService>().is_err(), "{bad}");
        }
        let extra: ServiceAccounts = "s3.us-east-1.amazonaws.com=444455556666,777788889999".parse().unwrap();
        assert_eq!(extra.accounts, ["444455556666", "777788889999"]);
        for bad in ["s3", "s3=", "s3=1234", "=444455556666", "s3=444455556666,", "s3=44445555666x"] {
            assert!(bad.parse::<ServiceAccounts>().is_err(), "{bad}");
        }
        let mut services = vec![s];
        allow_accounts(&mut services, &[extra.clone(), "s3.us-east-1.amazonaws.com=444455556666,111122223333".parse().unwrap()]).unwrap();
        assert_eq!(services[0].other_accounts, ["444455556666", "777788889999"]);
        let unknown: ServiceAccounts = "sqs=444455556666".parse().unwrap();
        assert!(allow_accounts(&mut services, &[unknown]).unwrap_err().contains("'sqs'"));
    }
}
