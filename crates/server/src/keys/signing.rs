//! What Sign and Verify check before any crypto: the key signs, the
//! algorithm is one of its spec's, the MessageType suits the algorithm and
//! the message has the length that MessageType demands (AWS's rules).

use trent_crypto::keytypes::{KeyUsage, MessageType, SigningAlgorithm, EXTERNAL_MU_LEN};
use trent_store::KeyRecord;

use crate::keys::asymmetric::{names, require_usage};
use crate::protocol::error::{ErrorCode, KmsError};

/// Checks a Sign/Verify request against the key; returns the algorithm and
/// message type to use.
pub fn check(key: &KeyRecord, algorithm: &str, message_type: Option<&str>, message: &[u8], operation: &str) -> Result<(SigningAlgorithm, MessageType), KmsError> {
    let (spec, usage) = require_usage(key, KeyUsage::SignVerify, operation)?;
    let allowed = spec.signing_algorithms(usage);
    let Some(algorithm) = SigningAlgorithm::parse(algorithm).filter(|a| allowed.contains(a)) else {
        // AWS's wording, as for encryption algorithms.
        return Err(KmsError::new(ErrorCode::InvalidKeyUsage, format!("Algorithm {algorithm} is incompatible with key spec {spec}.")));
    };
    let name = message_type.unwrap_or("RAW");
    let message_type = MessageType::parse(name).ok_or_else(|| KmsError::validation(format!("Unknown MessageType {name}.")))?;
    if !algorithm.message_types().contains(&message_type) {
        return Err(KmsError::validation(format!(
            "MessageType {message_type} is not valid with signing algorithm {algorithm}; use {}.",
            names(algorithm.message_types().iter().map(|m| m.as_str()))
        )));
    }
    match message_type {
        MessageType::Raw => {}
        MessageType::Digest => {
            if Some(message.len()) != algorithm.digest_len() {
                return Err(KmsError::validation(format!("Digest is invalid length for algorithm {algorithm}.")));
            }
        }
        MessageType::ExternalMu => {
            if message.len() != EXTERNAL_MU_LEN {
                return Err(KmsError::validation(format!("An EXTERNAL_MU message must be {EXTERNAL_MU_LEN} bytes long.")));
            }
        }
    }
    Ok((algorithm, message_type))
}
