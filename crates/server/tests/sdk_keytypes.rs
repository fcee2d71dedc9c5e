//! Every key type through the official AWS SDK for Rust against the real
//! binary: a table of (KeySpec x KeyUsage) for CreateKey and of (KeySpec x
//! SigningAlgorithm x MessageType) for Sign/Verify, where each cell AWS
//! allows must succeed and each it forbids must fail with AWS's error; and
//! RSA-OAEP, HMAC, ECDH, ML-KEM, data key pairs and ReEncrypt across key
//! types, checked against aws-lc-rs outside the server.

#[macro_use]
mod common;

use aws_lc_rs::encoding::AsDer;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeyPairSpec, EncryptionAlgorithmSpec, KeyAgreementAlgorithmSpec, KeySpec, KeyUsageType, MacAlgorithmSpec, MessageType, SigningAlgorithmSpec,
};
use aws_sdk_kms::Client;
use common::{code, Trent, REGION};

const SPECS: [&str; 20] = [
    "SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
    "ECC_NIST_EDWARDS25519", "SM2", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ML_KEM_512",
    "ML_KEM_768", "ML_KEM_1024",
];
const USAGES: [&str; 5] = ["ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT", "ENCAPSULATE_DECAPSULATE"];
const SIGNING: [&str; 13] = [
    "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512", "ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512", "SM2DSA", "ML_DSA_SHAKE_256", "ED25519_SHA_512",
    "ED25519_PH_SHA_512",
];

/// AWS's table (CreateKey reference): the usages each spec allows.
fn allowed_usages(spec: &str) -> &'static [&'static str] {
    match spec {
        "SYMMETRIC_DEFAULT" => &["ENCRYPT_DECRYPT"],
        "RSA_2048" | "RSA_3072" | "RSA_4096" => &["ENCRYPT_DECRYPT", "SIGN_VERIFY"],
        "ECC_NIST_P256" | "ECC_NIST_P384" | "ECC_NIST_P521" => &["SIGN_VERIFY", "KEY_AGREEMENT"],
        "SM2" => &["ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT"],
        s if s.starts_with("HMAC_") => &["GENERATE_VERIFY_MAC"],
        s if s.starts_with("ML_KEM_") => &["ENCAPSULATE_DECAPSULATE"],
        _ => &["SIGN_VERIFY"],
    }
}

/// AWS's signing algorithms per spec (DescribeKey SigningAlgorithms).
fn signing_algorithms(spec: &str) -> Vec<&'static str> {
    match spec {
        "RSA_2048" | "RSA_3072" | "RSA_4096" => SIGNING[..6].to_vec(),
        "ECC_NIST_P256" | "ECC_SECG_P256K1" => vec!["ECDSA_SHA_256"],
        "ECC_NIST_P384" => vec!["ECDSA_SHA_384"],
        "ECC_NIST_P521" => vec!["ECDSA_SHA_512"],
        "ECC_NIST_EDWARDS25519" => vec!["ED25519_SHA_512", "ED25519_PH_SHA_512"],
        "SM2" => vec!["SM2DSA"],
        s if s.starts_with("ML_DSA_") => vec!["ML_DSA_SHAKE_256"],
        _ => vec![],
    }
}

/// AWS's `CustomerMasterKeySpec`: the deprecated mirror of `KeySpec`, for
/// the specs its enum has (every spec but those added after it was
/// deprecated: Ed25519, ML-DSA and ML-KEM).
fn expected_deprecated_spec(spec: &str) -> Option<&str> {
    let later = spec == "ECC_NIST_EDWARDS25519" || spec.starts_with("ML_DSA_") || spec.starts_with("ML_KEM_");
    (!later).then_some(spec)
}

#[allow(deprecated)]
fn deprecated_spec(meta: &aws_sdk_kms::types::KeyMetadata) -> Option<&str> {
    meta.customer_master_key_spec().map(|s| s.as_str())
}

async fn create(client: &Client, spec: &str, usage: &str) -> Result<aws_sdk_kms::types::KeyMetadata, String> {
    client
        .create_key()
        .key_spec(KeySpec::from(spec))
        .key_usage(KeyUsageType::from(usage))
        .send()
        .await
        .map(|out| out.key_metadata.expect("KeyMetadata"))
        .map_err(|e| code(&e))
}

fn strs<T: AsRef<str>>(items: &[T]) -> Vec<String> {
    items.iter().map(|i| i.as_ref().to_owned()).collect()
}

