//! Multi-Region keys and Regions through the official AWS SDK for Rust
//! against the real binary: CreateKey with MultiRegion of each kind of key
//! (symmetric, HMAC, asymmetric, imported material), what DescribeKey
//! shows, the keys' use by every reference form, the condition keys
//! `kms:MultiRegion` and `kms:MultiRegionKeyType`, and the Region
//! allow-list (`--regions`); ReplicateKey over two and three Regions: what
//! every member shows, ciphertexts, MACs and signatures of one member
//! accepted by the others, the primary's rotation reaching its replicas,
//! each member's own state, policy, tags, aliases and grants, AWS's
//! refusals, `kms:ReplicaRegion` in key policies, and ReplicateKey's two
//! audit events (its own and the replica Region's CreateKey); replicas of
//! keys with imported material (the same material imported into each
//! member, each with its own terms, deletion, expiry; rotation).

#[macro_use]
mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::operation::import_key_material::ImportKeyMaterialError;
use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, ImportType, KeyMetadata, KeySpec, KeyState, Tag, KeyUsageType, MacAlgorithmSpec, MessageType, MultiRegionKeyType, OriginType, SigningAlgorithmSpec, WrappingKeySpec};
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

const WEST: &str = "eu-west-1";
const SOUTH: &str = "ap-south-1";

/// Replicates `key` (an id) from the primary's client into `region`.
async fn replicate(primary: &Client, key: &str, region: &str) -> aws_sdk_kms::operation::replicate_key::ReplicateKeyOutput {
    primary.replicate_key().key_id(key).replica_region(region).send().await.unwrap_or_else(|e| panic!("ReplicateKey {key} into {region}: {e:?}"))
}

/// The member's configuration: its type, the primary's Region and the
/// replicas' Regions in the order shown.
fn set_of(m: &KeyMetadata) -> (MultiRegionKeyType, String, Vec<String>) {
    let c = m.multi_region_configuration().expect("MultiRegionConfiguration");
    let primary = c.primary_key().expect("PrimaryKey");
    let arn = primary.arn().unwrap();
    assert_eq!(arn.split(':').nth(3), primary.region(), "the primary's ARN is of its Region");
    let replicas = c.replica_keys().iter().map(|r| {
        assert_eq!(r.arn().unwrap().split(':').nth(3), r.region());
        assert!(r.arn().unwrap().ends_with(&format!("/{}", m.key_id())), "a replica has the set's id");
        r.region().unwrap().to_owned()
    });
    (c.multi_region_key_type().unwrap().clone(), primary.region().unwrap().to_owned(), replicas.collect())
}

