//! Every symmetric-key operation Trent implements, through the official
//! AWS SDK for Rust, against the real binary in its default (secure, SigV4)
//! mode. Each test runs its own server on its own data directory.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, DryRunModifierType, EncryptionAlgorithmSpec, KeyManagerType, KeySpec, KeyState, KeyUsageType, OriginType, Tag};
use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::Client;
use common::{now_secs, Trent, DAY_SECS, REGION};

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().tag_key(k).tag_value(v).build().unwrap()
}

fn context(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

async fn new_key(client: &Client, description: &str) -> aws_sdk_kms::types::KeyMetadata {
    let out = client.create_key().description(description).send().await.expect("CreateKey");
    out.key_metadata.expect("CreateKey returns KeyMetadata")
}

async fn describe(client: &Client, key: &str) -> aws_sdk_kms::types::KeyMetadata {
    client.describe_key().key_id(key).send().await.unwrap_or_else(|e| panic!("DescribeKey {key}: {e:?}")).key_metadata.unwrap()
}

async fn tags_of(client: &Client, key: &str) -> BTreeMap<String, String> {
    let out = client.list_resource_tags().key_id(key).send().await.expect("ListResourceTags");
    assert!(!out.truncated);
    out.tags().iter().map(|t| (t.tag_key.clone(), t.tag_value.clone())).collect()
}

fn policy_for(account: &str, sid: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Id":"e2e","Statement":[{{"Sid":"{sid}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

#[tokio::test]
async fn create_key_and_describe_it_by_every_reference_form() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);

    // A first key, to learn the admin's account (random in secure mode).
    let first = new_key(&client, "first").await;
    let account = first.aws_account_id().expect("AWSAccountId").to_owned();
    assert_eq!(account.len(), 12, "{account}");
    assert!(account.bytes().all(|b| b.is_ascii_digit()), "{account}");

    let policy = policy_for(&account, "e2e-create");
    let before = now_secs();
    let created = client
        .create_key()
        .description("e2e: created with everything")
        .policy(&policy)
        .tags(tag("team", "e2e"))
        .tags(tag("env", "test"))
        .send()
        .await
        .expect("CreateKey");
    let after = now_secs();
    // Every answer carries an x-amzn-RequestId, a fresh one each time.
    let request_id = created.request_id().expect("x-amzn-RequestId").to_owned();
    assert!(!request_id.is_empty());
    let created = created.key_metadata.unwrap();

    let key_id = created.key_id().to_owned();
    let arn = format!("arn:aws:kms:{REGION}:{account}:key/{key_id}");
    assert_eq!(key_id.len(), 36, "key ids are UUIDs: {key_id}");
    assert_ne!(key_id, first.key_id());
    assert_eq!(created.arn(), Some(arn.as_str()));
    assert_eq!(created.aws_account_id(), Some(account.as_str()));
    assert_eq!(created.description(), Some("e2e: created with everything"));
    assert!(created.enabled());
    assert_eq!(created.key_state(), Some(&KeyState::Enabled));
    assert_eq!(created.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(created.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(created.origin(), Some(&OriginType::AwsKms));
    assert_eq!(created.key_manager(), Some(&KeyManagerType::Customer));
    assert_eq!(created.encryption_algorithms(), &[EncryptionAlgorithmSpec::SymmetricDefault]);
    assert_eq!(created.multi_region(), Some(false));
    assert_eq!(created.deletion_date(), None);
    let creation = created.creation_date().expect("CreationDate").secs();
    assert!((before - 1..=after + 1).contains(&creation), "CreationDate {creation} not in [{before}, {after}]");

    // The policy and the tags are the ones sent.
    let got = client.get_key_policy().key_id(&key_id).send().await.expect("GetKeyPolicy");
    assert_eq!(got.policy(), Some(policy.as_str()));
    assert_eq!(got.policy_name(), Some("default"));
    let expected_tags: BTreeMap<String, String> = [("team", "e2e"), ("env", "test")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(tags_of(&client, &key_id).await, expected_tags);

    // The four ways to name a key all reach it.
    client.create_alias().alias_name("alias/e2e/describe").target_key_id(&key_id).send().await.expect("CreateAlias");
    let alias_arn = format!("arn:aws:kms:{REGION}:{account}:alias/e2e/describe");
    for reference in [key_id.as_str(), arn.as_str(), "alias/e2e/describe", alias_arn.as_str()] {
        let m = describe(&client, reference).await;
        assert_eq!(m.key_id(), key_id, "DescribeKey {reference}");
        assert_eq!(m.arn(), Some(arn.as_str()), "DescribeKey {reference}");
        assert_eq!(m.description(), Some("e2e: created with everything"), "DescribeKey {reference}");
        assert_eq!(m.creation_date().map(|d| d.secs()), Some(creation));
    }

    // Names of things that do not exist.
    let missing_id = "00000000-0000-4000-8000-000000000000";
    let err = client.describe_key().key_id(missing_id).send().await.expect_err("DescribeKey of a missing key");
    let error_request_id = err.request_id().expect("errors carry x-amzn-RequestId too").to_owned();
    assert_ne!(error_request_id, request_id);
    assert_err!(client.describe_key().key_id(missing_id).send().await, is_not_found_exception);
    assert_err!(client.describe_key().key_id(format!("arn:aws:kms:{REGION}:{account}:key/{missing_id}")).send().await, is_not_found_exception);
    assert_err!(client.describe_key().key_id("alias/e2e/missing").send().await, is_not_found_exception);
    assert_err!(client.describe_key().key_id(format!("arn:aws:kms:{REGION}:{account}:alias/e2e/missing")).send().await, is_not_found_exception);
}

#[tokio::test]
async fn list_keys_pages_one_key_at_a_time() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let mut created = BTreeSet::new();
    for i in 0..4 {
        created.insert(new_key(&client, &format!("page {i}")).await.key_id().to_owned());
    }

    // By hand: Limit=1, following NextMarker.
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for page in 1.. {
        assert!(page <= 10, "ListKeys never stopped paging");
        let out = client.list_keys().limit(1).set_marker(marker.clone()).send().await.expect("ListKeys");
        assert_eq!(out.keys().len(), 1, "page {page}: {out:?}");
        for entry in out.keys() {
            let id = entry.key_id().unwrap().to_owned();
            assert!(entry.key_arn().unwrap().ends_with(&format!(":key/{id}")), "{entry:?}");
            assert!(entry.key_arn().unwrap().starts_with(&format!("arn:aws:kms:{REGION}:")), "{entry:?}");
            seen.push(id);
        }
        if out.truncated() {
            marker = Some(out.next_marker().expect("a truncated page has a NextMarker").to_owned());
        } else {
            assert_eq!(out.next_marker(), None, "last page");
            break;
        }
    }
    assert_eq!(seen.len(), created.len(), "every key exactly once: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), created);

    // With the SDK's paginator.
    let pages: Vec<_> = client.list_keys().limit(1).into_paginator().send().try_collect().await.expect("paginator");
    assert_eq!(pages.len(), created.len(), "one key a page");
    let from_pages: Vec<String> = pages.iter().flat_map(|p| p.keys()).map(|k| k.key_id().unwrap().to_owned()).collect();
    assert_eq!(from_pages, seen, "the paginator sees the same order as manual paging");
    let items: Vec<_> = client.list_keys().into_paginator().page_size(1).items().send().try_collect().await.expect("items");
    assert_eq!(items.iter().map(|k| k.key_id().unwrap().to_owned()).collect::<Vec<_>>(), seen);

    // Without a Limit, one page holds everything.
    let all = client.list_keys().send().await.expect("ListKeys");
    assert!(!all.truncated());
    assert_eq!(all.keys().iter().map(|k| k.key_id().unwrap().to_owned()).collect::<BTreeSet<_>>(), created);

    // A marker Trent never issued.
    assert_err!(client.list_keys().marker("not a marker!").send().await, is_invalid_marker_exception);
}

#[tokio::test]
async fn encrypt_and_decrypt_with_an_encryption_context() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let key = new_key(&client, "encrypt").await;
    let other = new_key(&client, "other").await;
    let key_arn = key.arn().unwrap().to_owned();
    client.create_alias().alias_name("alias/e2e/enc").target_key_id(key.key_id()).send().await.unwrap();

    let plaintext = b"attack at dawn \x00\xff binary too".to_vec();
    let ctx = context(&[("purpose", "e2e"), ("tenant", "42")]);
    let enc = client
        .encrypt()
        .key_id("alias/e2e/enc")
        .plaintext(Blob::new(plaintext.clone()))
        .set_encryption_context(Some(ctx.clone()))
        .send()
        .await
        .expect("Encrypt");
    assert_eq!(enc.key_id(), Some(key_arn.as_str()), "Encrypt answers with the key ARN, even for an alias");
    assert_eq!(enc.encryption_algorithm(), Some(&EncryptionAlgorithmSpec::SymmetricDefault));
    let blob = enc.ciphertext_blob().expect("CiphertextBlob").clone();
    assert!(blob.as_ref().len() > plaintext.len());
    assert!(!blob.as_ref().windows(plaintext.len()).any(|w| w == plaintext.as_slice()), "the plaintext shows in the ciphertext");

    // The same plaintext twice gives different ciphertexts.
    let again = client.encrypt().key_id(key.key_id()).plaintext(Blob::new(plaintext.clone())).set_encryption_context(Some(ctx.clone())).send().await.unwrap();
    assert_ne!(again.ciphertext_blob().unwrap().as_ref(), blob.as_ref());

    // Decrypt without KeyId: the ciphertext names its key.
    let dec = client.decrypt().ciphertext_blob(blob.clone()).set_encryption_context(Some(ctx.clone())).send().await.expect("Decrypt");
    assert_eq!(dec.plaintext().unwrap().as_ref(), plaintext.as_slice());
    assert_eq!(dec.key_id(), Some(key_arn.as_str()));
    assert_eq!(dec.encryption_algorithm(), Some(&EncryptionAlgorithmSpec::SymmetricDefault));

    // Decrypt with KeyId in every form that names the right key.
    for reference in [key.key_id(), key_arn.as_str(), "alias/e2e/enc"] {
        let dec = client
            .decrypt()
            .ciphertext_blob(blob.clone())
            .key_id(reference)
            .set_encryption_context(Some(ctx.clone()))
            .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
            .send()
            .await
            .unwrap_or_else(|e| panic!("Decrypt with KeyId {reference}: {e:?}"));
        assert_eq!(dec.plaintext().unwrap().as_ref(), plaintext.as_slice());
    }

    // The wrong key.
    assert_err!(
        client.decrypt().ciphertext_blob(blob.clone()).key_id(other.key_id()).set_encryption_context(Some(ctx.clone())).send().await,
        is_incorrect_key_exception
    );

    // Any change to the encryption context.
    let wrong_contexts = [
        None,
        Some(context(&[("purpose", "e2e")])),
        Some(context(&[("purpose", "e2e"), ("tenant", "43")])),
        Some(context(&[("purpose", "e2e"), ("tenant", "42"), ("extra", "1")])),
        Some(context(&[("Purpose", "e2e"), ("tenant", "42")])),
    ];
    for wrong in wrong_contexts {
        assert_err!(client.decrypt().ciphertext_blob(blob.clone()).set_encryption_context(wrong).send().await, is_invalid_ciphertext_exception);
    }

    // Any change to the ciphertext.
    let mut tampered = blob.as_ref().to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    assert_err!(client.decrypt().ciphertext_blob(Blob::new(tampered)).set_encryption_context(Some(ctx.clone())).send().await, is_invalid_ciphertext_exception);
    assert_err!(client.decrypt().ciphertext_blob(Blob::new(b"not a ciphertext".to_vec())).send().await, is_invalid_ciphertext_exception);

    // A symmetric key has one algorithm.
    assert_err!(
        client.encrypt().key_id(key.key_id()).plaintext(Blob::new(b"x".to_vec())).encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256).send().await,
        is_invalid_key_usage_exception
    );
    assert_err!(
        client
            .decrypt()
            .ciphertext_blob(blob.clone())
            .set_encryption_context(Some(ctx.clone()))
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
            .send()
            .await,
        is_invalid_key_usage_exception
    );

    // Without an encryption context, decrypting needs none.
    let plain = client.encrypt().key_id(&key_arn).plaintext(Blob::new(b"no context".to_vec())).send().await.unwrap();
    let dec = client.decrypt().ciphertext_blob(plain.ciphertext_blob().unwrap().clone()).send().await.unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"no context");

    // The largest plaintext KMS takes, and one byte more (the model's 4096).
    let max = vec![0x5a; 4096];
    let enc = client.encrypt().key_id(key.key_id()).plaintext(Blob::new(max.clone())).send().await.expect("Encrypt 4096 bytes");
    let dec = client.decrypt().ciphertext_blob(enc.ciphertext_blob().unwrap().clone()).send().await.unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), max.as_slice());
    let too_big = client.encrypt().key_id(key.key_id()).plaintext(Blob::new(vec![0; 4097])).send().await;
    assert_eq!(common::code(&too_big.expect_err("4097 bytes")), "ValidationException");
}

