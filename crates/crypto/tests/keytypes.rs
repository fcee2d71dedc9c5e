//! Every asymmetric and HMAC key spec: generated, parsed, used, and checked
//! against aws-lc-rs's independent verifiers where one exists.

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use trent_crypto::keytypes::{
    generate_data_key_pair, generate_material, EncryptionAlgorithm, KeySpec, KeyUsage, MessageType,
    PrivateKey, SigningAlgorithm,
};

fn key(spec: KeySpec) -> PrivateKey {
    PrivateKey::parse(spec, &generate_material(spec).unwrap()).unwrap()
}

fn sha(alg: &'static aws_lc_rs::digest::Algorithm, m: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(alg, m).as_ref().to_vec()
}

#[test]
fn every_signing_spec_signs_and_verifies_raw_and_digest() {
    let message = b"trent signs this";
    for spec in [
        KeySpec::Rsa2048,
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
        KeySpec::EccNistEdwards25519,
        KeySpec::MlDsa44,
        KeySpec::MlDsa65,
        KeySpec::MlDsa87,
    ] {
        let k = key(spec);
        assert!(k.public_key_der().unwrap().starts_with(&[0x30]));
        for alg in spec.signing_algorithms(KeyUsage::SignVerify) {
            if *alg == SigningAlgorithm::Ed25519PhSha512 {
                continue;
            }
            let sig = k.sign(*alg, MessageType::Raw, message).unwrap();
            assert!(
                k.verify(*alg, MessageType::Raw, message, &sig).unwrap(),
                "{spec} {alg}"
            );
            assert!(
                !k.verify(*alg, MessageType::Raw, b"another message", &sig)
                    .unwrap(),
                "{spec} {alg}"
            );
            if let Some(len) = alg.digest_len() {
                let digest = match len {
                    32 => sha(&aws_lc_rs::digest::SHA256, message),
                    48 => sha(&aws_lc_rs::digest::SHA384, message),
                    _ => sha(&aws_lc_rs::digest::SHA512, message),
                };
                let dsig = k.sign(*alg, MessageType::Digest, &digest).unwrap();
                // A signature over the digest verifies as a signature over the message.
                assert!(
                    k.verify(*alg, MessageType::Raw, message, &dsig).unwrap(),
                    "{spec} {alg} digest"
                );
                assert!(
                    k.verify(*alg, MessageType::Digest, &digest, &sig).unwrap(),
                    "{spec} {alg} digest"
                );
                assert!(k.sign(*alg, MessageType::Digest, &digest[1..]).is_err());
            }
        }
    }
}

#[test]
fn signatures_verify_outside_the_key_type() {
    let message = b"checked by an independent verifier";
    let cases: [(
        KeySpec,
        SigningAlgorithm,
        &'static dyn signature::VerificationAlgorithm,
    ); 4] = [
        (
            KeySpec::EccNistP256,
            SigningAlgorithm::EcdsaSha256,
            &signature::ECDSA_P256_SHA256_ASN1,
        ),
        (
            KeySpec::Rsa2048,
            SigningAlgorithm::RsassaPssSha384,
            &signature::RSA_PSS_2048_8192_SHA384,
        ),
        (
            KeySpec::EccNistEdwards25519,
            SigningAlgorithm::Ed25519Sha512,
            &signature::ED25519,
        ),
        (
            KeySpec::MlDsa65,
            SigningAlgorithm::MlDsaShake256,
            &signature::ML_DSA_65,
        ),
    ];
    for (spec, alg, verifier) in cases {
        let k = key(spec);
        let sig = k.sign(alg, MessageType::Raw, message).unwrap();
        UnparsedPublicKey::new(verifier, k.public_key_der().unwrap())
            .verify(message, &sig)
            .unwrap_or_else(|_| panic!("{spec}"));
    }
}