fn sha(alg: &'static aws_lc_rs::digest::Algorithm, m: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(alg, m).as_ref().to_vec()
}

#[tokio::test]
async fn create_key_accepts_exactly_the_spec_and_usage_pairs_aws_allows() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let mut cells = 0;
    for spec in SPECS {
        for usage in USAGES {
            let allowed = allowed_usages(spec).contains(&usage);
            let result = create(&client, spec, usage).await;
            cells += 1;
            match (allowed, spec, result) {
                (false, _, Err(code)) => assert_eq!(code, "ValidationException", "{spec} x {usage}"),
                (true, _, Ok(meta)) => {
                    assert_eq!(meta.key_spec().map(|s| s.as_str()), Some(spec));
                    assert_eq!(meta.key_usage().map(|s| s.as_str()), Some(usage));
                    let described = client.describe_key().key_id(meta.key_id()).send().await.unwrap().key_metadata.unwrap();
                    for m in [&meta, &described] {
                        assert_eq!(deprecated_spec(m), expected_deprecated_spec(spec), "{spec} x {usage} CustomerMasterKeySpec");
                        // AWS shows the current material only of symmetric encryption keys.
                        let material = m.current_key_material_id();
                        assert_eq!(material.is_some(), spec == "SYMMETRIC_DEFAULT", "{spec} x {usage} CurrentKeyMaterialId {material:?}");
                    }
                    let signing = strs(described.signing_algorithms());
                    let encryption = strs(described.encryption_algorithms());
                    let mac = strs(described.mac_algorithms());
                    let agreement = strs(described.key_agreement_algorithms());
                    let expect_signing = if usage == "SIGN_VERIFY" { signing_algorithms(spec) } else { vec![] };
                    assert_eq!(signing, expect_signing, "{spec} x {usage}");
                    let expect_encryption: Vec<&str> = match (spec, usage) {
                        ("SYMMETRIC_DEFAULT", _) => vec!["SYMMETRIC_DEFAULT"],
                        ("SM2", "ENCRYPT_DECRYPT") => vec!["SM2PKE"],
                        (_, "ENCRYPT_DECRYPT") => vec!["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"],
                        _ => vec![],
                    };
                    assert_eq!(encryption, expect_encryption, "{spec} x {usage}");
                    let expect_mac: Vec<String> = spec.strip_prefix("HMAC_").map(|bits| format!("HMAC_SHA_{bits}")).into_iter().collect();
                    assert_eq!(mac, expect_mac, "{spec} x {usage}");
                    assert_eq!(agreement, if usage == "KEY_AGREEMENT" { vec!["ECDH".to_owned()] } else { vec![] }, "{spec} x {usage}");
                    // The KEM field (not in the SDK version we test with) is checked by the Python suite.
                    // GetPublicKey works exactly for asymmetric keys.
                    let public = client.get_public_key().key_id(meta.key_id()).send().await;
                    if spec == "SYMMETRIC_DEFAULT" || spec.starts_with("HMAC_") {
                        assert_eq!(code(&public.unwrap_err()), "UnsupportedOperationException", "{spec}");
                    } else {
                        let public = public.unwrap_or_else(|e| panic!("GetPublicKey {spec}: {e:?}"));
                        assert_eq!(public.key_spec().map(|s| s.as_str()), Some(spec));
                        #[allow(deprecated)]
                        let public_deprecated = public.customer_master_key_spec().map(|s| s.as_str());
                        assert_eq!(public_deprecated, expected_deprecated_spec(spec), "{spec} x {usage} GetPublicKey CustomerMasterKeySpec");
                        assert_eq!(public.key_usage().map(|s| s.as_str()), Some(usage));
                        assert_eq!(strs(public.signing_algorithms()), expect_signing);
                        assert_eq!(strs(public.encryption_algorithms()), expect_encryption);
                        assert_eq!(public.public_key().unwrap().as_ref()[0], 0x30, "DER SubjectPublicKeyInfo");
                    }
                }
                (allowed, _, other) => panic!("{spec} x {usage}: allowed={allowed}, got {other:?}"),
            }
        }
    }
    assert_eq!(cells, 100);
    // KeySpec without KeyUsage: AWS requires KeyUsage for every key but a symmetric encryption key.
    let err = client.create_key().key_spec(KeySpec::EccNistP256).send().await.unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    assert_eq!(err.into_service_error().meta().message(), Some("You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."));
}