#[tokio::test]
async fn re_encrypt_moves_a_ciphertext_to_another_key_and_context() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let source = new_key(&client, "source").await;
    let destination = new_key(&client, "destination").await;
    let third = new_key(&client, "third").await;
    let source_ctx = context(&[("stage", "source")]);
    let destination_ctx = context(&[("stage", "destination")]);

    let enc = client.encrypt().key_id(source.key_id()).plaintext(Blob::new(b"moving secret".to_vec())).set_encryption_context(Some(source_ctx.clone())).send().await.unwrap();
    let original = enc.ciphertext_blob().unwrap().clone();

    let re = client
        .re_encrypt()
        .ciphertext_blob(original.clone())
        .set_source_encryption_context(Some(source_ctx.clone()))
        .destination_key_id(destination.key_id())
        .set_destination_encryption_context(Some(destination_ctx.clone()))
        .send()
        .await
        .expect("ReEncrypt");
    assert_eq!(re.source_key_id(), source.arn());
    assert_eq!(re.key_id(), destination.arn());
    assert_eq!(re.source_encryption_algorithm(), Some(&EncryptionAlgorithmSpec::SymmetricDefault));
    assert_eq!(re.destination_encryption_algorithm(), Some(&EncryptionAlgorithmSpec::SymmetricDefault));
    let moved = re.ciphertext_blob().unwrap().clone();
    assert_ne!(moved.as_ref(), original.as_ref());

    let dec = client.decrypt().ciphertext_blob(moved.clone()).set_encryption_context(Some(destination_ctx.clone())).send().await.expect("Decrypt re-encrypted");
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"moving secret");
    assert_eq!(dec.key_id(), destination.arn());
    assert_err!(client.decrypt().ciphertext_blob(moved.clone()).set_encryption_context(Some(source_ctx.clone())).send().await, is_invalid_ciphertext_exception);
    assert_err!(
        client.decrypt().ciphertext_blob(moved).key_id(source.key_id()).set_encryption_context(Some(destination_ctx.clone())).send().await,
        is_incorrect_key_exception
    );

    // SourceKeyId must be the key the ciphertext was made with.
    let ok = client
        .re_encrypt()
        .ciphertext_blob(original.clone())
        .source_key_id(source.arn().unwrap())
        .set_source_encryption_context(Some(source_ctx.clone()))
        .destination_key_id(third.arn().unwrap())
        .send()
        .await
        .expect("ReEncrypt with SourceKeyId");
    assert_eq!(ok.key_id(), third.arn());
    assert_err!(
        client
            .re_encrypt()
            .ciphertext_blob(original.clone())
            .source_key_id(third.key_id())
            .set_source_encryption_context(Some(source_ctx.clone()))
            .destination_key_id(destination.key_id())
            .send()
            .await,
        is_incorrect_key_exception
    );
    // The source context is checked too.
    assert_err!(
        client.re_encrypt().ciphertext_blob(original).destination_key_id(destination.key_id()).send().await,
        is_invalid_ciphertext_exception
    );
}

