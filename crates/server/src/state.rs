//! What every request can reach: the store, the key provider, the clock,
//! the root key (for access-key secrets) and how the server was started.

use std::sync::Arc;

use trent_crypto::{KeyProvider, LiveRootKey};
use trent_store::Store;

use crate::clock::Clock;

/// How callers are authenticated.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// SigV4 checked against access keys kept in the store.
    Secure,
    /// Emulator-compatible and INSECURE: any credentials are accepted
    /// without checking the signature; every caller is this account's root.
    Dev { account_id: String },
}

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub provider: Arc<dyn KeyProvider>,
    /// Swapped by an online root rotation (`crate::seal::online`).
    pub root_key: Arc<LiveRootKey>,
    pub clock: Arc<dyn Clock>,
    pub auth: AuthMode,
    /// Keys' last uses, noted in memory and written in batches.
    pub usage: Arc<crate::keys::usage::UsageTracker>,
    /// Every request's event goes here before its answer (`crate::audit`).
    pub audit: Arc<crate::audit::Audit>,
    /// Services that may call on behalf of others (`kms:ViaService`).
    pub trusted_services: Vec<crate::authz::via::TrustedService>,
    /// This node's logins to the CloudHSM key stores' tokens.
    pub key_stores: Arc<crate::keystores::runtime::KeyStoreRuntime>,
    /// The Region names requests may be signed for (`--regions`).
    pub regions: crate::auth::regions::Regions,
    /// The server's seal (`crate::seal::Gate`), for `TrentAdmin.Seal`;
    /// empty for operator commands. Weak: the gate holds this state.
    pub sealer: std::sync::Weak<crate::seal::Gate>,
    /// AWS's request quotas (`--throttle`); `None`: no throttling.
    pub throttle: Option<crate::dispatch::throttle::Throttle>,
}

/// The authenticated caller of one request, parsed once when it is made:
/// an account root, an IAM user or an assumed-role session of `account_id`.
/// An ARN of any other form makes no principal ([`Principal::from_arn`]), so
/// nothing downstream guesses what a caller is from its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    pub arn: String,
    pub kind: PrincipalKind,
}

/// What a principal is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    Root,
    /// An IAM user, by its name (the last part of its path).
    User(String),
    /// An assumed-role session: the role's name and the session's.
    Session { role: String, session: String },
}

impl Principal {
    pub fn root(account_id: &str) -> Principal {
        Principal { account_id: account_id.to_owned(), arn: format!("arn:aws:iam::{account_id}:root"), kind: PrincipalKind::Root }
    }

    /// `arn:aws:iam::ACCOUNT:root`, `arn:aws:iam::ACCOUNT:user/[PATH/]NAME` or
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`; `None` for anything else.
    pub fn from_arn(arn: &str) -> Option<Principal> {
        let rest = arn.strip_prefix("arn:aws:")?;
        let (service, rest) = rest.split_once("::")?;
        let (account_id, resource) = rest.split_once(':')?;
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let kind = match service {
            "iam" if resource == "root" => PrincipalKind::Root,
            "iam" => {
                let path = resource.strip_prefix("user/")?;
                let name = path.rsplit('/').next().filter(|n| !n.is_empty())?;
                PrincipalKind::User(name.to_owned())
            }
            "sts" => {
                let (role, session) = resource.strip_prefix("assumed-role/")?.split_once('/')?;
                if role.is_empty() || session.is_empty() || session.contains('/') {
                    return None;
                }
                PrincipalKind::Session { role: role.to_owned(), session: session.to_owned() }
            }
            _ => return None,
        };
        Some(Principal { account_id: account_id.to_owned(), arn: arn.to_owned(), kind })
    }
}

/// One request on its way through dispatch, authorization and the operation.
pub struct Ctx {
    pub state: Arc<AppState>,
    pub principal: Principal,
    /// From the SigV4 credential scope; keys and aliases live in one region.
    pub region: String,
    pub request_id: String,
    /// The `eventID` of the request's audit event (see `audit::Trail`).
    pub event_id: String,
    /// What authorization reports for the request's audit event.
    pub audit: crate::audit::Notes,
    /// The request's condition facts and every authorization decision made for it.
    pub authz: crate::authz::Trail,
}

impl Ctx {
    pub fn now(&self) -> trent_store::Millis {
        self.state.clock.now_millis()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_are_parsed_once_and_strictly() {
        let user = Principal::from_arn("arn:aws:iam::111122223333:user/team/dave").unwrap();
        assert_eq!((user.account_id.as_str(), user.kind), ("111122223333", PrincipalKind::User("dave".into())));
        assert_eq!(Principal::from_arn("arn:aws:iam::111122223333:root").unwrap(), Principal::root("111122223333"));
        let session = Principal::from_arn("arn:aws:sts::111122223333:assumed-role/ops/me").unwrap();
        assert_eq!(session.kind, PrincipalKind::Session { role: "ops".into(), session: "me".into() });
        for bad in [
            "arn:aws:iam::111122223333:role/ops",
            "arn:aws:iam::111122223333:group/g",
            "arn:aws:iam::1111:root",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:sts::111122223333:assumed-role/ops",
            "arn:aws:s3:::bucket",
            "111122223333",
            "",
        ] {
            assert_eq!(Principal::from_arn(bad), None, "{bad}");
        }
    }
}