/// The message a Sign/Verify cell sends for a message type and algorithm.
fn message_for(message_type: &str, algorithm: &str) -> Vec<u8> {
    let raw = b"Trent signs what AWS KMS signs".to_vec();
    match message_type {
        "RAW" => raw,
        "EXTERNAL_MU" => vec![0x5a; 64],
        _ if algorithm.ends_with("SHA_384") => sha(&aws_lc_rs::digest::SHA384, &raw),
        _ if algorithm.ends_with("SHA_512") => sha(&aws_lc_rs::digest::SHA512, &raw),
        _ => sha(&aws_lc_rs::digest::SHA256, &raw),
    }
}

/// What AWS answers a (spec, algorithm, message type) cell with: `None`
/// for success, or the exception.
fn expected_sign_outcome(spec: &str, algorithm: &str, message_type: &str) -> Option<&'static str> {
    if !signing_algorithms(spec).contains(&algorithm) {
        return Some("InvalidKeyUsageException");
    }
    let allowed_types: &[&str] = match algorithm {
        "ED25519_SHA_512" => &["RAW"],
        "ED25519_PH_SHA_512" => &["DIGEST"],
        "ML_DSA_SHAKE_256" => &["RAW", "EXTERNAL_MU"],
        _ => &["RAW", "DIGEST"],
    };
    if !allowed_types.contains(&message_type) {
        return Some("ValidationException");
    }
    None
}

#[tokio::test]
async fn sign_and_verify_every_spec_algorithm_and_message_type_cell() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let specs = ["RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87"];
    let (mut ok, mut refused) = (0, 0);
    for spec in specs {
        let key = create(&client, spec, "SIGN_VERIFY").await.unwrap();
        let key_id = key.key_id();
        let public = client.get_public_key().key_id(key_id).send().await.unwrap().public_key.unwrap().into_inner();
        for algorithm in SIGNING {
            for message_type in ["RAW", "DIGEST", "EXTERNAL_MU"] {
                let message = message_for(message_type, algorithm);
                let cell = format!("{spec} x {algorithm} x {message_type}");
                let signed = client
                    .sign()
                    .key_id(key_id)
                    .message(Blob::new(message.clone()))
                    .message_type(MessageType::from(message_type))
                    .signing_algorithm(SigningAlgorithmSpec::from(algorithm))
                    .send()
                    .await;
                let verified = client
                    .verify()
                    .key_id(key_id)
                    .message(Blob::new(message.clone()))
                    .message_type(MessageType::from(message_type))
                    .signature(Blob::new(vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]))
                    .signing_algorithm(SigningAlgorithmSpec::from(algorithm))
                    .send()
                    .await;
                match expected_sign_outcome(spec, algorithm, message_type) {
                    Some(exception) => {
                        assert_eq!(code(&signed.unwrap_err()), exception, "Sign {cell}");
                        assert_eq!(code(&verified.unwrap_err()), exception, "Verify {cell}");
                        refused += 1;
                    }
                    None => {
                        let out = signed.unwrap_or_else(|e| panic!("Sign {cell}: {e:?}"));
                        assert_eq!(out.signing_algorithm().map(|a| a.as_str()), Some(algorithm));
                        assert_eq!(out.key_id(), Some(key.arn().unwrap()));
                        let signature = out.signature.unwrap().into_inner();
                        assert_eq!(code(&verified.unwrap_err()), "KMSInvalidSignatureException", "Verify garbage {cell}");
                        let valid = client
                            .verify()
                            .key_id(key_id)
                            .message(Blob::new(message.clone()))
                            .message_type(MessageType::from(message_type))
                            .signature(Blob::new(signature.clone()))
                            .signing_algorithm(SigningAlgorithmSpec::from(algorithm))
                            .send()
                            .await
                            .unwrap_or_else(|e| panic!("Verify {cell}: {e:?}"));
                        assert!(valid.signature_valid);
                        let mut tampered = message.clone();
                        tampered[0] ^= 1;
                        let bad = client
                            .verify()
                            .key_id(key_id)
                            .message(Blob::new(tampered))
                            .message_type(MessageType::from(message_type))
                            .signature(Blob::new(signature.clone()))
                            .signing_algorithm(SigningAlgorithmSpec::from(algorithm))
                            .send()
                            .await;
                        assert_eq!(code(&bad.unwrap_err()), "KMSInvalidSignatureException", "tampered {cell}");
                        // Outside Trent: the public key from GetPublicKey verifies the signature of the message.
                        if !matches!(algorithm, "ED25519_PH_SHA_512" | "SM2DSA") && message_type != "EXTERNAL_MU" {
                            // aws-lc-rs has no Ed25519ph (the crypto crate checks it against RFC 8032's
                            // vector), no SM2 and no external mu (the Python suite checks those with OpenSSL).
                            verify_outside(spec, algorithm, &public, b"Trent signs what AWS KMS signs", &signature);
                        }
                        if message_type == "DIGEST" {
                            let short = client
                                .sign()
                                .key_id(key_id)
                                .message(Blob::new(message[1..].to_vec()))
                                .message_type(MessageType::Digest)
                                .signing_algorithm(SigningAlgorithmSpec::from(algorithm))
                                .send()
                                .await;
                            assert_eq!(code(&short.unwrap_err()), "ValidationException", "short digest {cell}");
                        }
                        ok += 1;
                    }
                }
            }
        }
    }
    assert_eq!(ok + refused, specs.len() * SIGNING.len() * 3);
    assert_eq!(ok, 6 * 2 + 4 * 2 + 2 + 2 + 3 * 2, "allowed cells that succeed");
}