#[tokio::test]
async fn generate_data_keys_with_and_without_plaintext() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let key = new_key(&client, "data keys").await;
    let ctx = context(&[("file", "backup.tar")]);

    let mut plaintexts = BTreeSet::new();
    for (spec, bytes, len) in [(Some(DataKeySpec::Aes256), None, 32usize), (Some(DataKeySpec::Aes128), None, 16), (None, Some(64), 64), (None, Some(1), 1), (None, Some(1024), 1024)] {
        let out = client
            .generate_data_key()
            .key_id(key.key_id())
            .set_key_spec(spec.clone())
            .set_number_of_bytes(bytes)
            .set_encryption_context(Some(ctx.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GenerateDataKey {spec:?} {bytes:?}: {e:?}"));
        assert_eq!(out.key_id(), key.arn());
        let plain = out.plaintext().unwrap().as_ref().to_vec();
        assert_eq!(plain.len(), len, "{spec:?} {bytes:?}");
        let dec = client.decrypt().ciphertext_blob(out.ciphertext_blob().unwrap().clone()).set_encryption_context(Some(ctx.clone())).send().await.expect("Decrypt data key");
        assert_eq!(dec.plaintext().unwrap().as_ref(), plain.as_slice(), "the encrypted copy holds the same data key");
        assert_eq!(dec.key_id(), key.arn());
        if len >= 16 {
            assert!(plaintexts.insert(plain), "a data key came twice");
        }
    }

    for (spec, bytes, len) in [(Some(DataKeySpec::Aes256), None, 32usize), (Some(DataKeySpec::Aes128), None, 16), (None, Some(48), 48)] {
        let out = client
            .generate_data_key_without_plaintext()
            .key_id(key.key_id())
            .set_key_spec(spec.clone())
            .set_number_of_bytes(bytes)
            .set_encryption_context(Some(ctx.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GenerateDataKeyWithoutPlaintext {spec:?} {bytes:?}: {e:?}"));
        assert_eq!(out.key_id(), key.arn());
        let dec = client.decrypt().ciphertext_blob(out.ciphertext_blob().unwrap().clone()).set_encryption_context(Some(ctx.clone())).send().await.unwrap();
        assert_eq!(dec.plaintext().unwrap().as_ref().len(), len, "{spec:?} {bytes:?}");
        assert_err!(client.decrypt().ciphertext_blob(out.ciphertext_blob().unwrap().clone()).send().await, is_invalid_ciphertext_exception);
    }

    // Exactly one of KeySpec and NumberOfBytes.
    let both = client.generate_data_key().key_id(key.key_id()).key_spec(DataKeySpec::Aes256).number_of_bytes(32).send().await;
    assert_eq!(common::code(&both.expect_err("KeySpec and NumberOfBytes")), "ValidationException");
    let neither = client.generate_data_key().key_id(key.key_id()).send().await;
    assert_eq!(common::code(&neither.expect_err("neither KeySpec nor NumberOfBytes")), "ValidationException");
    assert_err!(client.generate_data_key().key_id("alias/e2e/none").key_spec(DataKeySpec::Aes256).send().await, is_not_found_exception);
}

#[tokio::test]
async fn generate_random_returns_the_bytes_asked_for() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    for n in [1, 16, 32, 1024] {
        let out = client.generate_random().number_of_bytes(n).send().await.unwrap_or_else(|e| panic!("GenerateRandom {n}: {e:?}"));
        assert_eq!(out.plaintext().unwrap().as_ref().len(), n as usize);
    }
    let a = client.generate_random().number_of_bytes(32).send().await.unwrap();
    let b = client.generate_random().number_of_bytes(32).send().await.unwrap();
    assert_ne!(a.plaintext().unwrap().as_ref(), b.plaintext().unwrap().as_ref());
    assert_ne!(a.plaintext().unwrap().as_ref(), &[0u8; 32]);
    for bad in [0, 1025] {
        let out = client.generate_random().number_of_bytes(bad).send().await;
        assert_eq!(common::code(&out.expect_err("out of range")), "ValidationException", "NumberOfBytes {bad}");
    }
}

#[tokio::test]
async fn disable_and_enable_a_key() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let key = new_key(&client, "toggle").await;
    let id = key.key_id();
    let enc = client.encrypt().key_id(id).plaintext(Blob::new(b"before".to_vec())).send().await.unwrap();
    let blob = enc.ciphertext_blob().unwrap().clone();

    client.disable_key().key_id(id).send().await.expect("DisableKey");
    let m = describe(&client, id).await;
    assert!(!m.enabled());
    assert_eq!(m.key_state(), Some(&KeyState::Disabled));
    assert_err!(client.encrypt().key_id(id).plaintext(Blob::new(b"x".to_vec())).send().await, is_disabled_exception);
    assert_err!(client.decrypt().ciphertext_blob(blob.clone()).send().await, is_disabled_exception);
    assert_err!(client.generate_data_key().key_id(id).key_spec(DataKeySpec::Aes256).send().await, is_disabled_exception);
    assert_err!(client.generate_data_key_without_plaintext().key_id(id).key_spec(DataKeySpec::Aes256).send().await, is_disabled_exception);
    // Disabling twice is fine; management still works on a disabled key.
    client.disable_key().key_id(key.arn().unwrap()).send().await.expect("DisableKey again");
    client.update_key_description().key_id(id).description("while disabled").send().await.expect("UpdateKeyDescription on a disabled key");

    client.enable_key().key_id(key.arn().unwrap()).send().await.expect("EnableKey");
    let m = describe(&client, id).await;
    assert!(m.enabled());
    assert_eq!(m.key_state(), Some(&KeyState::Enabled));
    assert_eq!(m.description(), Some("while disabled"));
    let dec = client.decrypt().ciphertext_blob(blob).send().await.expect("Decrypt after EnableKey");
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"before");
    client.encrypt().key_id(id).plaintext(Blob::new(b"after".to_vec())).send().await.expect("Encrypt after EnableKey");
    client.enable_key().key_id(id).send().await.expect("EnableKey again");

    assert_err!(client.disable_key().key_id("00000000-0000-4000-8000-000000000000").send().await, is_not_found_exception);
}

