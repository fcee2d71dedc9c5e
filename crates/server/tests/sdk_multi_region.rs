//! Multi-Region keys and Regions through the official AWS SDK for Rust
//! against the real binary: CreateKey with MultiRegion of each kind of key
//! (symmetric, HMAC, asymmetric, imported material), what DescribeKey
//! shows, the keys' use by every reference form, the condition keys
//! `kms:MultiRegion` and `kms:MultiRegionKeyType`, and the Region
//! allow-list (`--regions`).

#[macro_use]
mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyMetadata, KeySpec, KeyUsageType, MacAlgorithmSpec, MessageType, MultiRegionKeyType, OriginType, SigningAlgorithmSpec};
use aws_sdk_kms::Client;
use common::{code, Trent, REGION};

fn is_mrk_id(id: &str) -> bool {
    id.strip_prefix("mrk-").is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// The metadata of a multi-Region primary just made: AWS's id form, and
/// its configuration naming itself as primary, with no replicas.
fn assert_primary(m: &KeyMetadata) {
    let id = m.key_id();
    assert!(is_mrk_id(id), "{id}");
    assert!(m.arn().unwrap().ends_with(&format!(":key/{id}")), "{:?}", m.arn());
    assert!(m.arn().unwrap().starts_with(&format!("arn:aws:kms:{REGION}:")), "{:?}", m.arn());
    assert_eq!(m.multi_region(), Some(true));
    let c = m.multi_region_configuration().expect("MultiRegionConfiguration");
    assert_eq!(c.multi_region_key_type(), Some(&MultiRegionKeyType::Primary));
    let primary = c.primary_key().expect("PrimaryKey");
    assert_eq!((primary.arn(), primary.region()), (m.arn(), Some(REGION)));
    assert!(c.replica_keys().is_empty());
}

async fn describe(client: &Client, key: &str) -> KeyMetadata {
    client.describe_key().key_id(key).send().await.unwrap_or_else(|e| panic!("DescribeKey {key}: {e:?}")).key_metadata.unwrap()
}

#[tokio::test]
async fn multi_region_keys_of_every_kind_are_created_described_and_used() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);

    // Symmetric: by id, ARN and alias; a ciphertext finds its key without KeyId.
    let created = client.create_key().multi_region(true).description("mrk").send().await.expect("CreateKey").key_metadata.unwrap();
    assert_primary(&created);
    let id = created.key_id().to_owned();
    let arn = created.arn().unwrap().to_owned();
    client.create_alias().alias_name("alias/mrk").target_key_id(&id).send().await.expect("CreateAlias");
    for reference in [id.as_str(), arn.as_str(), "alias/mrk"] {
        assert_primary(&describe(&client, reference).await);
        let ct = client.encrypt().key_id(reference).plaintext(Blob::new(b"across Regions".to_vec())).send().await.expect("Encrypt").ciphertext_blob.unwrap();
        let out = client.decrypt().ciphertext_blob(ct).send().await.expect("Decrypt without KeyId");
        assert_eq!(out.key_id(), Some(arn.as_str()));
        assert_eq!(out.plaintext.unwrap().as_ref(), b"across Regions");
    }
    let listed = client.list_keys().send().await.expect("ListKeys").keys.unwrap_or_default();
    assert!(listed.iter().any(|k| k.key_id() == Some(id.as_str())));

    // HMAC.
    let hmac = client.create_key().multi_region(true).key_spec(KeySpec::Hmac256).key_usage(KeyUsageType::GenerateVerifyMac).send().await.expect("CreateKey HMAC");
    let hmac = hmac.key_metadata.unwrap();
    assert_primary(&hmac);
    let mac = client.generate_mac().key_id(hmac.key_id()).mac_algorithm(MacAlgorithmSpec::HmacSha256).message(Blob::new(b"m".to_vec())).send().await.expect("GenerateMac");
    let verified = client.verify_mac().key_id(hmac.key_id()).mac_algorithm(MacAlgorithmSpec::HmacSha256).message(Blob::new(b"m".to_vec())).mac(mac.mac.unwrap()).send().await.expect("VerifyMac");
    assert!(verified.mac_valid());

    // Asymmetric signing and encryption.
    for (spec, usage) in [(KeySpec::EccNistP256, KeyUsageType::SignVerify), (KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt)] {
        let m = client.create_key().multi_region(true).key_spec(spec.clone()).key_usage(usage).send().await.expect("CreateKey asymmetric").key_metadata.unwrap();
        assert_primary(&m);
        assert_eq!(m.key_spec(), Some(&spec));
        client.get_public_key().key_id(m.key_id()).send().await.expect("GetPublicKey");
        if spec == KeySpec::EccNistP256 {
            let sig = client.sign().key_id(m.key_id()).signing_algorithm(SigningAlgorithmSpec::EcdsaSha256).message_type(MessageType::Raw).message(Blob::new(b"s".to_vec())).send().await.expect("Sign");
            let ok = client.verify().key_id(m.key_id()).signing_algorithm(SigningAlgorithmSpec::EcdsaSha256).message_type(MessageType::Raw).message(Blob::new(b"s".to_vec())).signature(sig.signature.unwrap()).send().await.expect("Verify");
            assert!(ok.signature_valid());
        }
    }

    // Imported material: created awaiting it, as any EXTERNAL key.
    let external = client.create_key().multi_region(true).origin(OriginType::External).send().await.expect("CreateKey EXTERNAL").key_metadata.unwrap();
    assert_primary(&external);
    assert_eq!(external.key_state().map(|s| s.as_str()), Some("PendingImport"));
    // Its import token is bound to the mrk- id: material imported with it makes the key usable.
    let params = client.get_parameters_for_import().key_id(external.key_id())
        .wrapping_algorithm(aws_sdk_kms::types::AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(aws_sdk_kms::types::WrappingKeySpec::Rsa2048)
        .send().await.expect("GetParametersForImport");
    let wrapping = aws_lc_rs::rsa::PublicEncryptingKey::from_der(params.public_key.unwrap().as_ref()).unwrap();
    let wrapping = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(wrapping).unwrap();
    let mut wrapped = vec![0; wrapping.ciphertext_size()];
    let wrapped = wrapping.encrypt(&aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256, &[7u8; 32], &mut wrapped, None).unwrap().to_vec();
    client.import_key_material().key_id(external.key_id()).import_token(params.import_token.unwrap()).encrypted_key_material(Blob::new(wrapped))
        .expiration_model(aws_sdk_kms::types::ExpirationModelType::KeyMaterialDoesNotExpire)
        .send().await.expect("ImportKeyMaterial");
    let ct = client.encrypt().key_id(external.key_id()).plaintext(Blob::new(b"imported".to_vec())).send().await.expect("Encrypt imported").ciphertext_blob.unwrap();
    let back = client.decrypt().ciphertext_blob(ct).send().await.expect("Decrypt imported");
    assert_eq!(back.plaintext.unwrap().as_ref(), b"imported");
    assert_primary(&describe(&client, external.key_id()).await);

    // Not in a custom key store, as AWS.
    for origin in [OriginType::AwsCloudhsm, OriginType::ExternalKeyStore] {
        let mut create = client.create_key().multi_region(true).origin(origin).custom_key_store_id("cks-1234567890abcdef0");
        if create.get_origin() == &Some(OriginType::ExternalKeyStore) {
            create = create.xks_key_id("key-1");
        }
        let e = assert_err!(create.send().await, is_unsupported_operation_exception);
        assert_eq!(e.meta().message(), Some("A multi-Region key cannot be created in a custom key store."));
    }

    // A well-formed multi-Region id names no key until one is made with it.
    assert_err!(client.describe_key().key_id("mrk-0123456789abcdef0123456789abcdef").send().await, is_not_found_exception);

    // A single-Region key has no configuration, and its id is a UUID.
    let single = client.create_key().send().await.unwrap().key_metadata.unwrap();
    assert_eq!(single.multi_region(), Some(false));
    assert!(single.multi_region_configuration().is_none());
    assert!(!single.key_id().starts_with("mrk-"));
}

