//! Which key states allow which operations, with the error AWS gives for
//! each (AWS's "Key states and KMS API operations" table).

use trent_store::{KeyRecord, KeyState};

use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

/// Cryptographic operations need an enabled key.
pub fn usable_for_crypto(key: &KeyRecord) -> Result<(), KmsError> {
    match key.state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(Error::Disabled { arn: key.arn.clone() }.into()),
        KeyState::Unavailable => Err(Error::Unavailable { arn: key.arn.clone() }.into()),
        other => Err(invalid(key, other)),
    }
}

/// CreateGrant: an enabled key, or one whose custom key store is
/// disconnected (AWS's key-state table); disabled is DisabledException,
/// pending import or deletion KMSInvalidStateException.
pub fn grantable(key: &KeyRecord) -> Result<(), KmsError> {
    match key.state {
        KeyState::Enabled | KeyState::Unavailable => Ok(()),
        KeyState::Disabled => Err(Error::Disabled { arn: key.arn.clone() }.into()),
        other => Err(invalid(key, other)),
    }
}

/// DisabledException for a disabled key. Key rotation checks this before
/// the key's type and origin (AWS: a disabled asymmetric key is
/// DisabledException, not UnsupportedOperationException).
pub fn not_disabled(key: &KeyRecord) -> Result<(), KmsError> {
    match key.state {
        KeyState::Disabled => Err(Error::Disabled { arn: key.arn.clone() }.into()),
        _ => Ok(()),
    }
}

/// Management operations work in any state but pending deletion.
pub fn not_pending_deletion(key: &KeyRecord) -> Result<(), KmsError> {
    match key.state {
        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => Err(invalid(key, key.state)),
        _ => Ok(()),
    }
}

pub fn invalid(key: &KeyRecord, state: KeyState) -> KmsError {
    let words = match state {
        KeyState::PendingDeletion => "pending deletion",
        KeyState::PendingImport => "pending import",
        KeyState::PendingReplicaDeletion => "pending replica deletion",
        KeyState::Creating => "being created",
        KeyState::Updating => "being updated",
        KeyState::Unavailable => "unavailable",
        KeyState::Enabled => "enabled",
        KeyState::Disabled => "disabled",
    };
    Error::InvalidState { arn: key.arn.clone(), state: words.to_owned() }.into()
}