#[tokio::test]
async fn schedule_and_cancel_key_deletion() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let seven = new_key(&client, "seven days").await;
    let thirty = new_key(&client, "thirty days").await;
    let enc = client.encrypt().key_id(seven.key_id()).plaintext(Blob::new(b"doomed".to_vec())).send().await.unwrap();
    let blob = enc.ciphertext_blob().unwrap().clone();
    client.create_alias().alias_name("alias/e2e/doomed").target_key_id(seven.key_id()).send().await.unwrap();
    client.create_alias().alias_name("alias/e2e/doomed-2").target_key_id(seven.key_id()).send().await.unwrap();
    client.create_alias().alias_name("alias/e2e/moving").target_key_id(seven.key_id()).send().await.unwrap();
    let spare = new_key(&client, "spare").await;

    for (key, days) in [(&seven, Some(7)), (&thirty, None)] {
        let expected_days = days.unwrap_or(30);
        let now = now_secs();
        let out = client.schedule_key_deletion().key_id(key.key_id()).set_pending_window_in_days(days).send().await.expect("ScheduleKeyDeletion");
        assert_eq!(out.key_id(), key.arn());
        assert_eq!(out.key_state(), Some(&KeyState::PendingDeletion));
        assert_eq!(out.pending_window_in_days(), Some(expected_days));
        let date = out.deletion_date().expect("DeletionDate").secs();
        let expected = now + i64::from(expected_days) * DAY_SECS;
        assert!((date - expected).abs() <= 60, "DeletionDate {date} is not within a minute of now + {expected_days} days ({expected})");

        let m = describe(&client, key.key_id()).await;
        assert_eq!(m.key_state(), Some(&KeyState::PendingDeletion));
        assert!(!m.enabled());
        assert_eq!(m.deletion_date().map(|d| d.secs()), Some(date));
        // The model: present only for PendingReplicaDeletion (multi-Region primaries).
        assert_eq!(m.pending_deletion_window_in_days(), None);
    }

    // A key pending deletion can be described, not used or changed.
    let id = seven.key_id();
    assert_err!(client.encrypt().key_id(id).plaintext(Blob::new(b"x".to_vec())).send().await, is_kms_invalid_state_exception);
    assert_err!(client.encrypt().key_id("alias/e2e/doomed").plaintext(Blob::new(b"x".to_vec())).send().await, is_kms_invalid_state_exception);
    assert_err!(client.decrypt().ciphertext_blob(blob.clone()).send().await, is_kms_invalid_state_exception);
    assert_err!(client.enable_key().key_id(id).send().await, is_kms_invalid_state_exception);
    assert_err!(client.schedule_key_deletion().key_id(id).pending_window_in_days(7).send().await, is_kms_invalid_state_exception);
    assert_err!(client.update_key_description().key_id(id).description("no").send().await, is_kms_invalid_state_exception);
    assert_err!(client.disable_key().key_id(id).send().await, is_kms_invalid_state_exception);
    assert_err!(client.create_alias().alias_name("alias/e2e/late").target_key_id(id).send().await, is_kms_invalid_state_exception);
    assert_err!(client.tag_resource().key_id(id).tags(tag("t", "v")).send().await, is_kms_invalid_state_exception);
    assert_err!(client.untag_resource().key_id(id).tag_keys("t").send().await, is_kms_invalid_state_exception);
    // Reading its policy, tags and aliases still works; so does deleting an alias.
    client.get_key_policy().key_id(id).send().await.expect("GetKeyPolicy on a key pending deletion");
    client.list_key_policies().key_id(id).send().await.expect("ListKeyPolicies on a key pending deletion");
    client.list_resource_tags().key_id(id).send().await.expect("ListResourceTags on a key pending deletion");
    let listed = client.list_aliases().key_id(id).send().await.expect("ListAliases on a key pending deletion");
    assert_eq!(
        listed.aliases().iter().map(|a| a.alias_name().unwrap()).collect::<BTreeSet<_>>(),
        BTreeSet::from(["alias/e2e/doomed", "alias/e2e/doomed-2", "alias/e2e/moving"])
    );
    client.delete_alias().alias_name("alias/e2e/doomed-2").send().await.expect("DeleteAlias of a key pending deletion");
    // UpdateAlias may move an alias away from a key pending deletion, not onto one.
    client.update_alias().alias_name("alias/e2e/moving").target_key_id(spare.key_id()).send().await.expect("UpdateAlias away from a key pending deletion");
    assert_eq!(describe(&client, "alias/e2e/moving").await.key_id(), spare.key_id());
    assert_err!(client.update_alias().alias_name("alias/e2e/moving").target_key_id(id).send().await, is_kms_invalid_state_exception);
    assert_eq!(describe(&client, "alias/e2e/moving").await.key_id(), spare.key_id());

    // Waiting periods outside 7..=30 days.
    let other = new_key(&client, "bounds").await;
    for bad in [6, 31] {
        let out = client.schedule_key_deletion().key_id(other.key_id()).pending_window_in_days(bad).send().await;
        assert_eq!(common::code(&out.expect_err("out of range")), "ValidationException", "PendingWindowInDays {bad}");
    }
    assert_eq!(describe(&client, other.key_id()).await.key_state(), Some(&KeyState::Enabled));
    assert_err!(client.cancel_key_deletion().key_id(other.key_id()).send().await, is_kms_invalid_state_exception);

    // Cancelling brings the key back disabled.
    let out = client.cancel_key_deletion().key_id(seven.arn().unwrap()).send().await.expect("CancelKeyDeletion");
    assert_eq!(out.key_id(), seven.arn());
    let m = describe(&client, id).await;
    assert_eq!(m.key_state(), Some(&KeyState::Disabled));
    assert!(!m.enabled());
    assert_eq!(m.deletion_date(), None);
    assert_eq!(m.pending_deletion_window_in_days(), None);
    assert_err!(client.decrypt().ciphertext_blob(blob.clone()).send().await, is_disabled_exception);
    client.enable_key().key_id(id).send().await.expect("EnableKey after cancel");
    let dec = client.decrypt().ciphertext_blob(blob).send().await.expect("Decrypt after cancel + enable");
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"doomed");
    assert_eq!(describe(&client, "alias/e2e/doomed").await.key_id(), id, "the alias outlives a cancelled deletion");

    // The other one is still pending.
    assert_eq!(describe(&client, thirty.key_id()).await.key_state(), Some(&KeyState::PendingDeletion));
}

