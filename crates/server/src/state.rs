//! What every request can reach: the store, the key provider, the clock,
//! the root key (for access-key secrets) and how the server was started.

use std::sync::Arc;

use trent_crypto::{KeyProvider, RootKey};
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
    pub root_key: Arc<RootKey>,
    pub clock: Arc<dyn Clock>,
    pub auth: AuthMode,
    /// Keys' last uses, noted in memory and written in batches.
    pub usage: Arc<crate::keys::usage::UsageTracker>,
    /// Every request's event goes here before its answer (`crate::audit`).
    pub audit: Arc<crate::audit::Audit>,
    /// Services that may call on behalf of others (`kms:ViaService`).
    pub trusted_services: Vec<crate::authz::via::TrustedService>,
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: String,
    pub arn: String,
}

/// One request on its way through dispatch, authorization and the operation.
pub struct Ctx {
    pub state: Arc<AppState>,
    pub principal: Principal,
    /// From the SigV4 credential scope; keys and aliases live in one region.
    pub region: String,
    pub request_id: String,
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
