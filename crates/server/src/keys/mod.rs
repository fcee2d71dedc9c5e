//! The KMS key as the API sees it: how requests name keys, how a key's
//! metadata is written out, which states allow what, and the documents
//! (policy, tags) a key carries.
//!
//! It is also the only way a KMS operation's handler (`crate::ops`) reaches
//! the store, the key provider and the root key: a handler holds an
//! [`OpCtx`], whose request context only this module can see, and calls
//! the functions here that take the [`crate::authz::Authorized`] key,
//! alias, grant or account they act on ([`change`], [`alias`], [`grants`],
//! [`account`], [`import`], [`rotation`], [`symmetric`], [`asymmetric`],
//! [`usage`], [`policy`]).

pub mod account;
pub mod alias;
pub mod asymmetric;
pub mod change;
pub mod grants;
pub mod import;
pub mod key_stores;
pub mod live;
pub mod managed;
pub mod materials;
pub mod metadata;
pub mod multi_region;
pub mod policy;
pub mod reference;
pub mod rotation;
pub mod signing;
pub mod state;
pub mod symmetric;
pub mod tags;
pub mod usage;
pub mod xks_blob;
pub mod xks_keys;
pub mod xks_stores;

mod op_ctx;

pub use op_ctx::OpCtx;