#[tokio::test]
async fn update_key_description() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let key = new_key(&client, "before").await;
    let untouched = new_key(&client, "untouched").await;
    client.update_key_description().key_id(key.key_id()).description("after: ünïcödé ✓").send().await.expect("UpdateKeyDescription");
    assert_eq!(describe(&client, key.key_id()).await.description(), Some("after: ünïcödé ✓"));
    client.update_key_description().key_id(key.arn().unwrap()).description("").send().await.expect("UpdateKeyDescription by ARN");
    assert_eq!(describe(&client, key.key_id()).await.description(), Some(""));
    assert_eq!(describe(&client, untouched.key_id()).await.description(), Some("untouched"));
    assert_err!(
        client.update_key_description().key_id("00000000-0000-4000-8000-000000000000").description("x").send().await,
        is_not_found_exception
    );
}

#[tokio::test]
async fn create_update_delete_and_list_aliases() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let a = new_key(&client, "a").await;
    let b = new_key(&client, "b").await;
    let account = a.aws_account_id().unwrap().to_owned();

    let before = now_secs();
    client.create_alias().alias_name("alias/e2e/one").target_key_id(a.key_id()).send().await.expect("CreateAlias by key id");
    client.create_alias().alias_name("alias/e2e/two").target_key_id(a.arn().unwrap()).send().await.expect("CreateAlias by key ARN");
    let after = now_secs();
    assert_err!(client.create_alias().alias_name("alias/e2e/one").target_key_id(b.key_id()).send().await, is_already_exists_exception);
    assert_err!(
        client.create_alias().alias_name("alias/e2e/three").target_key_id("00000000-0000-4000-8000-000000000000").send().await,
        is_not_found_exception
    );

    let list = |key: Option<String>| {
        let client = client.clone();
        async move {
            let out = client.list_aliases().set_key_id(key).send().await.expect("ListAliases");
            assert!(!out.truncated());
            out.aliases().to_vec()
        }
    };

    let of_a = list(Some(a.key_id().to_owned())).await;
    let names: BTreeSet<_> = of_a.iter().map(|x| x.alias_name().unwrap().to_owned()).collect();
    assert_eq!(names, ["alias/e2e/one", "alias/e2e/two"].into_iter().map(String::from).collect());
    for entry in &of_a {
        let name = entry.alias_name().unwrap();
        assert_eq!(entry.alias_arn(), Some(format!("arn:aws:kms:{REGION}:{account}:{name}").as_str()));
        assert_eq!(entry.target_key_id(), Some(a.key_id()));
        let created = entry.creation_date().expect("CreationDate").secs();
        assert!((before - 1..=after + 1).contains(&created), "{entry:?}");
    }
    assert!(list(Some(b.key_id().to_owned())).await.is_empty());
    let everything: BTreeSet<_> = list(None).await.iter().map(|x| x.alias_name().unwrap().to_owned()).collect();
    assert!(everything.contains("alias/e2e/one") && everything.contains("alias/e2e/two"), "{everything:?}");

    // Paging through aliases one at a time.
    let pages: Vec<_> = client.list_aliases().key_id(a.key_id()).limit(1).into_paginator().send().try_collect().await.expect("ListAliases pages");
    assert_eq!(pages.len(), 2);
    assert_eq!(pages.iter().flat_map(|p| p.aliases()).map(|x| x.alias_name().unwrap().to_owned()).collect::<BTreeSet<_>>(), names);

    // UpdateAlias moves a name to another key.
    client.update_alias().alias_name("alias/e2e/one").target_key_id(b.key_id()).send().await.expect("UpdateAlias");
    assert_eq!(describe(&client, "alias/e2e/one").await.key_id(), b.key_id());
    assert_eq!(describe(&client, "alias/e2e/two").await.key_id(), a.key_id());
    let of_b = list(Some(b.key_id().to_owned())).await;
    assert_eq!(of_b.len(), 1);
    assert_eq!(of_b[0].alias_name(), Some("alias/e2e/one"));
    assert_eq!(of_b[0].target_key_id(), Some(b.key_id()));
    assert!(of_b[0].last_updated_date().unwrap().secs() >= of_b[0].creation_date().unwrap().secs());
    let of_a = list(Some(a.key_id().to_owned())).await;
    assert_eq!(of_a.iter().map(|x| x.alias_name().unwrap()).collect::<Vec<_>>(), ["alias/e2e/two"]);
    let enc = client.encrypt().key_id("alias/e2e/one").plaintext(Blob::new(b"via alias".to_vec())).send().await.unwrap();
    assert_eq!(enc.key_id(), b.arn());
    assert_err!(client.update_alias().alias_name("alias/e2e/missing").target_key_id(b.key_id()).send().await, is_not_found_exception);

    // DeleteAlias removes the name, not the key.
    client.delete_alias().alias_name("alias/e2e/one").send().await.expect("DeleteAlias");
    assert_err!(client.describe_key().key_id("alias/e2e/one").send().await, is_not_found_exception);
    assert!(list(Some(b.key_id().to_owned())).await.is_empty());
    assert_eq!(describe(&client, b.key_id()).await.key_state(), Some(&KeyState::Enabled));
    assert_err!(client.delete_alias().alias_name("alias/e2e/one").send().await, is_not_found_exception);
    // The name is free again.
    client.create_alias().alias_name("alias/e2e/one").target_key_id(a.key_id()).send().await.expect("CreateAlias after delete");
    assert_eq!(describe(&client, "alias/e2e/one").await.key_id(), a.key_id());
}

