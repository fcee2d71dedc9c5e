//! The KMS key as the API sees it: how requests name keys, how a key's
//! metadata is written out, which states allow what, and the documents
//! (policy, tags) a key carries.

pub mod alias;
pub mod asymmetric;
pub mod grants;
pub mod import;
pub mod live;
pub mod materials;
pub mod metadata;
pub mod policy;
pub mod reference;
pub mod rotation;
pub mod signing;
pub mod state;
pub mod symmetric;
pub mod tags;
pub mod usage;