fn verify_outside(spec: &str, algorithm: &str, public: &[u8], message: &[u8], signature: &[u8]) {
    use aws_lc_rs::signature as sig;
    let alg: &'static dyn sig::VerificationAlgorithm = match (spec, algorithm) {
        (_, "RSASSA_PSS_SHA_256") => &sig::RSA_PSS_2048_8192_SHA256,
        (_, "RSASSA_PSS_SHA_384") => &sig::RSA_PSS_2048_8192_SHA384,
        (_, "RSASSA_PSS_SHA_512") => &sig::RSA_PSS_2048_8192_SHA512,
        (_, "RSASSA_PKCS1_V1_5_SHA_256") => &sig::RSA_PKCS1_2048_8192_SHA256,
        (_, "RSASSA_PKCS1_V1_5_SHA_384") => &sig::RSA_PKCS1_2048_8192_SHA384,
        (_, "RSASSA_PKCS1_V1_5_SHA_512") => &sig::RSA_PKCS1_2048_8192_SHA512,
        ("ECC_NIST_P256", _) => &sig::ECDSA_P256_SHA256_ASN1,
        ("ECC_SECG_P256K1", _) => &sig::ECDSA_P256K1_SHA256_ASN1,
        ("ECC_NIST_P384", _) => &sig::ECDSA_P384_SHA384_ASN1,
        ("ECC_NIST_P521", _) => &sig::ECDSA_P521_SHA512_ASN1,
        ("ECC_NIST_EDWARDS25519", _) => &sig::ED25519,
        ("ML_DSA_44", _) => &sig::ML_DSA_44,
        ("ML_DSA_65", _) => &sig::ML_DSA_65,
        ("ML_DSA_87", _) => &sig::ML_DSA_87,
        other => panic!("no outside verifier for {other:?}"),
    };
    sig::ParsedPublicKey::new(alg, public)
        .unwrap_or_else(|e| panic!("{spec}: GetPublicKey is not a key aws-lc-rs reads: {e:?}"))
        .verify_sig(message, signature)
        .unwrap_or_else(|_| panic!("{spec} {algorithm}: Trent's signature does not verify outside Trent"));
}

#[tokio::test]
async fn signing_needs_a_sign_verify_key() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    for (spec, usage) in [("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"), ("RSA_2048", "ENCRYPT_DECRYPT"), ("ECC_NIST_P256", "KEY_AGREEMENT"), ("HMAC_256", "GENERATE_VERIFY_MAC")] {
        let key = create(&client, spec, usage).await.unwrap();
        let err = client.sign().key_id(key.key_id()).message(Blob::new(b"m".to_vec())).signing_algorithm(SigningAlgorithmSpec::EcdsaSha256).send().await.unwrap_err();
        assert_eq!(code(&err), "InvalidKeyUsageException", "{spec} {usage}");
    }
    // A disabled key signs nothing.
    let key = create(&client, "ECC_NIST_P256", "SIGN_VERIFY").await.unwrap();
    client.disable_key().key_id(key.key_id()).send().await.unwrap();
    assert_err!(client.sign().key_id(key.key_id()).message(Blob::new(b"m".to_vec())).signing_algorithm(SigningAlgorithmSpec::EcdsaSha256).send().await, is_disabled_exception);
}