#[test]
fn rsa_oaep_round_trips_within_aws_limits() {
    let k = key(KeySpec::Rsa2048);
    assert_eq!(
        k.max_plaintext_len(EncryptionAlgorithm::RsaesOaepSha1),
        Some(214)
    );
    assert_eq!(
        k.max_plaintext_len(EncryptionAlgorithm::RsaesOaepSha256),
        Some(190)
    );
    for alg in [
        EncryptionAlgorithm::RsaesOaepSha1,
        EncryptionAlgorithm::RsaesOaepSha256,
    ] {
        let max = k.max_plaintext_len(alg).unwrap();
        let ct = k.encrypt(alg, &vec![7u8; max]).unwrap();
        assert_eq!(
            k.decrypt(alg, &ct).unwrap().as_bytes(),
            vec![7u8; max].as_slice()
        );
        assert!(k.encrypt(alg, &vec![7u8; max + 1]).is_err());
        let mut bad = ct.clone();
        bad[5] ^= 1;
        assert!(k.decrypt(alg, &bad).is_err());
    }
    let ct = k.encrypt(EncryptionAlgorithm::RsaesOaepSha1, b"x").unwrap();
    assert!(k
        .decrypt(EncryptionAlgorithm::RsaesOaepSha256, &ct)
        .is_err());
}

#[test]
fn hmac_keys_have_the_aws_lengths_and_verify_in_constant_time() {
    for (spec, len) in [
        (KeySpec::Hmac224, 28),
        (KeySpec::Hmac256, 32),
        (KeySpec::Hmac384, 48),
        (KeySpec::Hmac512, 64),
    ] {
        let material = generate_material(spec).unwrap();
        assert_eq!(material.len(), len);
        let k = PrivateKey::parse(spec, &material).unwrap();
        assert!(k.public_key_der().is_none());
        let mac = k.mac(b"m").unwrap();
        assert_eq!(mac.len(), len);
        let expected = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(
                match len {
                    28 => aws_lc_rs::hmac::HMAC_SHA224,
                    32 => aws_lc_rs::hmac::HMAC_SHA256,
                    48 => aws_lc_rs::hmac::HMAC_SHA384,
                    _ => aws_lc_rs::hmac::HMAC_SHA512,
                },
                material.as_bytes(),
            ),
            b"m",
        );
        assert_eq!(mac, expected.as_ref());
        assert!(k.verify_mac(b"m", &mac).unwrap());
        assert!(!k.verify_mac(b"n", &mac).unwrap());
    }
}

#[test]
fn ecdh_agrees_with_a_peer_key() {
    for (spec, alg) in [
        (KeySpec::EccNistP256, &aws_lc_rs::agreement::ECDH_P256),
        (KeySpec::EccNistP384, &aws_lc_rs::agreement::ECDH_P384),
        (KeySpec::EccNistP521, &aws_lc_rs::agreement::ECDH_P521),
    ] {
        use aws_lc_rs::encoding::AsDer;
        let k = key(spec);
        let peer = aws_lc_rs::agreement::PrivateKey::generate(alg).unwrap();
        let peer_der = peer.compute_public_key().unwrap().as_der().unwrap();
        let ours = k.derive_shared_secret(peer_der.as_ref()).unwrap();
        let theirs = aws_lc_rs::agreement::agree(
            &peer,
            aws_lc_rs::agreement::UnparsedPublicKey::new(alg, k.public_key_der().unwrap()),
            (),
            |s| Ok(s.to_vec()),
        )
        .unwrap();
        assert_eq!(ours.as_bytes(), theirs.as_slice());
        assert!(k.derive_shared_secret(b"\x30\x03\x02\x01\x00").is_err());
    }
}

#[test]
fn ml_kem_encapsulates_and_decapsulates() {
    for spec in [KeySpec::MlKem512, KeySpec::MlKem768, KeySpec::MlKem1024] {
        let k = key(spec);
        let (ct, ss) = k.encapsulate().unwrap();
        assert_eq!(k.decapsulate(&ct).unwrap().as_bytes(), ss.as_bytes());
        assert!(k.decapsulate(&ct[1..]).is_err());
        assert!(k.public_key_der().unwrap().starts_with(&[0x30]));
    }
}

#[test]
fn data_key_pairs_are_pkcs8_with_matching_public_keys() {
    for spec in [
        KeySpec::Rsa2048,
        KeySpec::EccNistP256,
        KeySpec::EccSecgP256k1,
        KeySpec::EccNistEdwards25519,
    ] {
        let (private, public) = generate_data_key_pair(spec).unwrap();
        let parsed = PrivateKey::parse(spec, &private).unwrap();
        assert_eq!(
            parsed.public_key_der().unwrap(),
            public.as_slice(),
            "{spec}"
        );
    }
    let (private, public) = generate_data_key_pair(KeySpec::MlKem768).unwrap();
    assert_eq!(private.as_bytes()[0], 0x30);
    assert_eq!(public[0], 0x30);
    assert!(generate_data_key_pair(KeySpec::Hmac256).is_err());
}