#[tokio::test]
async fn tag_untag_and_list_resource_tags() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let key = client.create_key().tags(tag("a", "1")).send().await.unwrap().key_metadata.unwrap();
    let bare = new_key(&client, "no tags").await;
    let id = key.key_id();
    let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();

    assert_eq!(tags_of(&client, id).await, map(&[("a", "1")]));
    assert!(tags_of(&client, bare.key_id()).await.is_empty());

    client.tag_resource().key_id(id).tags(tag("b", "2")).tags(tag("a", "replaced")).tags(tag("empty", "")).send().await.expect("TagResource");
    assert_eq!(tags_of(&client, id).await, map(&[("a", "replaced"), ("b", "2"), ("empty", "")]));
    client.tag_resource().key_id(key.arn().unwrap()).tags(tag("c", "3")).send().await.expect("TagResource by ARN");

    // Paging, one tag a page.
    let mut seen = BTreeMap::new();
    let mut marker = None;
    for page in 1.. {
        assert!(page <= 10, "ListResourceTags never stopped paging");
        let out = client.list_resource_tags().key_id(id).limit(1).set_marker(marker).send().await.expect("ListResourceTags page");
        assert_eq!(out.tags().len(), 1);
        seen.extend(out.tags().iter().map(|t| (t.tag_key.clone(), t.tag_value.clone())));
        if !out.truncated() {
            break;
        }
        marker = out.next_marker().map(str::to_owned);
    }
    assert_eq!(seen, map(&[("a", "replaced"), ("b", "2"), ("c", "3"), ("empty", "")]));

    client.untag_resource().key_id(id).tag_keys("a").tag_keys("not-there").tag_keys("empty").send().await.expect("UntagResource");
    assert_eq!(tags_of(&client, id).await, map(&[("b", "2"), ("c", "3")]));
    assert!(tags_of(&client, bare.key_id()).await.is_empty(), "other keys keep their own tags");

    assert_err!(client.tag_resource().key_id(id).tags(tag("aws:reserved", "x")).send().await, is_tag_exception);
    assert_err!(client.tag_resource().key_id("00000000-0000-4000-8000-000000000000").tags(tag("x", "y")).send().await, is_not_found_exception);
    assert_eq!(tags_of(&client, id).await, map(&[("b", "2"), ("c", "3")]), "a refused TagResource changes nothing");
}

