//! Tamper and mismatch tests for the ciphertext blob.

use std::collections::BTreeMap;

use trent_crypto::ciphertext::{self, decrypt, encrypt, parse_header, HEADER_LEN, OVERHEAD};
use trent_crypto::{random_secret, CryptoError, Header, SecretBytes};
use uuid::Uuid;

fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn setup() -> (SecretBytes, Header) {
    let material = random_secret(32).unwrap();
    let mut material_id = [0u8; 32];
    material_id.copy_from_slice(&trent_crypto::random_bytes(32).unwrap());
    (
        material,
        Header {
            key_id: Uuid::new_v4(),
            material_id,
        },
    )
}

fn assert_rejected(r: Result<SecretBytes, CryptoError>, what: &str) {
    match r {
        Err(CryptoError::Decrypt) | Err(CryptoError::Malformed(_)) => {}
        Err(other) => panic!("{what}: wrong error {other:?}"),
        Ok(_) => panic!("{what}: decrypted"),
    }
}

#[test]
fn round_trip() {
    let (material, header) = setup();
    let c = ctx(&[("purpose", "test"), ("tenant", "acme")]);
    for pt in [&b""[..], b"x", b"hello world", &[0xAAu8; 4096][..]] {
        let blob = encrypt(&material, &header, &c, pt).unwrap();
        assert_eq!(blob.len(), pt.len() + OVERHEAD);
        assert_eq!(parse_header(&blob).unwrap(), header);
        assert_eq!(decrypt(&material, &blob, &c).unwrap().as_bytes(), pt);
    }
}

#[test]
fn round_trip_empty_context() {
    let (material, header) = setup();
    let blob = encrypt(&material, &header, &BTreeMap::new(), b"secret").unwrap();
    assert_eq!(
        decrypt(&material, &blob, &BTreeMap::new())
            .unwrap()
            .as_bytes(),
        b"secret"
    );
}

#[test]
fn same_input_gives_fresh_salt_and_iv() {
    let (material, header) = setup();
    let a = encrypt(&material, &header, &BTreeMap::new(), b"same").unwrap();
    let b = encrypt(&material, &header, &BTreeMap::new(), b"same").unwrap();
    assert_ne!(a[50..HEADER_LEN], b[50..HEADER_LEN]);
    assert_ne!(a, b);
}

#[test]
fn wrong_context_fails() {
    let (material, header) = setup();
    let c = ctx(&[("a", "1")]);
    let blob = encrypt(&material, &header, &c, b"secret").unwrap();
    assert_rejected(
        decrypt(&material, &blob, &ctx(&[("a", "2")])),
        "other value",
    );
    assert_rejected(decrypt(&material, &blob, &ctx(&[("b", "1")])), "other key");
    assert_rejected(
        decrypt(&material, &blob, &ctx(&[("a", "1"), ("b", "2")])),
        "extra entry",
    );
    assert_rejected(
        decrypt(&material, &blob, &BTreeMap::new()),
        "missing context",
    );
    let blob = encrypt(&material, &header, &BTreeMap::new(), b"secret").unwrap();
    assert_rejected(decrypt(&material, &blob, &c), "context not used at encrypt");
}

#[test]
fn context_order_does_not_matter() {
    let (material, header) = setup();
    let mut forward = BTreeMap::new();
    forward.insert("x".to_string(), "1".to_string());
    forward.insert("y".to_string(), "2".to_string());
    let mut backward = BTreeMap::new();
    backward.insert("y".to_string(), "2".to_string());
    backward.insert("x".to_string(), "1".to_string());
    let blob = encrypt(&material, &header, &forward, b"secret").unwrap();
    assert_eq!(
        decrypt(&material, &blob, &backward).unwrap().as_bytes(),
        b"secret"
    );
}