#[test]
fn debug_never_shows_key_material() {
    let d = format!("{:?}", key(KeySpec::Hmac256));
    assert_eq!(d, "PrivateKey(HMAC_256, <redacted>)");
}

#[test]
fn the_provider_seals_material_per_spec_and_parses_it_once() {
    use std::sync::Arc;
    use trent_crypto::{KeyProvider, RootKey, SecretBytes, SoftwareProvider};
    let root = Arc::new(RootKey::from_bytes(SecretBytes::new(vec![9u8; 32])).unwrap().into());
    let provider = SoftwareProvider::new(root);
    let id = uuid::Uuid::new_v4();
    let (stored, material_id) = provider.generate_key(id, KeySpec::EccNistP256).unwrap();
    assert_eq!(provider.cached_keys(), 0);
    assert!(provider
        .cached_private_key(id, &material_id, KeySpec::EccNistP256)
        .is_none());
    let a = provider
        .private_key(id, &material_id, KeySpec::EccNistP256, &stored)
        .unwrap();
    let b = provider
        .private_key(id, &material_id, KeySpec::EccNistP256, &stored)
        .unwrap();
    assert!(Arc::ptr_eq(&a, &b), "the second use comes from the cache");
    assert_eq!(provider.cached_keys(), 1);
    let c = provider
        .cached_private_key(id, &material_id, KeySpec::EccNistP256)
        .unwrap();
    assert!(Arc::ptr_eq(&a, &c));
    assert!(provider
        .cached_private_key(id, &material_id, KeySpec::EccNistP384)
        .is_none());
    // The sealed form names its spec, key and material: read as anything else it fails.
    assert!(provider
        .private_key(id, &material_id, KeySpec::EccNistP384, &stored)
        .is_err());
    assert!(provider
        .private_key(
            uuid::Uuid::new_v4(),
            &material_id,
            KeySpec::EccNistP256,
            &stored
        )
        .is_err());
    let mut other = material_id;
    other[0] ^= 1;
    assert!(provider
        .private_key(id, &other, KeySpec::EccNistP256, &stored)
        .is_err());
    provider.forget_key(id);
    assert_eq!(provider.cached_keys(), 0);
}

