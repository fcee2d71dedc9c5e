//! Trent: a self-hosted key management service that speaks the AWS KMS API.
//!
//! A request travels down the folders in this order:
//!
//! - [`http`]: axum, one route (`POST /`), request ids.
//! - [`protocol`]: AWS JSON 1.1, the `X-Amz-Target` operation, AWS's errors;
//!   bodies are validated against the KMS model by `trent-model` and parsed
//!   into its typed requests, which hold only the operation's own members.
//! - [`auth`]: SigV4 (pure checks in `trent-sigv4`) -> the calling principal.
//! - [`dispatch`]: the typed request -> AWS's limits -> the one authorization
//!   step -> the file in [`ops`] that implements it; `dispatch::table` is
//!   the operation table (one row per operation).
//! - [`authz`]: the one authorization step, between validation and every
//!   handler: it resolves what the row says the operation acts on, decides
//!   it, and hands the handler [`authz::Authorized`] values only it makes.
//! - [`ops`]: one file per KMS operation. A handler gets a [`keys::OpCtx`],
//!   not the request's [`state::Ctx`], so it has no path to the store, the
//!   key provider or the root key but through [`keys`].
//! - [`keys`]: what a KMS key is to the API: references, metadata, states,
//!   policies, tags, symmetric and asymmetric crypto through the key
//!   provider (`trent-crypto`), and the handlers' only way to the store:
//!   functions that take the [`authz::Authorized`] value they act on.
//! - the store (`trent-store`): SQLite by default; every write durable
//!   before the answer is sent.
//! - [`audit`]: one CloudTrail-shaped event per request, hash-chained and
//!   signed, written before the answer (wrapped around the path by `http`).
//!
//! IAM and STS share the endpoint: [`query`] (the Query protocol, chosen
//! by the SigV4 service `iam` or `sts`) -> [`auth`] -> [`iam`] or [`sts`],
//! whose permissions come from [`policy`], Trent's policy evaluator.
//!
//! Beside the path: [`lifecycle`] (deletion after the waiting period),
//! [`clock`] (injected time), [`serve`] (start-up and the data directory;
//! [`config`]: flags from the environment and a file; [`tls`]: rustls),
//! [`metrics`] (counters and their Prometheus exposition, served with
//! `/health` by `http::admin`), [`backup`] (`trent backup`, `trent restore`),
//! [`seal`] (the root of trust: seal modes, `trent init`, the gate every
//! request passes while unsealed, unseal and seal),
//! [`seed`] (`trent serve --seed`: keys and aliases made at start-up),
//! [`keystores`] (custom key stores: the registered PKCS#11 tokens), and
//! [`xks`] (`trent xks-proxy`, a separate server: Trent as an external key
//! store proxy for AWS KMS).

#![forbid(unsafe_code)]

pub mod account;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod backup;
pub mod cli_docs;
pub mod clock;
pub mod config;
pub mod dispatch;
pub mod http;
pub mod iam;
pub mod keys;
pub mod keystores;
pub mod lifecycle;
pub mod metrics;
pub mod ops;
pub mod policy;
pub mod protocol;
pub mod query;
pub mod seal;
pub mod seed;
pub mod serve;
pub mod state;
pub mod sts;
pub mod text_cache;
pub mod tls;
pub mod xks;
