//! One conformance suite over every symmetric key handle: the software key
//! (material in memory) and the PKCS#11 key (an object in a SoftHSM2
//! token). An operation holding a `SymmetricKey` must not be able to tell
//! them apart: same blob format, same failures.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use trent_crypto::ciphertext::{parse_header, HEADER_LEN, OVERHEAD};
use trent_crypto::{random_secret, CryptoError, Header, SoftwareSymmetricKey, SymmetricKey};
use trent_hsm::{Pkcs11SymmetricKey, Token};
use uuid::Uuid;

/// Makes keys of one kind for the suite.
trait KeyMaker {
    /// A new key (new material) whose blobs name `header`.
    fn key(&self, header: Header) -> Arc<dyn SymmetricKey>;
}

struct Software;

impl KeyMaker for Software {
    fn key(&self, header: Header) -> Arc<dyn SymmetricKey> {
        Arc::new(SoftwareSymmetricKey::new(header, random_secret(32).unwrap()).unwrap())
    }
}

struct Pkcs11 {
    token: Arc<Token>,
    _soft: common::SoftToken,
}

impl Pkcs11 {
    fn new(test: &str) -> Option<Pkcs11> {
        let soft = common::SoftToken::new(test)?;
        Some(Pkcs11 { token: soft.open(4), _soft: soft })
    }
}

impl KeyMaker for Pkcs11 {
    fn key(&self, header: Header) -> Arc<dyn SymmetricKey> {
        let label = format!("arn:aws:kms:eu-west-1:111122223333:key/{}-{}", header.key_id, Uuid::new_v4());
        let key = self.token.generate_aes_key(&label).unwrap();
        Arc::new(Pkcs11SymmetricKey::new(self.token.clone(), key, header))
    }
}

fn header() -> Header {
    let mut material_id = [0u8; 32];
    material_id.copy_from_slice(&trent_crypto::random_bytes(32).unwrap());
    Header { key_id: Uuid::new_v4(), material_id }
}

fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn round_trip(m: &dyn KeyMaker) {
    let h = header();
    let key = m.key(h);
    let c = ctx(&[("app", "trent"), ("purpose", "conformance")]);
    for plaintext in [&b""[..], b"x", b"hello trent", &[0xA5; 4096][..]] {
        let blob = key.encrypt(&c, plaintext).unwrap();
        assert_eq!(blob.len(), OVERHEAD + plaintext.len());
        assert_eq!(parse_header(&blob).unwrap(), h, "the blob names the key and material");
        assert_eq!(key.decrypt(&blob, &c).unwrap().as_bytes(), plaintext);
        // Fresh salt and iv every time.
        let again = key.encrypt(&c, plaintext).unwrap();
        assert_ne!(blob[HEADER_LEN - 28..HEADER_LEN], again[HEADER_LEN - 28..HEADER_LEN]);
    }
    assert_eq!(key.header(), &h);
}

fn context_mismatch_fails(m: &dyn KeyMaker) {
    let key = m.key(header());
    let c = ctx(&[("app", "trent")]);
    let blob = key.encrypt(&c, b"secret").unwrap();
    for other in [BTreeMap::new(), ctx(&[("app", "trenT")]), ctx(&[("app", "trent"), ("x", "")])] {
        assert_eq!(key.decrypt(&blob, &other).unwrap_err(), CryptoError::Decrypt);
    }
    let blob = key.encrypt(&BTreeMap::new(), b"secret").unwrap();
    assert_eq!(key.decrypt(&blob, &c).unwrap_err(), CryptoError::Decrypt);
}

fn tampered_blob_fails(m: &dyn KeyMaker) {
    let key = m.key(header());
    let c = ctx(&[("k", "v")]);
    let blob = key.encrypt(&c, b"sixteen bytes!!!").unwrap();
    for i in 0..blob.len() {
        let mut bad = blob.clone();
        bad[i] ^= 0x01;
        let err = key.decrypt(&bad, &c).unwrap_err();
        // The magic and version bytes make it unparseable; any other byte
        // (ids, salt, iv, ciphertext, tag) fails authentication.
        if i < 2 {
            assert!(matches!(err, CryptoError::Malformed(_)), "byte {i}: {err:?}");
        } else {
            assert_eq!(err, CryptoError::Decrypt, "byte {i}");
        }
    }
    let err = key.decrypt(&blob[..blob.len() - 1], &c).unwrap_err();
    assert_eq!(err, CryptoError::Decrypt, "truncated tag");
    assert!(matches!(key.decrypt(&blob[..OVERHEAD - 1], &c), Err(CryptoError::Malformed(_))));
}

fn wrong_key_fails(m: &dyn KeyMaker) {
    // Same key id and material id, different material: only the crypto
    // can tell.
    let h = header();
    let (a, b) = (m.key(h), m.key(h));
    let blob = a.encrypt(&BTreeMap::new(), b"for a only").unwrap();
    assert_eq!(b.decrypt(&blob, &BTreeMap::new()).unwrap_err(), CryptoError::Decrypt);
    assert_eq!(a.decrypt(&blob, &BTreeMap::new()).unwrap().as_bytes(), b"for a only");
    // A blob naming another key or material is refused before any crypto.
    let c = m.key(header());
    assert_eq!(c.decrypt(&blob, &BTreeMap::new()).unwrap_err(), CryptoError::Decrypt);
}

fn debug_reveals_no_material(m: &dyn KeyMaker) {
    let key = m.key(header());
    let d = format!("{key:?}");
    assert!(d.contains("header"), "{d}");
    assert!(!d.to_lowercase().contains("material: ["), "{d}");
}

/// Runs each check as its own test for every key maker.
macro_rules! suite {
    ($module:ident, $maker:expr) => {
        mod $module {
            use super::*;
            #[test]
            fn round_trip() {
                if let Some(m) = $maker("round-trip") { super::round_trip(&m) }
            }
            #[test]
            fn context_mismatch_fails() {
                if let Some(m) = $maker("context") { super::context_mismatch_fails(&m) }
            }
            #[test]
            fn tampered_blob_fails() {
                if let Some(m) = $maker("tampered") { super::tampered_blob_fails(&m) }
            }
            #[test]
            fn wrong_key_fails() {
                if let Some(m) = $maker("wrong-key") { super::wrong_key_fails(&m) }
            }
            #[test]
            fn debug_reveals_no_material() {
                if let Some(m) = $maker("debug") { super::debug_reveals_no_material(&m) }
            }
        }
    };
}

suite!(software, |_: &str| Some(Software));
suite!(pkcs11, Pkcs11::new);