#[tokio::test]
async fn a_replica_is_the_same_key_in_another_region_with_its_own_settings() {
    let trent = Trent::start(&[]);
    let (east, west) = (trent.client(REGION), trent.client(WEST));
    let primary = client_key(&east, east.create_key().multi_region(true).description("primary")).await;
    let id = primary.key_id().to_owned();
    east.create_alias().alias_name("alias/shared").target_key_id(&id).send().await.expect("CreateAlias east");

    // The answer: the replica, Creating, with its own policy and tags.
    let out = west_replica(&east, &id).await;
    let replica = out.replica_key_metadata().unwrap();
    assert_eq!(replica.key_id(), id, "the same key id");
    assert_eq!(replica.arn().unwrap(), format!("arn:aws:kms:{WEST}:{}:key/{id}", primary.aws_account_id().unwrap()));
    assert_eq!(replica.key_state(), Some(&KeyState::Creating));
    assert_eq!(replica.description(), Some("the west copy"));
    assert_eq!(set_of(replica), (MultiRegionKeyType::Replica, REGION.to_owned(), vec![WEST.to_owned()]));
    assert!(out.replica_policy().unwrap().contains(&format!("arn:aws:iam::{}:root", primary.aws_account_id().unwrap())), "the default key policy");
    assert_eq!(out.replica_tags().iter().map(|t| (t.tag_key(), t.tag_value())).collect::<Vec<_>>(), vec![("region", "west")]);

    // Then Enabled; every member shows the whole set.
    let described = describe(&west, &id).await;
    assert_eq!(described.key_state(), Some(&KeyState::Enabled));
    assert_eq!(set_of(&described), (MultiRegionKeyType::Replica, REGION.to_owned(), vec![WEST.to_owned()]));
    assert_eq!(set_of(&describe(&east, &id).await), (MultiRegionKeyType::Primary, REGION.to_owned(), vec![WEST.to_owned()]));
    assert_eq!(describe(&east, &id).await.description(), Some("primary"), "the primary kept its own description");
    assert!(west.list_keys().send().await.unwrap().keys().iter().any(|k| k.key_id() == Some(id.as_str())), "ListKeys in the replica's Region");

    // A ciphertext of either member decrypts with the other, without KeyId.
    for (from, to, to_region) in [(&east, &west, WEST), (&west, &east, REGION)] {
        let ct = from.encrypt().key_id(&id).plaintext(Blob::new(b"one key, two Regions".to_vec())).encryption_context("purpose", "mrk").send().await.expect("Encrypt").ciphertext_blob.unwrap();
        let back = to.decrypt().ciphertext_blob(ct).encryption_context("purpose", "mrk").send().await.expect("Decrypt in the other Region");
        assert_eq!(back.plaintext().unwrap().as_ref(), b"one key, two Regions");
        assert!(back.key_id().unwrap().starts_with(&format!("arn:aws:kms:{to_region}:")), "the member that decrypted: {:?}", back.key_id());
    }

    // Its own state: the replica disabled, the primary still works.
    west.disable_key().key_id(&id).send().await.expect("DisableKey west");
    assert_err!(west.encrypt().key_id(&id).plaintext(Blob::new(b"x".to_vec())).send().await, is_disabled_exception);
    east.encrypt().key_id(&id).plaintext(Blob::new(b"x".to_vec())).send().await.expect("the primary is not disabled");
    west.enable_key().key_id(&id).send().await.expect("EnableKey west");

    // Its own aliases and grants.
    assert_err!(west.describe_key().key_id("alias/shared").send().await, is_not_found_exception);
    west.create_alias().alias_name("alias/shared").target_key_id(&id).send().await.expect("CreateAlias west");
    assert_eq!(describe(&west, "alias/shared").await.arn(), described.arn());
    let account = primary.aws_account_id().unwrap();
    west.create_grant().key_id(&id).grantee_principal(format!("arn:aws:iam::{account}:root")).operations(aws_sdk_kms::types::GrantOperation::Decrypt).send().await.expect("CreateGrant west");
    assert_eq!(west.list_grants().key_id(&id).send().await.unwrap().grants().len(), 1);
    assert!(east.list_grants().key_id(&id).send().await.unwrap().grants().is_empty(), "the grant is the replica's");
    assert_eq!(east.list_resource_tags().key_id(&id).send().await.unwrap().tags().len(), 0);
    assert_eq!(west.list_resource_tags().key_id(&id).send().await.unwrap().tags().len(), 1);

    // The primary's rotation reaches the replica; rotation is managed on the primary.
    east.rotate_key_on_demand().key_id(&id).send().await.expect("RotateKeyOnDemand");
    let rotations = west.list_key_rotations().key_id(&id).send().await.expect("ListKeyRotations on the replica");
    assert_eq!(rotations.rotations().len(), 1);
    let ct = west.encrypt().key_id(&id).plaintext(Blob::new(b"after rotation".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();
    let back = east.decrypt().ciphertext_blob(ct).send().await.expect("Decrypt a replica's ciphertext after rotation");
    assert_eq!(back.key_material_id(), rotations.rotations()[0].key_material_id(), "the replica uses the rotated material");
    east.enable_key_rotation().key_id(&id).send().await.expect("EnableKeyRotation on the primary");
    assert!(west.get_key_rotation_status().key_id(&id).send().await.unwrap().key_rotation_enabled(), "the replica shows the primary's schedule");
    assert_err!(west.enable_key_rotation().key_id(&id).send().await, is_unsupported_operation_exception);
    assert_err!(west.rotate_key_on_demand().key_id(&id).send().await, is_unsupported_operation_exception);
}

async fn client_key(_client: &Client, create: aws_sdk_kms::operation::create_key::builders::CreateKeyFluentBuilder) -> KeyMetadata {
    create.send().await.expect("CreateKey").key_metadata.unwrap()
}

async fn west_replica(east: &Client, id: &str) -> aws_sdk_kms::operation::replicate_key::ReplicateKeyOutput {
    east.replicate_key().key_id(id).replica_region(WEST).description("the west copy").tags(Tag::builder().tag_key("region").tag_value("west").build().unwrap())
        .send().await.expect("ReplicateKey")
}

/// AWS: "A ReplicateKey request results in a ReplicateKey operation and a
/// CreateKey operation": the primary's Region records the ReplicateKey,
/// the replica's a CreateKey of the replica, both of the one request.
#[tokio::test]
async fn replicate_key_is_audited_in_both_regions() {
    use aws_sdk_kms::operation::RequestId;
    let trent = Trent::start(&[]);
    let east = trent.client(REGION);
    let primary = client_key(&east, east.create_key().multi_region(true)).await;
    let id = primary.key_id().to_owned();
    let out = west_replica(&east, &id).await;
    let request_id = out.request_id().expect("request id").to_owned();
    let replica_arn = out.replica_key_metadata().unwrap().arn().unwrap().to_owned();
    // A refused ReplicateKey makes no key, so no CreateKey event.
    assert_err!(east.replicate_key().key_id(&id).replica_region(WEST).send().await, is_already_exists_exception);

    let events = common::audit_events(&trent.data_dir());
    let of_request: Vec<&serde_json::Value> = events.iter().filter(|e| e["requestID"] == request_id.as_str()).collect();
    let names: Vec<(&str, &str)> = of_request.iter().map(|e| (e["eventName"].as_str().unwrap(), e["awsRegion"].as_str().unwrap())).collect();
    assert_eq!(names, vec![("ReplicateKey", REGION), ("CreateKey", WEST)], "{of_request:#?}");
    let (replicate, create) = (of_request[0], of_request[1]);
    assert_ne!(replicate["eventID"], create["eventID"], "each event has its own id");
    for field in ["userIdentity", "eventTime", "sourceIPAddress", "userAgent", "recipientAccountId"] {
        assert_eq!(replicate[field], create[field], "{field}: the same caller and moment");
    }
    assert_eq!(create["readOnly"], false);
    assert!(create.get("errorCode").is_none(), "{create:#}");
    assert_eq!(create["resources"], serde_json::json!([{ "accountId": primary.aws_account_id().unwrap(), "type": "AWS::KMS::Key", "ARN": replica_arn }]));
    assert_eq!(create["responseElements"]["keyMetadata"]["arn"], replica_arn.as_str());
    assert_eq!(create["responseElements"]["keyMetadata"]["multiRegionConfiguration"]["multiRegionKeyType"], "REPLICA");
    let params = &create["requestParameters"];
    assert_eq!((params["description"].as_str(), params["multiRegion"].as_bool(), params["keySpec"].as_str()), (Some("the west copy"), Some(true), Some("SYMMETRIC_DEFAULT")));
    assert!(params.get("replicaRegion").is_none() && params.get("keyId").is_none(), "CreateKey's members only: {params:#}");
    assert!(create["trentAuthorizationReason"].as_str().unwrap().contains("kms:CreateKey"), "{create:#}");
    assert!(replicate["trentAuthorizationReason"].as_str().unwrap().contains("kms:ReplicateKey"), "{replicate:#}");

    // One CreateKey event in the West: the replica's (the refusal added none).
    let west_creates = events.iter().filter(|e| e["eventName"] == "CreateKey" && e["awsRegion"] == WEST).count();
    assert_eq!(west_creates, 1);
    assert_eq!(events.iter().filter(|e| e["eventName"] == "ReplicateKey").count(), 2, "the success and the refusal");
}

#[tokio::test]
async fn macs_and_signatures_of_one_member_verify_under_every_other_over_three_regions() {
    let trent = Trent::start(&[]);
    let clients = [trent.client(REGION), trent.client(WEST), trent.client(SOUTH)];
    let hmac = client_key(&clients[0], clients[0].create_key().multi_region(true).key_spec(KeySpec::Hmac384).key_usage(KeyUsageType::GenerateVerifyMac)).await;
    let ecc = client_key(&clients[0], clients[0].create_key().multi_region(true).key_spec(KeySpec::EccNistP384).key_usage(KeyUsageType::SignVerify)).await;
    let sym = client_key(&clients[0], clients[0].create_key().multi_region(true)).await;
    for key in [&hmac, &ecc, &sym] {
        for region in [WEST, SOUTH] {
            let out = replicate(&clients[0], key.key_id(), region).await;
            assert_eq!(out.replica_key_metadata().unwrap().key_spec(), key.key_spec(), "the key spec is shared");
        }
        // Every member: the primary in us-east-1, both replicas, in Region order.
        for (client, kind) in clients.iter().zip([MultiRegionKeyType::Primary, MultiRegionKeyType::Replica, MultiRegionKeyType::Replica]) {
            let (shown, primary, mut replicas) = set_of(&describe(client, key.key_id()).await);
            replicas.sort();
            assert_eq!((shown, primary, replicas), (kind, REGION.to_owned(), vec![SOUTH.to_owned(), WEST.to_owned()]));
        }
    }
    let message = Blob::new(b"signed in one Region".to_vec());
    for (i, maker) in clients.iter().enumerate() {
        let mac = maker.generate_mac().key_id(hmac.key_id()).mac_algorithm(MacAlgorithmSpec::HmacSha384).message(message.clone()).send().await.expect("GenerateMac").mac.unwrap();
        let sig = maker.sign().key_id(ecc.key_id()).signing_algorithm(SigningAlgorithmSpec::EcdsaSha384).message(message.clone()).send().await.expect("Sign").signature.unwrap();
        let ct = maker.encrypt().key_id(sym.key_id()).plaintext(message.clone()).send().await.expect("Encrypt").ciphertext_blob.unwrap();
        for (j, checker) in clients.iter().enumerate() {
            let ok = checker.verify_mac().key_id(hmac.key_id()).mac_algorithm(MacAlgorithmSpec::HmacSha384).message(message.clone()).mac(mac.clone()).send().await.expect("VerifyMac");
            assert!(ok.mac_valid(), "a MAC of member {i} under member {j}");
            let ok = checker.verify().key_id(ecc.key_id()).signing_algorithm(SigningAlgorithmSpec::EcdsaSha384).message(message.clone()).signature(sig.clone()).send().await.expect("Verify");
            assert!(ok.signature_valid(), "a signature of member {i} under member {j}");
            assert_eq!(checker.decrypt().ciphertext_blob(ct.clone()).send().await.expect("Decrypt").plaintext.unwrap(), message);
        }
    }
    let public = |c: &Client| c.get_public_key().key_id(ecc.key_id()).send();
    let east_public = public(&clients[0]).await.unwrap().public_key.unwrap();
    for client in &clients[1..] {
        assert_eq!(public(client).await.unwrap().public_key.unwrap(), east_public, "every member has the primary's public key");
    }
}

#[tokio::test]
async fn replicate_key_refuses_what_aws_refuses() {
    let trent = Trent::start(&["--regions", "us-east-1,eu-west-1,ap-south-1"]);
    let (east, west) = (trent.client(REGION), trent.client(WEST));
    let mrk = client_key(&east, east.create_key().multi_region(true)).await;
    let id = mrk.key_id();
    replicate(&east, id, WEST).await;
    // One member per Region: the replica's and the primary's own are taken.
    for region in [WEST, REGION] {
        let e = assert_err!(east.replicate_key().key_id(id).replica_region(region).send().await, is_already_exists_exception);
        assert_eq!(e.meta().message(), Some(format!("arn:aws:kms:{region}:{}:key/{id} already exists: a multi-Region key has at most one member in each Region.", mrk.aws_account_id().unwrap()).as_str()));
    }
    // Only a multi-Region primary: not a replica, not a single-Region key.
    assert_err!(west.replicate_key().key_id(id).replica_region(SOUTH).send().await, is_unsupported_operation_exception);
    let single = client_key(&east, east.create_key()).await;
    assert_err!(east.replicate_key().key_id(single.key_id()).replica_region(WEST).send().await, is_unsupported_operation_exception);
    // A Region this deployment does not serve.
    let e = assert_err!(east.replicate_key().key_id(id).replica_region("us-west-2").send().await, is_unsupported_operation_exception);
    assert!(e.meta().message().unwrap().contains("us-west-2"), "{e:?}");
    // No alias for the primary; a disabled primary is DisabledException.
    east.create_alias().alias_name("alias/p").target_key_id(id).send().await.unwrap();
    assert_err!(east.replicate_key().key_id("alias/p").replica_region(SOUTH).send().await, is_not_found_exception);
    east.disable_key().key_id(id).send().await.unwrap();
    assert_err!(east.replicate_key().key_id(id).replica_region(SOUTH).send().await, is_disabled_exception);
    east.enable_key().key_id(id).send().await.unwrap();
    // A replica of its own policy: the lockout check applies to it.
    let locked = serde_json::json!({ "Version": "2012-10-17", "Statement": [
        { "Effect": "Allow", "Principal": { "AWS": format!("arn:aws:iam::{}:root", mrk.aws_account_id().unwrap()) }, "Action": "kms:Encrypt", "Resource": "*" } ] }).to_string();
    assert_err!(east.replicate_key().key_id(id).replica_region(SOUTH).policy(&locked).send().await, is_malformed_policy_document_exception);
    assert!(trent.client(SOUTH).describe_key().key_id(id).send().await.is_err(), "nothing was made");
    let out = east.replicate_key().key_id(id).replica_region(SOUTH).policy(&locked).bypass_policy_lockout_safety_check(true).send().await.expect("ReplicateKey bypassing the check");
    assert_eq!(out.replica_policy(), Some(locked.as_str()));
}

#[tokio::test]
async fn the_replica_region_reaches_key_policies() {
    let trent = Trent::start(&[]);
    let east = trent.client(REGION);
    let account = client_key(&east, east.create_key()).await.aws_account_id().unwrap().to_owned();
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Effect": "Allow", "Principal": { "AWS": format!("arn:aws:iam::{account}:root") }, "Action": "kms:*", "Resource": "*" },
            { "Effect": "Deny", "Principal": { "AWS": "*" }, "Action": "kms:ReplicateKey", "Resource": "*",
              "Condition": { "StringEquals": { "kms:ReplicaRegion": SOUTH } } }
        ]
    })
    .to_string();
    let mrk = client_key(&east, east.create_key().multi_region(true).policy(&policy)).await;
    let e = east.replicate_key().key_id(mrk.key_id()).replica_region(SOUTH).send().await.expect_err("a Region the policy denies");
    assert_eq!(code(&e), "AccessDeniedException");
    assert!(trent.client(SOUTH).describe_key().key_id(mrk.key_id()).send().await.is_err());
    replicate(&east, mrk.key_id(), WEST).await;
    // The replica's own (default) policy, and its type for policies.
    let deny_replicas = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Effect": "Allow", "Principal": { "AWS": format!("arn:aws:iam::{account}:root") }, "Action": "kms:*", "Resource": "*" },
            { "Effect": "Deny", "Principal": { "AWS": "*" }, "Action": "kms:Encrypt", "Resource": "*",
              "Condition": { "StringEquals": { "kms:MultiRegionKeyType": "REPLICA" } } }
        ]
    })
    .to_string();
    let west = trent.client(WEST);
    west.put_key_policy().key_id(mrk.key_id()).policy(&deny_replicas).send().await.expect("PutKeyPolicy on the replica");
    assert_eq!(code(&west.encrypt().key_id(mrk.key_id()).plaintext(Blob::new(b"x".to_vec())).send().await.expect_err("Encrypt with a replica")), "AccessDeniedException");
    east.encrypt().key_id(mrk.key_id()).plaintext(Blob::new(b"x".to_vec())).send().await.expect("the primary's policy is its own");
}

