//! Work that happens with time rather than on request: today, destroying
//! keys whose deletion waiting period has ended.

pub mod deletion;