#[test]
fn ed25519ph_matches_rfc_8032_test_vector() {
    // RFC 8032 section 7.3, "TEST abc".
    let seed = hex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42");
    let expected = hex("98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406");
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
    let pkcs8 =
        aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
    let key = PrivateKey::parse(
        KeySpec::EccNistEdwards25519,
        &trent_crypto::SecretBytes::new(pkcs8.as_ref().to_vec()),
    )
    .unwrap();
    let sig = key
        .sign(
            SigningAlgorithm::Ed25519PhSha512,
            MessageType::Digest,
            b"abc",
        )
        .unwrap();
    assert_eq!(sig, expected);
    assert!(key
        .verify(
            SigningAlgorithm::Ed25519PhSha512,
            MessageType::Digest,
            b"abc",
            &sig
        )
        .unwrap());
    assert!(!key
        .verify(
            SigningAlgorithm::Ed25519PhSha512,
            MessageType::Digest,
            b"abd",
            &sig
        )
        .unwrap());
    assert!(!key
        .verify(
            SigningAlgorithm::Ed25519PhSha512,
            MessageType::Digest,
            b"abc",
            &sig[1..]
        )
        .unwrap());
    // Pure Ed25519 of the same message is a different signature.
    assert_ne!(
        key.sign(SigningAlgorithm::Ed25519Sha512, MessageType::Raw, b"abc")
            .unwrap(),
        expected
    );
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn ml_dsa_signs_and_verifies_an_external_mu() {
    for spec in [KeySpec::MlDsa44, KeySpec::MlDsa65, KeySpec::MlDsa87] {
        let k = key(spec);
        let mu = [0x42u8; 64];
        let sig = k
            .sign(
                SigningAlgorithm::MlDsaShake256,
                MessageType::ExternalMu,
                &mu,
            )
            .unwrap();
        assert!(
            k.verify(
                SigningAlgorithm::MlDsaShake256,
                MessageType::ExternalMu,
                &mu,
                &sig
            )
            .unwrap(),
            "{spec}"
        );
        let mut other = mu;
        other[0] ^= 1;
        assert!(!k
            .verify(
                SigningAlgorithm::MlDsaShake256,
                MessageType::ExternalMu,
                &other,
                &sig
            )
            .unwrap());
        assert!(!k
            .verify(
                SigningAlgorithm::MlDsaShake256,
                MessageType::ExternalMu,
                &mu,
                &sig[1..]
            )
            .unwrap());
        // A signature of a message is not one of a mu, nor the other way round.
        let raw = k
            .sign(SigningAlgorithm::MlDsaShake256, MessageType::Raw, &mu)
            .unwrap();
        assert!(!k
            .verify(
                SigningAlgorithm::MlDsaShake256,
                MessageType::ExternalMu,
                &mu,
                &raw
            )
            .unwrap());
        assert!(!k
            .verify(SigningAlgorithm::MlDsaShake256, MessageType::Raw, &mu, &sig)
            .unwrap());
        assert!(k
            .sign(
                SigningAlgorithm::MlDsaShake256,
                MessageType::ExternalMu,
                &mu[1..]
            )
            .is_err());
    }
}

#[test]
fn sm2_keys_sign_and_encrypt() {
    let k = key(KeySpec::Sm2);
    assert!(k.public_key_der().unwrap().starts_with(&[0x30]));
    let sig = k
        .sign(SigningAlgorithm::Sm2Dsa, MessageType::Raw, b"m")
        .unwrap();
    assert!(k
        .verify(SigningAlgorithm::Sm2Dsa, MessageType::Raw, b"m", &sig)
        .unwrap());
    assert!(!k
        .verify(SigningAlgorithm::Sm2Dsa, MessageType::Raw, b"n", &sig)
        .unwrap());
    let digest = [7u8; 32];
    let dsig = k
        .sign(SigningAlgorithm::Sm2Dsa, MessageType::Digest, &digest)
        .unwrap();
    assert!(k
        .verify(
            SigningAlgorithm::Sm2Dsa,
            MessageType::Digest,
            &digest,
            &dsig
        )
        .unwrap());
    assert!(k
        .sign(SigningAlgorithm::Sm2Dsa, MessageType::Digest, &digest[1..])
        .is_err());
    assert_eq!(k.max_plaintext_len(EncryptionAlgorithm::Sm2Pke), Some(1024));
    let ct = k
        .encrypt(EncryptionAlgorithm::Sm2Pke, &[5u8; 1024])
        .unwrap();
    assert_eq!(
        k.decrypt(EncryptionAlgorithm::Sm2Pke, &ct)
            .unwrap()
            .as_bytes(),
        &[5u8; 1024]
    );
    assert!(k
        .encrypt(EncryptionAlgorithm::Sm2Pke, &[5u8; 1025])
        .is_err());
    assert!(k
        .encrypt(EncryptionAlgorithm::RsaesOaepSha256, b"x")
        .is_err());
    let mut bad = ct.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(k.decrypt(EncryptionAlgorithm::Sm2Pke, &bad).is_err());
    let (private, public) = generate_data_key_pair(KeySpec::Sm2).unwrap();
    assert_eq!(
        PrivateKey::parse(KeySpec::Sm2, &private)
            .unwrap()
            .public_key_der()
            .unwrap(),
        public.as_slice()
    );
}

#[test]
fn sm2_ecdh_agrees_both_ways() {
    let a = key(KeySpec::Sm2);
    let b = key(KeySpec::Sm2);
    let ab = a.derive_shared_secret(b.public_key_der().unwrap()).unwrap();
    let ba = b.derive_shared_secret(a.public_key_der().unwrap()).unwrap();
    assert_eq!(ab.as_bytes(), ba.as_bytes());
    assert_eq!(ab.len(), 32);
    // A P-256 key is not on the SM2 curve.
    assert!(a
        .derive_shared_secret(key(KeySpec::EccNistP256).public_key_der().unwrap())
        .is_err());
}
