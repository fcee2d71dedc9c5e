//! SigV4 credentials KMS signs with (its XksProxyAuthenticationCredential):
//! made here, sealed in DIR/credentials, looked up by access key id.
//!
//! Several may be active at once, so they can be rotated as the spec
//! describes: create a new one, give it to KMS, delete the old one.

use base64::Engine;
use serde::{Deserialize, Serialize};
use trent_crypto::{RootKey, SecretBytes};

use super::store::{self, DataDir};

/// The spec's access key id alphabet: 'A'-'Z' and '2'-'7' (base32), 20 to
/// 30 characters.
const ACCESS_KEY_ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ACCESS_KEY_ID_LEN: usize = 24;
/// 256 bits of entropy, Base64 encoded (the spec's own suggestion): 44
/// characters, within its 43 to 64 of A-Z a-z 0-9 + / =.
const SECRET_BYTES: usize = 32;

/// A credential file: DIR/credentials/<accessKeyId>.json.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CredentialFile {
    pub(super) access_key_id: String,
    created: i64,
    /// base64 of the secret access key sealed under the root key, with
    /// [`secret_aad`] naming the access key id.
    pub(super) secret: String,
}

pub(super) fn secret_aad(access_key_id: &str) -> Vec<u8> {
    format!("trent-xks-credential:{access_key_id}").into_bytes()
}

/// True for a well-formed access key id (it names a file, so check before
/// touching the disk).
pub fn is_access_key_id(id: &str) -> bool {
    (20..=30).contains(&id.len()) && id.bytes().all(|b| ACCESS_KEY_ID_ALPHABET.contains(&b))
}

/// A new credential: returns the access key id and the secret, which is
/// stored only sealed and shown to the operator once.
pub fn create(dir: &DataDir, root_key: &RootKey) -> Result<(String, SecretBytes), String> {
    // 256 is a multiple of 32, so `byte % 32` picks letters without bias.
    let id_bytes = trent_crypto::random_bytes(ACCESS_KEY_ID_LEN).map_err(|e| e.to_string())?;
    let access_key_id: String =
        id_bytes.iter().map(|b| ACCESS_KEY_ID_ALPHABET[usize::from(b % 32)] as char).collect();
    let raw = trent_crypto::random_secret(SECRET_BYTES).map_err(|e| e.to_string())?;
    let secret = SecretBytes::new(base64::engine::general_purpose::STANDARD.encode(raw.as_bytes()).into_bytes());
    let sealed = root_key.seal(secret.as_bytes(), &secret_aad(&access_key_id)).map_err(|e| e.to_string())?;
    let file = CredentialFile {
        access_key_id: access_key_id.clone(),
        created: store::now_unix(),
        secret: base64::engine::general_purpose::STANDARD.encode(sealed),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
    store::write_atomic(&dir.credential_file(&access_key_id), &json, false)?;
    Ok((access_key_id, secret))
}

/// The secret of `access_key_id`, `None` if there is no such credential.
pub fn lookup(dir: &DataDir, root_key: &RootKey, access_key_id: &str) -> Result<Option<SecretBytes>, String> {
    if !is_access_key_id(access_key_id) {
        return Ok(None);
    }
    let Some(bytes) = store::read_optional(&dir.credential_file(access_key_id))? else { return Ok(None) };
    let file: CredentialFile =
        serde_json::from_slice(&bytes).map_err(|e| format!("credential file of {access_key_id} is malformed: {e}"))?;
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(&file.secret)
        .map_err(|_| format!("credential file of {access_key_id} is malformed"))?;
    root_key
        .unseal(&sealed, &secret_aad(access_key_id))
        .map(Some)
        .map_err(|e| format!("cannot unseal credential {access_key_id}: {e}"))
}

/// Deletes a credential; false if there was none.
pub fn delete(dir: &DataDir, access_key_id: &str) -> Result<bool, String> {
    if !is_access_key_id(access_key_id) {
        return Ok(false);
    }
    let path = dir.credential_file(access_key_id);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_credentials_have_the_formats_kms_accepts_and_unseal() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::open(tmp.path()).unwrap();
        let root = dir.root_key().unwrap();
        let (id, secret) = create(&dir, &root).unwrap();
        assert!(is_access_key_id(&id), "{id}");
        let s = std::str::from_utf8(secret.as_bytes()).unwrap();
        assert!((43..=64).contains(&s.len()));
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)));
        assert_eq!(lookup(&dir, &root, &id).unwrap().unwrap().as_bytes(), secret.as_bytes());
        // The file holds no trace of the secret.
        let file = std::fs::read_to_string(dir.credential_file(&id)).unwrap();
        assert!(!file.contains(s));
        assert!(delete(&dir, &id).unwrap());
        assert!(lookup(&dir, &root, &id).unwrap().is_none());
        assert!(lookup(&dir, &root, "../../etc/passwd").unwrap().is_none());
    }
}
