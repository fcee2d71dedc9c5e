//! The audit signing key: Ed25519, made on first start, kept in
//! `DATA_DIR/audit/signing.key` sealed under the root key (like every other
//! secret), so a copy of the data directory without `root.key` cannot sign.
//! Its public half is exported as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo),
//! which `openssl` reads too.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use trent_crypto::RootKey;

pub(crate) const AAD: &[u8] = b"trent/audit-signing-key/v1";
/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow.
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", hex::encode(self.public_key()))
    }
}

impl SigningKey {
    /// Loads `path`, or makes a new key there (mode 0600) if there is none.
    pub fn load_or_create(path: &Path, root: &RootKey) -> Result<SigningKey, String> {
        if path.exists() {
            return Self::load(path, root);
        }
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| "generating the audit signing key failed".to_owned())?;
        let sealed = root.seal(pkcs8.as_ref(), AAD).map_err(|e| format!("sealing the audit signing key: {e}"))?;
        let tmp = path.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
            f.write_all(&sealed)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| format!("writing {}: {e}", path.display()))?;
        Self::load(path, root)
    }

    pub fn load(path: &Path, root: &RootKey) -> Result<SigningKey, String> {
        let sealed = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let pkcs8 = root.unseal(&sealed, AAD).map_err(|e| match trent_crypto::root_key::blob_generation(&sealed) {
            Ok(left) if left < root.generation() => left_behind(path, left, root.generation()),
            _ => format!("unsealing {} (is this the data directory's root key?): {e}", path.display()),
        })?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_bytes()).map_err(|_| format!("{} does not hold an Ed25519 key", path.display()))?;
        Ok(SigningKey { pair })
    }

    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

/// The public key as a PEM `PUBLIC KEY` block.
pub fn public_key_pem(public_key: &[u8]) -> String {
    let der = [SPKI_PREFIX.as_slice(), public_key].concat();
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", BASE64.encode(der))
}

/// Reads a PEM `PUBLIC KEY` block written by [`public_key_pem`] (or openssl).
pub fn parse_public_key_pem(text: &str) -> Result<Vec<u8>, String> {
    let body: String = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("-----")).collect();
    if !text.contains("-----BEGIN PUBLIC KEY-----") {
        return Err("not a PEM PUBLIC KEY".into());
    }
    let der = BASE64.decode(body).map_err(|_| "the PEM body is not base64".to_owned())?;
    match der.strip_prefix(SPKI_PREFIX.as_slice()) {
        Some(key) if key.len() == 32 => Ok(key.to_vec()),
        _ => Err("not an Ed25519 public key".into()),
    }
}

/// A node that did not run during a whole root key rotation of a shared
/// store (docs/several-nodes.md): each node reseals its own signing key,
/// and the old root key that opens this one is gone.
fn left_behind(path: &Path, left: u32, now: u32) -> String {
    let audit = path.parent().unwrap_or(path);
    format!(
        "{} is sealed under root key generation {left}, which this deployment no longer holds: this node was not running while another node rotated the root key to generation {now}, so it could not reseal its audit signing key. Nothing in the store is lost. Move {} aside (keep it: `trent audit verify --log FILE --public-key {}` still checks that log) and start the node again: it begins a new audit log with a new signing key",
        path.display(),
        audit.display(),
        audit.join("public-key.pem").display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_sealed_and_its_public_half_round_trips_through_pem() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootKey::from_bytes(trent_crypto::random_secret(32).unwrap()).unwrap();
        let path = dir.path().join("signing.key");
        let key = SigningKey::load_or_create(&path, &root).unwrap();
        let again = SigningKey::load_or_create(&path, &root).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        let pem = public_key_pem(key.public_key());
        assert_eq!(parse_public_key_pem(&pem).unwrap(), key.public_key());
        // Another root key cannot open it, and the file is not the raw key.
        let other = RootKey::from_bytes(trent_crypto::random_secret(32).unwrap()).unwrap();
        assert!(SigningKey::load(&path, &other).is_err());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}