/// AWS: a primary scheduled for deletion while it has replicas is held in
/// PendingReplicaDeletion, unusable, with no deletion date; its waiting
/// period begins when its last replica is destroyed.
#[tokio::test]
async fn a_primary_with_replicas_waits_for_them_before_its_own_waiting_period() {
    const DAY: i64 = 24 * 60 * 60;
    let mut trent = Trent::start(&["--dev"]);
    let (east, west) = (trent.client(REGION), trent.client(WEST));
    let id = client_key(&east, east.create_key().multi_region(true)).await.key_id().to_owned();
    replicate(&east, &id, WEST).await;
    let ct = east.encrypt().key_id(&id).plaintext(Blob::new(b"outlives its primary".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();

    let scheduled = east.schedule_key_deletion().key_id(&id).pending_window_in_days(7).send().await.expect("ScheduleKeyDeletion");
    assert_eq!(scheduled.key_state(), Some(&KeyState::PendingReplicaDeletion));
    assert_eq!(scheduled.deletion_date(), None, "no date while replicas remain");
    let m = describe(&east, &id).await;
    assert_eq!((m.key_state(), m.pending_deletion_window_in_days()), (Some(&KeyState::PendingReplicaDeletion), Some(7)));
    assert_err!(east.encrypt().key_id(&id).plaintext(Blob::new(b"x".to_vec())).send().await, is_kms_invalid_state_exception);
    assert_err!(east.replicate_key().key_id(&id).replica_region(SOUTH).send().await, is_kms_invalid_state_exception);
    west.decrypt().ciphertext_blob(ct.clone()).send().await.expect("the replica is its own key");
    // Cancelled like any deletion (the key comes back disabled), then scheduled again.
    east.cancel_key_deletion().key_id(&id).send().await.expect("CancelKeyDeletion");
    assert_eq!(describe(&east, &id).await.key_state(), Some(&KeyState::Disabled));
    east.schedule_key_deletion().key_id(&id).pending_window_in_days(7).send().await.unwrap();
    west.schedule_key_deletion().key_id(&id).pending_window_in_days(7).send().await.expect("ScheduleKeyDeletion of the replica");
    drop((east, west));

    // Eight days on: the replica is gone, the primary's own seven days begin.
    trent.restart(&["--dev", "--clock-offset-secs", &(8 * DAY).to_string()]);
    let (east, west) = (trent.client(REGION), trent.client(WEST));
    assert_err!(west.describe_key().key_id(&id).send().await, is_not_found_exception);
    let m = describe(&east, &id).await;
    assert_eq!(m.key_state(), Some(&KeyState::PendingDeletion));
    let date = m.deletion_date().expect("a deletion date now").secs();
    assert!(date >= common::now_secs() + 14 * DAY, "counted from the replica's end, not from the scheduling: {date}");
    assert!(m.multi_region_configuration().unwrap().replica_keys().is_empty());
    east.decrypt().ciphertext_blob(ct.clone()).send().await.expect_err("pending deletion");
    drop((east, west));

    trent.restart(&["--dev", "--clock-offset-secs", &(16 * DAY).to_string()]);
    assert_err!(trent.client(REGION).describe_key().key_id(&id).send().await, is_not_found_exception);
}

/// UpdatePrimaryRegion: a replica becomes the primary, on every member at
/// once; rotation and replication then belong to it; both keys' policies
/// decide, with `kms:PrimaryRegion`.
#[tokio::test]
async fn the_primary_moves_to_a_replica_for_every_member() {
    let trent = Trent::start(&[]);
    let (east, west, south) = (trent.client(REGION), trent.client(WEST), trent.client(SOUTH));
    let created = client_key(&east, east.create_key().multi_region(true)).await;
    let (id, account) = (created.key_id().to_owned(), created.aws_account_id().unwrap().to_owned());
    replicate(&east, &id, WEST).await;
    replicate(&east, &id, SOUTH).await;
    let ct = east.encrypt().key_id(&id).plaintext(Blob::new(b"moved".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();

    assert_err!(east.update_primary_region().key_id(&id).primary_region("eu-central-1").send().await, is_not_found_exception);
    assert_err!(west.update_primary_region().key_id(&id).primary_region(SOUTH).send().await, is_unsupported_operation_exception);
    east.update_primary_region().key_id(&id).primary_region(WEST).send().await.expect("UpdatePrimaryRegion");
    for (client, kind) in [(&east, MultiRegionKeyType::Replica), (&west, MultiRegionKeyType::Primary), (&south, MultiRegionKeyType::Replica)] {
        let m = describe(client, &id).await;
        let (shown, primary, mut replicas) = set_of(&m);
        replicas.sort();
        assert_eq!((shown, primary, replicas), (kind, WEST.to_owned(), vec![SOUTH.to_owned(), REGION.to_owned()]));
        assert_eq!(m.key_state(), Some(&KeyState::Enabled), "each keeps its state");
        assert_eq!(client.decrypt().ciphertext_blob(ct.clone()).send().await.expect("Decrypt").plaintext.unwrap().as_ref(), b"moved");
    }
    // Rotation and replication are the new primary's now.
    assert_err!(east.rotate_key_on_demand().key_id(&id).send().await, is_unsupported_operation_exception);
    west.rotate_key_on_demand().key_id(&id).send().await.expect("RotateKeyOnDemand on the new primary");
    assert_eq!(east.list_key_rotations().key_id(&id).send().await.unwrap().rotations().len(), 1, "the old primary follows the new one");
    assert_err!(east.replicate_key().key_id(&id).replica_region("ca-central-1").send().await, is_unsupported_operation_exception);
    replicate(&west, &id, "ca-central-1").await;

    // The replica's own policy decides too: it denies becoming the primary.
    let deny_moves = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Effect": "Allow", "Principal": { "AWS": format!("arn:aws:iam::{account}:root") }, "Action": "kms:*", "Resource": "*" },
            { "Effect": "Deny", "Principal": { "AWS": "*" }, "Action": "kms:UpdatePrimaryRegion", "Resource": "*",
              "Condition": { "StringEquals": { "kms:PrimaryRegion": SOUTH } } }
        ]
    })
    .to_string();
    south.put_key_policy().key_id(&id).policy(&deny_moves).send().await.unwrap();
    let e = west.update_primary_region().key_id(&id).primary_region(SOUTH).send().await.expect_err("the replica's policy denies it");
    assert_eq!(code(&e), "AccessDeniedException");
    assert_eq!(set_of(&describe(&south, &id).await).1, WEST, "nothing moved");
    west.update_primary_region().key_id(&id).primary_region(REGION).send().await.expect("back to us-east-1: its policy allows it");
    assert_eq!(set_of(&describe(&south, &id).await).1, REGION);
}

/// Wraps `material` under a fresh import token of `key` in `client`'s
/// Region and imports it (never expiring unless `valid_to` is given).
async fn import(client: &Client, key: &str, material: &[u8], import_type: Option<ImportType>, valid_to: Option<i64>) -> Result<(), aws_sdk_kms::error::SdkError<ImportKeyMaterialError>> {
    let params = client.get_parameters_for_import().key_id(key).wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256).wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send().await.expect("GetParametersForImport");
    let wrapping = aws_lc_rs::rsa::PublicEncryptingKey::from_der(params.public_key.unwrap().as_ref()).unwrap();
    let wrapping = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(wrapping).unwrap();
    let mut wrapped = vec![0; wrapping.ciphertext_size()];
    let wrapped = wrapping.encrypt(&aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256, material, &mut wrapped, None).unwrap().to_vec();
    let mut request = client.import_key_material().key_id(key).import_token(params.import_token.unwrap()).encrypted_key_material(Blob::new(wrapped)).set_import_type(import_type);
    request = match valid_to {
        Some(at) => request.expiration_model(ExpirationModelType::KeyMaterialExpires).valid_to(aws_sdk_kms::primitives::DateTime::from_secs(at)),
        None => request.expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire),
    };
    request.send().await.map(|_| ())
}