#[test]
fn context_boundaries_matter() {
    let (material, header) = setup();
    let ab_c = ctx(&[("ab", "c")]);
    let a_bc = ctx(&[("a", "bc")]);
    assert_ne!(
        ciphertext::encode_context(&ab_c).unwrap(),
        ciphertext::encode_context(&a_bc).unwrap()
    );
    let blob = encrypt(&material, &header, &ab_c, b"secret").unwrap();
    assert_rejected(decrypt(&material, &blob, &a_bc), "shifted boundary");
    // Entry boundaries too: {"a":"b","c":"d"} vs {"a":"bcd"}-like merges.
    let two = ctx(&[("a", "b"), ("c", "d")]);
    let blob = encrypt(&material, &header, &two, b"secret").unwrap();
    assert_rejected(
        decrypt(&material, &blob, &ctx(&[("a", "bcd")])),
        "merged entries",
    );
}

#[test]
fn flipped_bit_in_each_field_fails() {
    let (material, header) = setup();
    let c = ctx(&[("k", "v")]);
    let blob = encrypt(&material, &header, &c, b"some plaintext").unwrap();
    let fields = [
        ("magic", 0),
        ("version", 1),
        ("key id", 2),
        ("material id", 18),
        ("salt", 50),
        ("iv", 66),
        ("body", HEADER_LEN),
        ("tag", blob.len() - 1),
    ];
    for (name, at) in fields {
        let mut bad = blob.clone();
        bad[at] ^= 0x01;
        assert_rejected(decrypt(&material, &bad, &c), name);
    }
    assert!(matches!(
        decrypt(
            &material,
            &{
                let mut b = blob.clone();
                b[0] ^= 1;
                b
            },
            &c
        ),
        Err(CryptoError::Malformed(_))
    ));
    // Every bit of every byte.
    for i in 0..blob.len() {
        for bit in 0..8 {
            let mut bad = blob.clone();
            bad[i] ^= 1 << bit;
            assert_rejected(decrypt(&material, &bad, &c), &format!("byte {i} bit {bit}"));
        }
    }
    assert_eq!(
        decrypt(&material, &blob, &c).unwrap().as_bytes(),
        b"some plaintext"
    );
}

#[test]
fn truncated_or_extended_blob_fails() {
    let (material, header) = setup();
    let blob = encrypt(&material, &header, &BTreeMap::new(), b"some plaintext").unwrap();
    for len in 0..blob.len() {
        assert_rejected(
            decrypt(&material, &blob[..len], &BTreeMap::new()),
            &format!("len {len}"),
        );
    }
    for len in 0..OVERHEAD {
        assert!(matches!(
            parse_header(&blob[..len]),
            Err(CryptoError::Malformed(_))
        ));
    }
    let mut longer = blob.clone();
    longer.push(0);
    assert_rejected(decrypt(&material, &longer, &BTreeMap::new()), "extended");
}

#[test]
fn unknown_magic_or_version_is_malformed() {
    let (material, header) = setup();
    let blob = encrypt(&material, &header, &BTreeMap::new(), b"x").unwrap();
    let mut v2 = blob.clone();
    v2[1] = 0x02;
    assert!(matches!(parse_header(&v2), Err(CryptoError::Malformed(_))));
    let mut other = blob.clone();
    other[0] = b'X';
    assert!(matches!(
        parse_header(&other),
        Err(CryptoError::Malformed(_))
    ));
}

#[test]
fn different_material_fails() {
    let (material, header) = setup();
    let (other, _) = setup();
    let blob = encrypt(&material, &header, &BTreeMap::new(), b"secret").unwrap();
    assert_eq!(
        decrypt(&other, &blob, &BTreeMap::new()).unwrap_err(),
        CryptoError::Decrypt
    );
}

#[test]
fn header_swapped_between_blobs_fails() {
    // Re-labelling a blob as another key's (same material) still fails: the
    // header is authenticated.
    let (material, header) = setup();
    let blob = encrypt(&material, &header, &BTreeMap::new(), b"secret").unwrap();
    let mut relabelled = blob.clone();
    relabelled[2..18].copy_from_slice(Uuid::new_v4().as_bytes());
    assert_eq!(
        decrypt(&material, &relabelled, &BTreeMap::new()).unwrap_err(),
        CryptoError::Decrypt
    );
}
