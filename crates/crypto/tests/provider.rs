//! The software key provider end to end.

use std::collections::BTreeMap;

use trent_crypto::ciphertext::parse_header;
use trent_crypto::{
    CryptoError, Header, KeyProvider, RootKey, SecretBytes, SoftwareProvider, StoredMaterial,
};
use uuid::Uuid;

fn provider(byte: u8) -> SoftwareProvider {
    SoftwareProvider::new(std::sync::Arc::new(RootKey::from_bytes(SecretBytes::new(vec![byte; 32])).unwrap().into()))
}

fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn generate_encrypt_decrypt() {
    let p = provider(1);
    assert_eq!(p.name(), "software");
    let key_id = Uuid::new_v4();
    let (stored, material_id) = p.generate_symmetric(key_id).unwrap();
    // Sealed 32-byte material: version + nonce + 32 + tag.
    assert_eq!(stored.0.len(), 1 + 12 + 32 + 16);
    let header = Header {
        key_id,
        material_id,
    };
    let c = ctx(&[("app", "trent")]);
    let blob = p.encrypt(&stored, &header, &c, b"plaintext").unwrap();
    // Decrypt needs only the blob to find the key and material.
    let found = parse_header(&blob).unwrap();
    assert_eq!(found, header);
    assert_eq!(
        p.decrypt(&stored, &found, &blob, &c).unwrap().as_bytes(),
        b"plaintext"
    );
    assert_eq!(
        p.decrypt(&stored, &found, &blob, &BTreeMap::new())
            .unwrap_err(),
        CryptoError::Decrypt
    );
}

#[test]
fn material_ids_and_material_are_fresh() {
    let p = provider(1);
    let key_id = Uuid::new_v4();
    let (s1, m1) = p.generate_symmetric(key_id).unwrap();
    let (s2, m2) = p.generate_symmetric(key_id).unwrap();
    assert_ne!(m1, m2);
    assert_ne!(m1, [0u8; 32]);
    assert_ne!(s1, s2);
}

#[test]
fn blob_for_a_different_key_fails() {
    let p = provider(1);
    let (key_a, key_b) = (Uuid::new_v4(), Uuid::new_v4());
    let (stored_a, mid_a) = p.generate_symmetric(key_a).unwrap();
    let (stored_b, mid_b) = p.generate_symmetric(key_b).unwrap();
    let header_a = Header {
        key_id: key_a,
        material_id: mid_a,
    };
    let header_b = Header {
        key_id: key_b,
        material_id: mid_b,
    };
    let blob = p
        .encrypt(&stored_a, &header_a, &BTreeMap::new(), b"for a")
        .unwrap();
    // Caller passes key B's material and header with key A's blob.
    assert_eq!(
        p.decrypt(&stored_b, &header_b, &blob, &BTreeMap::new())
            .unwrap_err(),
        CryptoError::Decrypt
    );
    // Blob relabelled with key B's header, decrypted with key B's material.
    let mut relabelled = blob.clone();
    relabelled[2..18].copy_from_slice(key_b.as_bytes());
    relabelled[18..50].copy_from_slice(&mid_b);
    assert_eq!(
        p.decrypt(&stored_b, &header_b, &relabelled, &BTreeMap::new())
            .unwrap_err(),
        CryptoError::Decrypt
    );
}

#[test]
fn stored_material_is_bound_to_its_row() {
    let p = provider(1);
    let key_a = Uuid::new_v4();
    let (stored_a, mid_a) = p.generate_symmetric(key_a).unwrap();
    // Key A's sealed material moved to another key id or material id does
    // not unseal: a server fault (Internal), not the caller's ciphertext.
    for header in [
        Header {
            key_id: Uuid::new_v4(),
            material_id: mid_a,
        },
        Header {
            key_id: key_a,
            material_id: [9; 32],
        },
    ] {
        assert!(matches!(
            p.encrypt(&stored_a, &header, &BTreeMap::new(), b"x"),
            Err(CryptoError::Internal(_))
        ));
    }
    // Wrong root key likewise.
    let header = Header {
        key_id: key_a,
        material_id: mid_a,
    };
    assert!(matches!(
        provider(2).encrypt(&stored_a, &header, &BTreeMap::new(), b"x"),
        Err(CryptoError::Internal(_))
    ));
    assert!(matches!(
        p.encrypt(
            &StoredMaterial(vec![1, 2, 3]),
            &header,
            &BTreeMap::new(),
            b"x"
        ),
        Err(CryptoError::Internal(_))
    ));
}

#[test]
fn debug_output_has_no_secrets() {
    let p = provider(0x5A);
    let d = format!("{p:?}");
    assert!(!d.contains("90") && !d.to_lowercase().contains("5a"), "{d}");
    let d = format!("{:?}", StoredMaterial(vec![0xEE; 5]));
    assert_eq!(d, "StoredMaterial(<5 bytes>)");
}

#[test]
fn provider_is_object_safe_and_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SoftwareProvider>();
    let p: std::sync::Arc<dyn KeyProvider> = std::sync::Arc::new(provider(1));
    let (stored, material_id) = p.generate_symmetric(Uuid::nil()).unwrap();
    let header = Header {
        key_id: Uuid::nil(),
        material_id,
    };
    let blob = p.encrypt(&stored, &header, &BTreeMap::new(), b"x").unwrap();
    assert_eq!(
        p.decrypt(&stored, &header, &blob, &BTreeMap::new())
            .unwrap()
            .as_bytes(),
        b"x"
    );
}
