//! Root key file handling and sealing.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use trent_crypto::{random_bytes, CryptoError, RootKey, SecretBytes};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let name: String = random_bytes(8)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let dir = std::env::temp_dir().join(format!("trent-crypto-{}-{name}", std::process::id()));
        fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn mode(p: &std::path::Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn rk_err(r: Result<(RootKey, bool), CryptoError>) -> String {
    match r {
        Err(CryptoError::RootKey(msg)) => msg,
        Err(e) => panic!("wrong error {e:?}"),
        Ok(_) => panic!("root key was accepted"),
    }
}

#[test]
fn created_with_mode_0600_then_loaded() {
    let dir = TempDir::new();
    let path = dir.0.join("root.key");
    let (first, created) = RootKey::load_or_create(&path).unwrap();
    assert!(created);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(fs::metadata(&path).unwrap().len(), 32);

    let sealed = first.seal(b"material", b"aad").unwrap();
    let (second, created) = RootKey::load_or_create(&path).unwrap();
    assert!(!created);
    assert_eq!(
        second.unseal(&sealed, b"aad").unwrap().as_bytes(),
        b"material"
    );
}

#[test]
fn refused_when_group_or_others_can_access() {
    let dir = TempDir::new();
    let path = dir.0.join("root.key");
    RootKey::load_or_create(&path).unwrap();
    let before = fs::read(&path).unwrap();
    for m in [0o644, 0o640, 0o604, 0o620, 0o602] {
        fs::set_permissions(&path, fs::Permissions::from_mode(m)).unwrap();
        let msg = rk_err(RootKey::load_or_create(&path));
        assert!(msg.contains(&format!("{m:04o}")), "{msg}");
    }
    // Refusal leaves the file alone, and 0600/0400 are accepted again.
    assert_eq!(fs::read(&path).unwrap(), before);
    for m in [0o600, 0o400] {
        fs::set_permissions(&path, fs::Permissions::from_mode(m)).unwrap();
        assert!(!RootKey::load_or_create(&path).unwrap().1);
    }
}

#[test]
fn refused_when_wrong_length() {
    let dir = TempDir::new();
    for len in [0usize, 31, 33, 64] {
        let path = dir.0.join(format!("root-{len}.key"));
        fs::write(&path, vec![7u8; len]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let msg = rk_err(RootKey::load_or_create(&path));
        assert!(msg.contains("32 bytes"), "{msg}");
        assert!(!msg.contains("7, 7"), "{msg}");
    }
}

#[test]
fn refused_when_directory_or_missing_parent() {
    let dir = TempDir::new();
    let sub = dir.0.join("sub");
    fs::create_dir(&sub).unwrap();
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o700)).unwrap();
    rk_err(RootKey::load_or_create(&sub));
    rk_err(RootKey::load_or_create(
        &dir.0.join("missing").join("root.key"),
    ));
}

#[test]
fn from_bytes_requires_32_bytes() {
    assert!(RootKey::from_bytes(SecretBytes::new(vec![0; 31])).is_err());
    assert!(RootKey::from_bytes(SecretBytes::new(vec![0; 33])).is_err());
    assert!(RootKey::from_bytes(SecretBytes::new(vec![0; 32])).is_ok());
}

#[test]
fn seal_round_trip_and_wrong_aad_fails() {
    let root = RootKey::from_bytes(SecretBytes::new(vec![0x42; 32])).unwrap();
    let sealed = root.seal(b"key material", b"row-1").unwrap();
    assert_eq!(sealed[0], 0x01);
    assert_eq!(sealed.len(), 1 + 12 + 12 + 16);
    assert_eq!(
        root.unseal(&sealed, b"row-1").unwrap().as_bytes(),
        b"key material"
    );
    assert_eq!(
        root.unseal(&sealed, b"row-2").unwrap_err(),
        CryptoError::Decrypt
    );
    assert_eq!(root.unseal(&sealed, b"").unwrap_err(), CryptoError::Decrypt);
    // Fresh nonce each time.
    assert_ne!(root.seal(b"key material", b"row-1").unwrap(), sealed);
}

#[test]
fn unseal_rejects_tampering_other_key_and_bad_format() {
    let root = RootKey::from_bytes(SecretBytes::new(vec![0x42; 32])).unwrap();
    let other = RootKey::from_bytes(SecretBytes::new(vec![0x43; 32])).unwrap();
    let sealed = root.seal(b"key material", b"aad").unwrap();
    assert_eq!(
        other.unseal(&sealed, b"aad").unwrap_err(),
        CryptoError::Decrypt
    );
    for i in 1..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x80;
        assert_eq!(
            root.unseal(&bad, b"aad").unwrap_err(),
            CryptoError::Decrypt,
            "byte {i}"
        );
    }
    let mut v2 = sealed.clone();
    v2[0] = 0x02;
    assert!(matches!(
        root.unseal(&v2, b"aad"),
        Err(CryptoError::Malformed(_))
    ));
    for len in 0..(1 + 12 + 16) {
        assert!(matches!(
            root.unseal(&sealed[..len], b"aad"),
            Err(CryptoError::Malformed(_))
        ));
    }
}

#[test]
fn debug_is_redacted() {
    let root = RootKey::from_bytes(SecretBytes::new(vec![0x5A; 32])).unwrap();
    let d = format!("{root:?}");
    assert_eq!(d, "RootKey(<redacted>)");
    assert!(!d.contains("90") && !d.to_lowercase().contains("5a"), "{d}");
}
