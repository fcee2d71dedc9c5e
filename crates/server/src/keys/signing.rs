//! What Sign and Verify check before any crypto: the key signs, the
//! algorithm is one of its spec's, the MessageType suits the algorithm and
//! the message has the length that MessageType demands (AWS's rules).

use trent_crypto::keytypes::{KeyUsage, MessageType, SigningAlgorithm, EXTERNAL_MU_LEN};
use trent_store::KeyRecord;

use crate::keys::asymmetric::{names, require_usage};
use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

/// Checks a Sign/Verify request against the key; returns the algorithm and
/// message type to use.
pub fn check(key: &KeyRecord, algorithm: &str, message_type: Option<&str>, message: &[u8], operation: &str) -> Result<(SigningAlgorithm, MessageType), KmsError> {
    let (spec, usage) = require_usage(key, KeyUsage::SignVerify, operation)?;
    let allowed = spec.signing_algorithms(usage);
    let Some(algorithm) = SigningAlgorithm::parse(algorithm).filter(|a| allowed.contains(a)) else {
        return Err(Error::AlgorithmIncompatible { algorithm: algorithm.to_owned(), spec: spec.to_string() }.into());
    };
    let name = message_type.unwrap_or("RAW");
    // The model checked MessageType against its enum; one Trent does not know:
    let message_type = MessageType::parse(name).ok_or_else(|| KmsError::from(Error::TrentUnsupported { what: format!("MessageType {name}") }))?;
    if !algorithm.message_types().contains(&message_type) {
        let allowed = names(algorithm.message_types().iter().map(|m| m.as_str()));
        return Err(Error::MessageTypeNotValid { message_type: message_type.to_string(), algorithm: algorithm.to_string(), allowed }.into());
    }
    match message_type {
        MessageType::Raw => {}
        MessageType::Digest => {
            if Some(message.len()) != algorithm.digest_len() {
                return Err(Error::DigestLength { algorithm: algorithm.to_string() }.into());
            }
        }
        MessageType::ExternalMu => {
            if message.len() != EXTERNAL_MU_LEN {
                return Err(Error::ExternalMuLength { len: EXTERNAL_MU_LEN.to_string() }.into());
            }
        }
    }
    Ok((algorithm, message_type))
}
