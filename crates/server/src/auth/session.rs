//! Temporary credentials from STS AssumeRole. The session token is the
//! session itself, sealed under the root key (AES-256-GCM, the same sealing
//! as every stored secret): it names the role, the session, the expiry and
//! the secret the caller signs with. No node has to store a session, every
//! node can check one, and nobody can make or alter one without the root key.

use serde::{Deserialize, Serialize};
use trent_crypto::{RootKey, SecretBytes};
use trent_store::Millis;
use zeroize::Zeroizing;

use base64::Engine;

use crate::protocol::error::KmsError;

const AAD: &[u8] = b"trent/session-token/v1";

/// What a session token carries. `secret` is the session's secret access key.
#[derive(Serialize, Deserialize)]
pub struct Session {
    pub access_key_id: String,
    pub secret: String,
    pub account_id: String,
    pub role_name: String,
    /// The role's unique id when the session began: a role deleted and made
    /// again under the same name does not revive old sessions.
    pub role_id: String,
    pub session_name: String,
    pub expires_at: Millis,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("access_key_id", &self.access_key_id).field("role_name", &self.role_name).field("session_name", &self.session_name).finish_non_exhaustive()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

impl Session {
    pub fn assumed_role_arn(&self) -> String {
        format!("arn:aws:sts::{}:assumed-role/{}/{}", self.account_id, self.role_name, self.session_name)
    }
    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{}", self.account_id, self.role_name)
    }
}

/// The session token for `session`.
pub fn seal(root: &RootKey, session: &Session) -> Result<String, KmsError> {
    let json = Zeroizing::new(serde_json::to_vec(session).map_err(|e| KmsError::internal(format!("session token: {e}")))?);
    let sealed = root.seal(&json, AAD)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

/// The session in a token, if the token is one this deployment made.
pub fn open(root: &RootKey, token: &str) -> Option<Session> {
    let sealed = base64::engine::general_purpose::STANDARD.decode(token.trim()).ok()?;
    let json: SecretBytes = root.unseal(&sealed, AAD).ok()?;
    serde_json::from_slice(json.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_open_only_under_their_root_key_and_unaltered() {
        let root = RootKey::from_bytes(trent_crypto::random_secret(32).unwrap()).unwrap();
        let other = RootKey::from_bytes(trent_crypto::random_secret(32).unwrap()).unwrap();
        let s = Session {
            access_key_id: "ASIAEXAMPLE".into(),
            secret: "s3cret".into(),
            account_id: "111122223333".into(),
            role_name: "ops".into(),
            role_id: "AROAX".into(),
            session_name: "me".into(),
            expires_at: 42,
        };
        let token = seal(&root, &s).unwrap();
        assert!(!token.contains("s3cret"));
        let opened = open(&root, &token).unwrap();
        assert_eq!(opened.secret, "s3cret");
        assert_eq!(opened.assumed_role_arn(), "arn:aws:sts::111122223333:assumed-role/ops/me");
        assert!(open(&other, &token).is_none());
        let mut bytes = base64::engine::general_purpose::STANDARD.decode(&token).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(open(&root, &base64::engine::general_purpose::STANDARD.encode(bytes)).is_none());
        assert!(open(&root, "not base64!").is_none());
    }
}