#[tokio::test]
async fn rsa_oaep_encrypts_within_aws_limits_and_re_encrypts_across_key_types() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let symmetric = create(&client, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await.unwrap();
    for (spec, sha1_max, sha256_max) in [("RSA_2048", 214, 190), ("RSA_3072", 342, 318)] {
        let key = create(&client, spec, "ENCRYPT_DECRYPT").await.unwrap();
        let public = client.get_public_key().key_id(key.key_id()).send().await.unwrap().public_key.unwrap().into_inner();
        for (algorithm, max) in [("RSAES_OAEP_SHA_1", sha1_max), ("RSAES_OAEP_SHA_256", sha256_max)] {
            let alg = EncryptionAlgorithmSpec::from(algorithm);
            let plaintext = vec![0xA5; max];
            let out = client.encrypt().key_id(key.key_id()).plaintext(Blob::new(plaintext.clone())).encryption_algorithm(alg.clone()).send().await.unwrap();
            assert_eq!(out.encryption_algorithm(), Some(&alg));
            let ciphertext = out.ciphertext_blob.unwrap();
            let back = client.decrypt().key_id(key.key_id()).ciphertext_blob(ciphertext.clone()).encryption_algorithm(alg.clone()).send().await.unwrap();
            assert_eq!(back.key_material_id(), None, "KeyMaterialId is for symmetric keys only");
            assert_eq!(back.plaintext.unwrap().into_inner(), plaintext);
            let too_long = client.encrypt().key_id(key.key_id()).plaintext(Blob::new(vec![0; max + 1])).encryption_algorithm(alg.clone()).send().await;
            assert_eq!(code(&too_long.unwrap_err()), "ValidationException", "{spec} {algorithm} {}", max + 1);
            // The other OAEP hash does not decrypt it; neither does Decrypt without the KeyId.
            let other = EncryptionAlgorithmSpec::from(if algorithm == "RSAES_OAEP_SHA_1" { "RSAES_OAEP_SHA_256" } else { "RSAES_OAEP_SHA_1" });
            let wrong = client.decrypt().key_id(key.key_id()).ciphertext_blob(ciphertext.clone()).encryption_algorithm(other).send().await;
            assert_eq!(code(&wrong.unwrap_err()), "InvalidCiphertextException");
            let no_key = client.decrypt().ciphertext_blob(ciphertext.clone()).encryption_algorithm(alg.clone()).send().await;
            assert_eq!(code(&no_key.unwrap_err()), "InvalidCiphertextException");
        }
        // Encrypted outside Trent with the public key, decrypted inside.
        let outside = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(aws_lc_rs::rsa::PublicEncryptingKey::from_der(&public).unwrap()).unwrap();
        let mut ct = vec![0; outside.ciphertext_size()];
        let ct = outside.encrypt(&aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256, b"from outside", &mut ct, None).unwrap().to_vec();
        let back = client.decrypt().key_id(key.key_id()).ciphertext_blob(Blob::new(ct)).encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256).send().await.unwrap();
        assert_eq!(back.plaintext.unwrap().into_inner(), b"from outside");
        // Algorithms that are not the key's.
        for algorithm in [None, Some(EncryptionAlgorithmSpec::SymmetricDefault), Some(EncryptionAlgorithmSpec::Sm2Pke)] {
            let err = client.encrypt().key_id(key.key_id()).plaintext(Blob::new(b"x".to_vec())).set_encryption_algorithm(algorithm.clone()).send().await.unwrap_err();
            assert_eq!(code(&err), "InvalidKeyUsageException", "{algorithm:?}");
        }
        // GenerateDataKey needs a symmetric key.
        let err = client.generate_data_key().key_id(key.key_id()).number_of_bytes(32).send().await.unwrap_err();
        assert_eq!(code(&err), "InvalidKeyUsageException");

        // ReEncrypt symmetric -> RSA -> RSA -> symmetric.
        let sym_ct = client.encrypt().key_id(symmetric.key_id()).plaintext(Blob::new(b"travels".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();
        let to_rsa = client
            .re_encrypt()
            .ciphertext_blob(sym_ct)
            .destination_key_id(key.key_id())
            .destination_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await
            .unwrap();
        assert_eq!(to_rsa.destination_encryption_algorithm(), Some(&EncryptionAlgorithmSpec::RsaesOaepSha256));
        assert_eq!(to_rsa.source_encryption_algorithm(), Some(&EncryptionAlgorithmSpec::SymmetricDefault));
        assert!(to_rsa.source_key_material_id().is_some() && to_rsa.destination_key_material_id().is_none());
        let rsa_to_rsa = client
            .re_encrypt()
            .ciphertext_blob(to_rsa.ciphertext_blob.unwrap())
            .source_key_id(key.key_id())
            .source_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .destination_key_id(key.key_id())
            .destination_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
            .send()
            .await
            .unwrap();
        let back = client
            .re_encrypt()
            .ciphertext_blob(rsa_to_rsa.ciphertext_blob.unwrap())
            .source_key_id(key.key_id())
            .source_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
            .destination_key_id(symmetric.key_id())
            .send()
            .await
            .unwrap();
        assert_eq!(back.source_key_id(), key.arn());
        assert!(back.source_key_material_id().is_none() && back.destination_key_material_id().is_some());
        let plain = client.decrypt().ciphertext_blob(back.ciphertext_blob.unwrap()).send().await.unwrap();
        assert_eq!(plain.plaintext.unwrap().into_inner(), b"travels");
    }
}

#[tokio::test]
async fn hmac_keys_generate_and_verify_macs() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let algorithms = ["HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512"];
    for (spec, own, len) in [("HMAC_224", "HMAC_SHA_224", 28), ("HMAC_256", "HMAC_SHA_256", 32), ("HMAC_384", "HMAC_SHA_384", 48), ("HMAC_512", "HMAC_SHA_512", 64)] {
        let key = create(&client, spec, "GENERATE_VERIFY_MAC").await.unwrap();
        for algorithm in algorithms {
            let out = client.generate_mac().key_id(key.key_id()).message(Blob::new(b"mac me".to_vec())).mac_algorithm(MacAlgorithmSpec::from(algorithm)).send().await;
            if algorithm != own {
                assert_eq!(code(&out.unwrap_err()), "InvalidKeyUsageException", "{spec} x {algorithm}");
                continue;
            }
            let mac = out.unwrap().mac.unwrap().into_inner();
            assert_eq!(mac.len(), len);
            let again = client.generate_mac().key_id(key.key_id()).message(Blob::new(b"mac me".to_vec())).mac_algorithm(MacAlgorithmSpec::from(algorithm)).send().await.unwrap();
            assert_eq!(again.mac.unwrap().into_inner(), mac, "HMAC is deterministic");
            let ok = client.verify_mac().key_id(key.key_id()).message(Blob::new(b"mac me".to_vec())).mac(Blob::new(mac.clone())).mac_algorithm(MacAlgorithmSpec::from(algorithm)).send().await.unwrap();
            assert!(ok.mac_valid);
            let mut bad = mac.clone();
            bad[0] ^= 1;
            let err = client.verify_mac().key_id(key.key_id()).message(Blob::new(b"mac me".to_vec())).mac(Blob::new(bad)).mac_algorithm(MacAlgorithmSpec::from(algorithm)).send().await.unwrap_err();
            assert_eq!(code(&err), "KMSInvalidMacException");
        }
    }
    let symmetric = create(&client, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await.unwrap();
    let err = client.generate_mac().key_id(symmetric.key_id()).message(Blob::new(b"m".to_vec())).mac_algorithm(MacAlgorithmSpec::HmacSha256).send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidKeyUsageException");
}

#[tokio::test]
async fn derive_shared_secret_equals_ecdh_computed_outside() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    use aws_lc_rs::agreement;
    for (spec, alg) in [("ECC_NIST_P256", &agreement::ECDH_P256), ("ECC_NIST_P384", &agreement::ECDH_P384), ("ECC_NIST_P521", &agreement::ECDH_P521)] {
        let key = create(&client, spec, "KEY_AGREEMENT").await.unwrap();
        let public = client.get_public_key().key_id(key.key_id()).send().await.unwrap();
        assert_eq!(strs(public.key_agreement_algorithms()), vec!["ECDH"]);
        let public = public.public_key.unwrap().into_inner();
        let peer = agreement::PrivateKey::generate(alg).unwrap();
        let peer_public = peer.compute_public_key().unwrap().as_der().unwrap();
        let out = client
            .derive_shared_secret()
            .key_id(key.key_id())
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(Blob::new(peer_public.as_ref().to_vec()))
            .send()
            .await
            .unwrap();
        let outside = agreement::agree(&peer, agreement::UnparsedPublicKey::new(alg, &public), (), |s| Ok(s.to_vec())).unwrap();
        assert_eq!(out.shared_secret.unwrap().into_inner(), outside, "{spec}");
        // A peer key on another curve is refused.
        let other = agreement::PrivateKey::generate(if spec == "ECC_NIST_P256" { &agreement::ECDH_P384 } else { &agreement::ECDH_P256 }).unwrap();
        let other_public = other.compute_public_key().unwrap().as_der().unwrap();
        let err = client
            .derive_shared_secret()
            .key_id(key.key_id())
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(Blob::new(other_public.as_ref().to_vec()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ValidationException", "{spec}");
    }
    let signing = create(&client, "ECC_NIST_P256", "SIGN_VERIFY").await.unwrap();
    let err = client.derive_shared_secret().key_id(signing.key_id()).key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh).public_key(Blob::new(vec![0x30])).send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidKeyUsageException");
}

#[tokio::test]
async fn data_key_pairs_are_pkcs8_whose_public_half_is_returned() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let key = create(&client, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await.unwrap();
    for spec in ["RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "ML_KEM_768"] {
        let out = client
            .generate_data_key_pair()
            .key_id(key.key_id())
            .key_pair_spec(DataKeyPairSpec::from(spec))
            .encryption_context("purpose", "pair")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{spec}: {e:?}"));
        assert_eq!(out.key_pair_spec().map(|s| s.as_str()), Some(spec));
        let private = out.private_key_plaintext.unwrap().into_inner();
        let public = out.public_key.unwrap().into_inner();
        // The wrapped private key decrypts (with the context) to the plaintext one.
        let unwrapped = client.decrypt().ciphertext_blob(out.private_key_ciphertext_blob.unwrap()).encryption_context("purpose", "pair").send().await.unwrap();
        assert_eq!(unwrapped.plaintext.unwrap().into_inner(), private);
        // Outside Trent: the private key's public half is the public key returned.
        use aws_lc_rs::signature::KeyPair;
        let derived: Vec<u8> = match spec {
            "RSA_2048" => aws_lc_rs::rsa::KeyPair::from_pkcs8(&private).unwrap().public_key().as_der().unwrap().as_ref().to_vec(),
            "ECC_NIST_EDWARDS25519" => aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&private).unwrap().public_key().as_der().unwrap().as_ref().to_vec(),
            "ML_KEM_768" => {
                assert_eq!(private[0], 0x30);
                public.clone()
            }
            _ => {
                let alg = match spec {
                    "ECC_NIST_P256" => &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    "ECC_NIST_P384" => &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                    "ECC_NIST_P521" => &aws_lc_rs::signature::ECDSA_P521_SHA512_ASN1_SIGNING,
                    _ => &aws_lc_rs::signature::ECDSA_P256K1_SHA256_ASN1_SIGNING,
                };
                aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(alg, &private).unwrap().public_key().as_der().unwrap().as_ref().to_vec()
            }
        };
        assert_eq!(derived, public, "{spec}");
        let without = client.generate_data_key_pair_without_plaintext().key_id(key.key_id()).key_pair_spec(DataKeyPairSpec::from(spec)).send().await.unwrap();
        assert!(without.private_key_ciphertext_blob.is_some());
        assert_eq!(without.public_key.unwrap().as_ref()[0], 0x30);
    }
    // SM2 (its public half is checked against OpenSSL in the Python suite).
    let sm2 = client.generate_data_key_pair().key_id(key.key_id()).key_pair_spec(DataKeyPairSpec::Sm2).send().await.unwrap();
    assert_eq!(sm2.public_key.unwrap().as_ref()[0], 0x30);
    let unwrapped = client.decrypt().ciphertext_blob(sm2.private_key_ciphertext_blob.unwrap()).send().await.unwrap();
    assert_eq!(unwrapped.plaintext.unwrap(), sm2.private_key_plaintext.unwrap());
    let rsa = create(&client, "RSA_2048", "ENCRYPT_DECRYPT").await.unwrap();
    let err = client.generate_data_key_pair().key_id(rsa.key_id()).key_pair_spec(DataKeyPairSpec::EccNistP256).send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidKeyUsageException");
}