#[tokio::test]
async fn the_multi_region_condition_keys_reach_key_policies() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let account = describe(&client, client.create_key().send().await.unwrap().key_metadata.unwrap().key_id()).await.aws_account_id().unwrap().to_owned();
    // Encrypt is denied on primaries, GenerateDataKey on single-Region keys.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Effect": "Allow", "Principal": { "AWS": format!("arn:aws:iam::{account}:root") }, "Action": "kms:*", "Resource": "*" },
            { "Effect": "Deny", "Principal": { "AWS": "*" }, "Action": "kms:Encrypt", "Resource": "*",
              "Condition": { "StringEquals": { "kms:MultiRegionKeyType": "PRIMARY" } } },
            { "Effect": "Deny", "Principal": { "AWS": "*" }, "Action": "kms:GenerateDataKey", "Resource": "*",
              "Condition": { "Bool": { "kms:MultiRegion": "false" } } }
        ]
    })
    .to_string();
    let mrk = client.create_key().multi_region(true).policy(&policy).send().await.expect("CreateKey mrk").key_metadata.unwrap();
    let single = client.create_key().policy(&policy).send().await.expect("CreateKey single").key_metadata.unwrap();
    let encrypt = |key: String| client.encrypt().key_id(key).plaintext(Blob::new(b"x".to_vec())).send();
    let data_key = |key: String| client.generate_data_key().key_id(key).number_of_bytes(32).send();
    let e = encrypt(mrk.key_id().to_owned()).await.expect_err("Encrypt with a primary");
    assert_eq!(code(&e), "AccessDeniedException");
    data_key(mrk.key_id().to_owned()).await.expect("GenerateDataKey with a primary");
    encrypt(single.key_id().to_owned()).await.expect("Encrypt with a single-Region key");
    let e = data_key(single.key_id().to_owned()).await.expect_err("GenerateDataKey with a single-Region key");
    assert_eq!(code(&e), "AccessDeniedException");
}

#[tokio::test]
async fn only_the_configured_regions_are_served() {
    let trent = Trent::start(&["--regions", "us-east-1,eu-west-1"]);
    for region in ["us-east-1", "eu-west-1"] {
        let m = trent.client(region).create_key().send().await.unwrap_or_else(|e| panic!("{region}: {e:?}")).key_metadata.unwrap();
        assert!(m.arn().unwrap().starts_with(&format!("arn:aws:kms:{region}:")));
    }
    // Well-formed names, but not served here: AWS's answer for a Region it does not have.
    for region in ["us-west-2", "moon-base-1"] {
        let e = trent.client(region).list_keys().send().await.expect_err(region);
        assert_eq!(code(&e), "InvalidSignatureException", "{region}");
        let text = format!("{:?}", e.into_service_error());
        assert!(text.contains(&format!("Credential should be scoped to a valid region, not '{region}'.")), "{text}");
    }
    drop(trent);

    // The default: every Region name AWS publishes, and no other.
    let trent = Trent::start(&[]);
    for region in ["us-west-2", "eu-central-2", "ap-southeast-4"] {
        trent.client(region).list_keys().send().await.unwrap_or_else(|e| panic!("{region}: {e:?}"));
    }
    let e = trent.client("moon-base-1").list_keys().send().await.expect_err("moon-base-1");
    assert_eq!(code(&e), "InvalidSignatureException");
}