#[tokio::test]
async fn get_put_and_list_key_policies() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let key = new_key(&client, "policies").await;
    let id = key.key_id();
    let account = key.aws_account_id().unwrap();

    // The default policy lets the account's root (so IAM) do everything.
    let default = client.get_key_policy().key_id(id).send().await.expect("GetKeyPolicy without a name");
    assert_eq!(default.policy_name(), Some("default"));
    let doc: serde_json::Value = serde_json::from_str(default.policy().unwrap()).expect("the default policy is JSON");
    assert_eq!(doc["Version"], "2012-10-17");
    let statements = doc["Statement"].as_array().expect("Statement list");
    assert!(
        statements.iter().any(|s| s["Effect"] == "Allow"
            && s["Principal"]["AWS"] == format!("arn:aws:iam::{account}:root").as_str()
            && s["Action"] == "kms:*"
            && s["Resource"] == "*"),
        "{doc}"
    );

    let listed = client.list_key_policies().key_id(id).send().await.expect("ListKeyPolicies");
    assert_eq!(listed.policy_names(), ["default"]);
    assert!(!listed.truncated());

    let policy = policy_for(account, "replaced-by-put");
    client.put_key_policy().key_id(key.arn().unwrap()).policy_name("default").policy(&policy).send().await.expect("PutKeyPolicy");
    let got = client.get_key_policy().key_id(id).policy_name("default").send().await.expect("GetKeyPolicy default");
    assert_eq!(got.policy(), Some(policy.as_str()), "GetKeyPolicy returns the document exactly as put");
    let policy2 = policy_for(account, "no-name");
    client.put_key_policy().key_id(id).policy(&policy2).send().await.expect("PutKeyPolicy without a name");
    assert_eq!(client.get_key_policy().key_id(id).send().await.unwrap().policy(), Some(policy2.as_str()));

    assert_err!(client.put_key_policy().key_id(id).policy("{ this is not json").send().await, is_malformed_policy_document_exception);
    assert_err!(client.put_key_policy().key_id(id).policy(r#"{"Version":"2012-10-17","Statement":[]}"#).send().await, is_malformed_policy_document_exception);
    assert_eq!(client.get_key_policy().key_id(id).send().await.unwrap().policy(), Some(policy2.as_str()), "a refused policy changes nothing");
    // The documented answer for a key without an AWS_RAM policy.
    assert_err!(client.get_key_policy().key_id(id).policy_name("AWS_RAM").send().await, is_not_found_exception);
    assert_err!(client.list_key_policies().key_id("00000000-0000-4000-8000-000000000000").send().await, is_not_found_exception);
}

#[tokio::test]
async fn dry_run_checks_everything_and_changes_nothing() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let key = new_key(&client, "dry run").await;
    let other = new_key(&client, "other").await;
    let id = key.key_id();

    let dry = client.encrypt().key_id(id).plaintext(Blob::new(b"dry".to_vec())).dry_run(true).send().await.expect_err("DryRun");
    // AWS answers a DryRun that would have succeeded with HTTP 400 (issue 17).
    assert_eq!(dry.raw_response().map(|r| r.status().as_u16()), Some(400));
    let dry = dry.into_service_error();
    assert!(dry.is_dry_run_operation_exception(), "{dry:?}");
    assert_err!(client.generate_data_key().key_id(id).key_spec(DataKeySpec::Aes256).dry_run(true).send().await, is_dry_run_operation_exception);
    assert_err!(
        client.generate_data_key_without_plaintext().key_id(id).key_spec(DataKeySpec::Aes256).dry_run(true).send().await,
        is_dry_run_operation_exception
    );
    let enc = client.encrypt().key_id(id).plaintext(Blob::new(b"real".to_vec())).dry_run(false).send().await.expect("Encrypt with DryRun=false");
    let blob = enc.ciphertext_blob().unwrap().clone();
    assert_err!(client.decrypt().ciphertext_blob(blob.clone()).dry_run(true).send().await, is_dry_run_operation_exception);
    assert_err!(client.re_encrypt().ciphertext_blob(blob.clone()).destination_key_id(other.key_id()).dry_run(true).send().await, is_dry_run_operation_exception);

    // A DryRun still reports the error the real request would get.
    assert_err!(client.decrypt().ciphertext_blob(blob.clone()).key_id(other.key_id()).dry_run(true).send().await, is_incorrect_key_exception);
    assert_err!(client.encrypt().key_id("alias/e2e/none").plaintext(Blob::new(b"x".to_vec())).dry_run(true).send().await, is_not_found_exception);
    client.disable_key().key_id(id).send().await.unwrap();
    assert_err!(client.encrypt().key_id(id).plaintext(Blob::new(b"x".to_vec())).dry_run(true).send().await, is_disabled_exception);
    client.enable_key().key_id(id).send().await.unwrap();

    let dec = client.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"real");
}