#[tokio::test]
async fn keys_survive_a_restart_and_sign_the_same() {
    let mut trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let key = create(&client, "ECC_NIST_P256", "SIGN_VERIFY").await.unwrap();
    let public = client.get_public_key().key_id(key.key_id()).send().await.unwrap().public_key.unwrap().into_inner();
    trent.restart(&[]);
    let client = trent.client(REGION);
    let again = client.get_public_key().key_id(key.key_id()).send().await.unwrap().public_key.unwrap().into_inner();
    assert_eq!(public, again, "the key material persisted");
    let sig = client.sign().key_id(key.key_id()).message(Blob::new(b"after restart".to_vec())).signing_algorithm(SigningAlgorithmSpec::EcdsaSha256).send().await.unwrap();
    verify_outside("ECC_NIST_P256", "ECDSA_SHA_256", &public, b"after restart", sig.signature.unwrap().as_ref());
}

#[tokio::test]
async fn ml_kem_keys_encapsulate_and_decapsulate_with_outside_parties() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    use aws_lc_rs::kem;
    for (spec, alg, public_len) in [("ML_KEM_512", &kem::ML_KEM_512, 800), ("ML_KEM_768", &kem::ML_KEM_768, 1184), ("ML_KEM_1024", &kem::ML_KEM_1024, 1568)] {
        let key = create(&client, spec, "ENCAPSULATE_DECAPSULATE").await.unwrap();
        let out = client.encapsulate().key_id(key.key_id()).encapsulation_algorithm("ML_KEM".into()).send().await.unwrap();
        let secret = out.shared_secret.unwrap().into_inner();
        assert_eq!(secret.len(), 32);
        let back = client.decapsulate().key_id(key.key_id()).encapsulation_algorithm("ML_KEM".into()).shared_secret_ciphertext_blob(out.shared_secret_ciphertext_blob.unwrap()).send().await.unwrap();
        assert_eq!(back.shared_secret.unwrap().into_inner(), secret, "{spec}");
        // Outside Trent: encapsulate to the public key from GetPublicKey; Trent decapsulates the same secret.
        let public = client.get_public_key().key_id(key.key_id()).send().await.unwrap().public_key.unwrap().into_inner();
        let raw = &public[public.len() - public_len..];
        let (ciphertext, outside) = kem::EncapsulationKey::new(alg, raw).unwrap().encapsulate().unwrap();
        let back = client.decapsulate().key_id(key.key_id()).encapsulation_algorithm("ML_KEM".into()).shared_secret_ciphertext_blob(Blob::new(ciphertext.as_ref().to_vec())).send().await.unwrap();
        assert_eq!(back.shared_secret.unwrap().into_inner(), outside.as_ref(), "{spec}");
        let err = client.decapsulate().key_id(key.key_id()).encapsulation_algorithm("ML_KEM".into()).shared_secret_ciphertext_blob(Blob::new(vec![1; 10])).send().await.unwrap_err();
        assert_eq!(code(&err), "InvalidCiphertextException");
    }
    let signing = create(&client, "ML_DSA_44", "SIGN_VERIFY").await.unwrap();
    let err = client.encapsulate().key_id(signing.key_id()).encapsulation_algorithm("ML_KEM".into()).send().await.unwrap_err();
    assert_eq!(code(&err), "InvalidKeyUsageException");
}