async fn state(client: &Client, key: &str) -> String {
    describe(client, key).await.key_state().unwrap().as_str().to_owned()
}

async fn seal(client: &Client, key: &str, text: &str) -> Blob {
    client.encrypt().key_id(key).plaintext(Blob::new(text.as_bytes().to_vec())).send().await.expect("Encrypt").ciphertext_blob.unwrap()
}

async fn open(client: &Client, ct: &Blob) -> Result<Vec<u8>, aws_sdk_kms::error::SdkError<aws_sdk_kms::operation::decrypt::DecryptError>> {
    client.decrypt().ciphertext_blob(ct.clone()).send().await.map(|o| o.plaintext.unwrap().into_inner())
}

/// The key material states ListKeyRotations shows, by material id.
async fn material_states(client: &Client, key: &str) -> Vec<(String, String, String)> {
    let listed = client.list_key_rotations().key_id(key).include_key_material(aws_sdk_kms::types::IncludeKeyMaterial::AllKeyMaterial).send().await.expect("ListKeyRotations");
    listed.rotations().iter().map(|r| (
        r.key_material_id().unwrap().to_owned(),
        r.key_material_state().unwrap().as_str().to_owned(),
        r.import_state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
    )).collect()
}

/// AWS: "If you replicate a multi-Region primary key with imported key
/// material, the replica key is created with no key material. You must
/// import the same key material that you imported into the primary key."
/// Each member has its own import, terms, deletion and expiry; rotation
/// waits until every replica has the new material.
#[tokio::test]
async fn replicas_of_imported_keys_take_only_the_same_material_each_on_its_own() {
    // Dev mode: the clock is moved at the end (expiry).
    let mut trent = Trent::start(&["--dev"]);
    let (east, west) = (trent.client(REGION), trent.client(WEST));
    let (material, other) = ([7u8; 32], [8u8; 32]);
    let id = client_key(&east, east.create_key().multi_region(true).origin(OriginType::External)).await.key_id().to_owned();
    import(&east, &id, &material, None, None).await.expect("ImportKeyMaterial into the primary");
    let from_east = seal(&east, &id, "from the primary").await;

    // The replica: no material, so it waits for the import and decrypts nothing.
    let out = replicate(&east, &id, WEST).await;
    assert_eq!(out.replica_key_metadata().unwrap().key_state(), Some(&KeyState::Creating));
    assert_eq!(out.replica_key_metadata().unwrap().origin(), Some(&OriginType::External));
    assert_eq!(state(&west, &id).await, "PendingImport");
    assert_err!(open(&west, &from_east).await, is_kms_invalid_state_exception);
    assert_err!(west.encrypt().key_id(&id).plaintext(Blob::new(b"x".to_vec())).send().await, is_kms_invalid_state_exception);

    // Other material is refused, and so is new material: the replica stays unusable.
    let e = assert_err!(import(&west, &id, &other, None, None).await, is_incorrect_key_material_exception);
    assert!(e.meta().message().unwrap().contains("not the material previously imported"), "{e:?}");
    assert_err!(import(&west, &id, &other, Some(ImportType::NewKeyMaterial), None).await, is_unsupported_operation_exception);
    assert_eq!(state(&west, &id).await, "PendingImport");
    assert_err!(open(&west, &from_east).await, is_kms_invalid_state_exception);

    // A token is its member's: the primary's (same key id) does not import into the replica.
    let params = east.get_parameters_for_import().key_id(&id).wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256).wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send().await.expect("GetParametersForImport in the primary's Region");
    let wrapping = aws_lc_rs::rsa::OaepPublicEncryptingKey::new(aws_lc_rs::rsa::PublicEncryptingKey::from_der(params.public_key.unwrap().as_ref()).unwrap()).unwrap();
    let mut wrapped = vec![0; wrapping.ciphertext_size()];
    let wrapped = wrapping.encrypt(&aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256, &material, &mut wrapped, None).unwrap().to_vec();
    assert_err!(
        west.import_key_material().key_id(&id).import_token(params.import_token.unwrap()).encrypted_key_material(Blob::new(wrapped))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire).send().await,
        is_invalid_import_token_exception
    );
    assert_eq!(state(&west, &id).await, "PendingImport");

    // The same material, with its own expiry: the members interoperate.
    let expires = common::now_secs() + 2 * 3600;
    import(&west, &id, &material, None, Some(expires)).await.expect("the same material into the replica");
    assert_eq!(state(&west, &id).await, "Enabled");
    assert_eq!(open(&west, &from_east).await.expect("the primary's ciphertext in the replica"), b"from the primary");
    let from_west = seal(&west, &id, "from the replica").await;
    assert_eq!(open(&east, &from_west).await.unwrap(), b"from the replica");
    let (east_m, west_m) = (describe(&east, &id).await, describe(&west, &id).await);
    assert_eq!((east_m.expiration_model().map(|m| m.as_str()), east_m.valid_to()), (Some("KEY_MATERIAL_DOES_NOT_EXPIRE"), None));
    assert_eq!((west_m.expiration_model().map(|m| m.as_str()), west_m.valid_to().map(|t| t.secs())), (Some("KEY_MATERIAL_EXPIRES"), Some(expires)));

    // Deleting the material of one member leaves the others usable.
    east.delete_imported_key_material().key_id(&id).send().await.expect("DeleteImportedKeyMaterial on the primary");
    assert_eq!(state(&east, &id).await, "PendingImport");
    assert_err!(open(&east, &from_west).await, is_kms_invalid_state_exception);
    assert_eq!(open(&west, &from_east).await.expect("the replica keeps its material"), b"from the primary");
    import(&east, &id, &material, None, None).await.expect("re-import into the primary");
    west.delete_imported_key_material().key_id(&id).send().await.expect("DeleteImportedKeyMaterial on the replica");
    assert_eq!(state(&west, &id).await, "PendingImport");
    assert_eq!(open(&east, &from_west).await.expect("the primary keeps its material"), b"from the replica");
    assert_err!(import(&west, &id, &other, None, None).await, is_incorrect_key_material_exception);
    import(&west, &id, &material, None, Some(expires)).await.expect("re-import into the replica");

    // On-demand rotation: new material into the primary, then the same into
    // every replica, then the rotation (AWS); not before.
    let next = [9u8; 32];
    import(&east, &id, &next, Some(ImportType::NewKeyMaterial), None).await.expect("new material into the primary");
    let pending = |states: &[(String, String, String)]| states.iter().find(|s| s.1.starts_with("PENDING")).cloned().expect("pending material");
    let (next_id, listed, _) = pending(&material_states(&east, &id).await);
    assert_eq!(listed, "PENDING_MULTI_REGION_IMPORT_AND_ROTATION");
    assert_eq!(pending(&material_states(&west, &id).await), (next_id.clone(), "PENDING_ROTATION".into(), "PENDING_IMPORT".into()), "the replica lists it, not imported");
    let e = assert_err!(east.rotate_key_on_demand().key_id(&id).send().await, is_kms_invalid_state_exception);
    assert!(e.meta().message().unwrap().contains(WEST), "{e:?}");
    assert_err!(import(&west, &id, &other, None, None).await, is_incorrect_key_material_exception);
    import(&west, &id, &next, Some(ImportType::ExistingKeyMaterial), None).await.expect("the new material into the replica");
    assert_eq!(pending(&material_states(&east, &id).await).1, "PENDING_ROTATION");
    assert_eq!(state(&west, &id).await, "Enabled");
    east.rotate_key_on_demand().key_id(&id).send().await.expect("RotateKeyOnDemand once every replica has it");
    let rotated = seal(&west, &id, "rotated").await;
    assert_eq!(open(&east, &rotated).await.unwrap(), b"rotated");
    assert!(material_states(&west, &id).await.contains(&(next_id.clone(), "CURRENT".into(), "IMPORTED".into())));
    assert_eq!(open(&west, &from_east).await.unwrap(), b"from the primary", "older material still decrypts");

    // Expiry is each member's own: past the replica's ValidTo, only it waits.
    drop((east, west));
    trent.restart(&["--dev", "--clock-offset-secs", "10800"]);
    let (east, west) = (trent.client(REGION), trent.client(WEST));
    assert_eq!(state(&west, &id).await, "PendingImport", "the replica's material expired");
    assert_eq!(state(&east, &id).await, "Enabled");
    assert_eq!(open(&east, &from_west).await.expect("the primary is unaffected"), b"from the replica");
}