#[tokio::test]
async fn put_key_policy_works_on_a_key_pending_deletion() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let key = new_key(&client, "policy while pending").await;
    client.schedule_key_deletion().key_id(key.key_id()).pending_window_in_days(7).send().await.unwrap();
    // AWS's key state table lists no restriction for PutKeyPolicy in any key state.
    let policy = policy_for(key.aws_account_id().unwrap(), "pending");
    client.put_key_policy().key_id(key.key_id()).policy(&policy).send().await.expect("PutKeyPolicy on a key pending deletion");
    assert_eq!(client.get_key_policy().key_id(key.key_id()).send().await.unwrap().policy(), Some(policy.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_to_one_key_all_succeed() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let key = new_key(&client, "busy").await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (client, id) = (client.clone(), key.key_id().to_owned());
            tokio::spawn(async move { client.tag_resource().key_id(id).tags(tag(&format!("worker-{i}"), "done")).send().await })
        })
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.unwrap() {
            failures.push(e.into_service_error());
        }
    }
    assert!(failures.is_empty(), "{} of 8 concurrent TagResource calls failed, e.g. {:?}", failures.len(), failures.first());
    assert_eq!(tags_of(&client, key.key_id()).await.len(), 8, "every tag is kept");
}

#[tokio::test]
async fn dry_run_with_ignore_ciphertext_checks_only_the_key() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let key = new_key(&client, "ignore ciphertext").await;
    let other = new_key(&client, "destination").await;
    let garbage = Blob::new(b"not a ciphertext".to_vec());
    assert_err!(
        client.decrypt().key_id(key.key_id()).ciphertext_blob(garbage.clone()).dry_run(true).dry_run_modifiers(DryRunModifierType::IgnoreCiphertext).send().await,
        is_dry_run_operation_exception
    );
    assert_err!(
        client
            .re_encrypt()
            .source_key_id(key.key_id())
            .ciphertext_blob(garbage)
            .destination_key_id(other.key_id())
            .dry_run(true)
            .dry_run_modifiers(DryRunModifierType::IgnoreCiphertext)
            .send()
            .await,
        is_dry_run_operation_exception
    );
}