#[tokio::test]
async fn other_key_types_refuse_rotation_and_take_imported_material_where_aws_does() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    for (spec, usage) in [("RSA_2048", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC"), ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE")] {
        let key = create(&client, spec, usage).await.unwrap();
        let err = client.enable_key_rotation().key_id(key.key_id()).send().await.unwrap_err();
        assert_eq!(code(&err), "UnsupportedOperationException", "{spec}");
        let err = client.rotate_key_on_demand().key_id(key.key_id()).send().await.unwrap_err();
        assert_eq!(code(&err), "UnsupportedOperationException", "{spec}");
        // Still usable afterwards.
        client.describe_key().key_id(key.key_id()).send().await.unwrap();
        // Imported material: RSA, ECC, SM2 and HMAC keys take it, ML-KEM keys do not.
        let external = client.create_key().key_spec(KeySpec::from(spec)).key_usage(KeyUsageType::from(usage)).origin(aws_sdk_kms::types::OriginType::External).send().await;
        if spec.starts_with("ML_KEM") {
            assert_eq!(code(&external.unwrap_err()), "UnsupportedOperationException", "{spec} EXTERNAL");
        } else {
            let meta = external.unwrap().key_metadata.unwrap();
            assert_eq!(meta.key_state(), Some(&aws_sdk_kms::types::KeyState::PendingImport), "{spec} EXTERNAL");
            let err = client.enable_key_rotation().key_id(meta.key_id()).send().await.unwrap_err();
            assert_eq!(code(&err), "UnsupportedOperationException", "{spec} EXTERNAL rotation");
        }
    }
}
