//! What Trent keeps across restarts and crashes, and what it destroys once a
//! key's deletion waiting period has ended, through the official AWS SDK.

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState, Tag};
use aws_sdk_kms::Client;
use common::{Trent, DAY_SECS, REGION};

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().tag_key(k).tag_value(v).build().unwrap()
}

fn context(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

async fn describe(client: &Client, key: &str) -> aws_sdk_kms::types::KeyMetadata {
    client.describe_key().key_id(key).send().await.unwrap_or_else(|e| panic!("DescribeKey {key}: {e:?}")).key_metadata.unwrap()
}

async fn key_ids(client: &Client) -> BTreeSet<String> {
    let pages: Vec<_> = client.list_keys().into_paginator().send().try_collect().await.expect("ListKeys");
    pages.iter().flat_map(|p| p.keys()).map(|k| k.key_id().unwrap().to_owned()).collect()
}

/// Alias name -> target key id.
async fn aliases(client: &Client) -> BTreeMap<String, String> {
    let pages: Vec<_> = client.list_aliases().into_paginator().send().try_collect().await.expect("ListAliases");
    pages.iter().flat_map(|p| p.aliases()).map(|a| (a.alias_name().unwrap().to_owned(), a.target_key_id().unwrap_or_default().to_owned())).collect()
}

async fn tags_of(client: &Client, key: &str) -> BTreeMap<String, String> {
    let out = client.list_resource_tags().key_id(key).send().await.expect("ListResourceTags");
    out.tags().iter().map(|t| (t.tag_key.clone(), t.tag_value.clone())).collect()
}

async fn decrypt(client: &Client, blob: &Blob, ctx: Option<HashMap<String, String>>) -> Vec<u8> {
    let out = client.decrypt().ciphertext_blob(blob.clone()).set_encryption_context(ctx).send().await.unwrap_or_else(|e| panic!("Decrypt: {e:?}"));
    out.plaintext().unwrap().as_ref().to_vec()
}

#[tokio::test]
async fn keys_aliases_tags_policies_and_ciphertexts_survive_restarts_and_crashes() {
    let mut trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let credentials_before = std::fs::read(trent.data_dir().join("credentials")).unwrap();

    // A: everything on it. B: disabled. C: pending deletion.
    let a = client.create_key().description("persisted A").tags(tag("owner", "e2e")).tags(tag("tier", "gold")).send().await.unwrap().key_metadata.unwrap();
    let account = a.aws_account_id().unwrap().to_owned();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"persist","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    client.put_key_policy().key_id(a.key_id()).policy(&policy).send().await.unwrap();
    client.create_alias().alias_name("alias/persist/a").target_key_id(a.key_id()).send().await.unwrap();
    let b = client.create_key().description("persisted B").send().await.unwrap().key_metadata.unwrap();
    client.create_alias().alias_name("alias/persist/b").target_key_id(b.key_id()).send().await.unwrap();
    let c = client.create_key().description("persisted C").send().await.unwrap().key_metadata.unwrap();

    let ctx = context(&[("app", "persistence"), ("n", "1")]);
    let blob_a = client.encrypt().key_id("alias/persist/a").plaintext(Blob::new(b"secret A".to_vec())).set_encryption_context(Some(ctx.clone())).send().await.unwrap().ciphertext_blob.unwrap();
    let data_key = client.generate_data_key().key_id(a.key_id()).key_spec(DataKeySpec::Aes256).send().await.unwrap();
    let blob_b = client.encrypt().key_id(b.key_id()).plaintext(Blob::new(b"secret B".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();
    let blob_c = client.encrypt().key_id(c.key_id()).plaintext(Blob::new(b"secret C".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();
    client.disable_key().key_id(b.key_id()).send().await.unwrap();
    let scheduled = client.schedule_key_deletion().key_id(c.key_id()).pending_window_in_days(10).send().await.unwrap();
    let c_deletion = scheduled.deletion_date().unwrap().secs();

    let keys_before = key_ids(&client).await;
    let aliases_before = aliases(&client).await;
    assert_eq!(keys_before, [a.key_id(), b.key_id(), c.key_id()].into_iter().map(String::from).collect());
    assert_eq!(aliases_before.get("alias/persist/a").map(String::as_str), Some(a.key_id()));
    drop(client);

    trent.restart(&[]);
    // Same admin, same secret: the credentials file is not rewritten.
    assert_eq!(std::fs::read(trent.data_dir().join("credentials")).unwrap(), credentials_before);
    let client = trent.client(REGION);

    assert_eq!(key_ids(&client).await, keys_before);
    assert_eq!(aliases(&client).await, aliases_before);
    let ma = describe(&client, "alias/persist/a").await;
    assert_eq!(ma.key_id(), a.key_id());
    assert_eq!(ma.arn(), a.arn());
    assert_eq!(ma.description(), Some("persisted A"));
    assert_eq!(ma.key_state(), Some(&KeyState::Enabled));
    assert_eq!(ma.creation_date(), a.creation_date());
    assert_eq!(tags_of(&client, a.key_id()).await, [("owner", "e2e"), ("tier", "gold")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    assert_eq!(client.get_key_policy().key_id(a.key_id()).send().await.unwrap().policy(), Some(policy.as_str()));
    assert_eq!(describe(&client, b.key_id()).await.key_state(), Some(&KeyState::Disabled));
    let mc = describe(&client, c.key_id()).await;
    assert_eq!(mc.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(mc.deletion_date().map(|d| d.secs()), Some(c_deletion));
    assert_eq!(mc.pending_deletion_window_in_days(), None);

    // Old ciphertexts still decrypt, under the same keys and contexts.
    assert_eq!(decrypt(&client, &blob_a, Some(ctx.clone())).await, b"secret A");
    assert_err!(client.decrypt().ciphertext_blob(blob_a.clone()).send().await, is_invalid_ciphertext_exception);
    assert_eq!(decrypt(&client, data_key.ciphertext_blob().unwrap(), None).await, data_key.plaintext().unwrap().as_ref());
    assert_err!(client.decrypt().ciphertext_blob(blob_b.clone()).send().await, is_disabled_exception);
    client.enable_key().key_id(b.key_id()).send().await.unwrap();
    assert_eq!(decrypt(&client, &blob_b, None).await, b"secret B");
    assert_err!(client.decrypt().ciphertext_blob(blob_c.clone()).send().await, is_kms_invalid_state_exception);
    client.cancel_key_deletion().key_id(c.key_id()).send().await.unwrap();
    client.enable_key().key_id(c.key_id()).send().await.unwrap();
    assert_eq!(decrypt(&client, &blob_c, None).await, b"secret C");

    // Changes made after the restart, then a crash (SIGKILL) with no chance to flush.
    let d = client.create_key().description("made after restart").send().await.unwrap().key_metadata.unwrap();
    client.create_alias().alias_name("alias/persist/d").target_key_id(d.key_id()).send().await.unwrap();
    client.update_alias().alias_name("alias/persist/b").target_key_id(d.key_id()).send().await.unwrap();
    client.update_key_description().key_id(a.key_id()).description("renamed before the crash").send().await.unwrap();
    client.untag_resource().key_id(a.key_id()).tag_keys("tier").send().await.unwrap();
    client.tag_resource().key_id(a.key_id()).tags(tag("crash", "yes")).send().await.unwrap();
    client.disable_key().key_id(c.key_id()).send().await.unwrap();
    let blob_d = client.encrypt().key_id(d.key_id()).plaintext(Blob::new(b"secret D".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();
    drop(client);

    trent.crash_restart(&[]);
    let client = trent.client(REGION);
    let mut keys_now = keys_before.clone();
    keys_now.insert(d.key_id().to_owned());
    assert_eq!(key_ids(&client).await, keys_now);
    let aliases_now = aliases(&client).await;
    assert_eq!(aliases_now.get("alias/persist/a").map(String::as_str), Some(a.key_id()));
    assert_eq!(aliases_now.get("alias/persist/b").map(String::as_str), Some(d.key_id()));
    assert_eq!(aliases_now.get("alias/persist/d").map(String::as_str), Some(d.key_id()));
    assert_eq!(describe(&client, a.key_id()).await.description(), Some("renamed before the crash"));
    assert_eq!(tags_of(&client, a.key_id()).await, [("owner", "e2e"), ("crash", "yes")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    assert_eq!(describe(&client, b.key_id()).await.key_state(), Some(&KeyState::Enabled));
    assert_eq!(describe(&client, c.key_id()).await.key_state(), Some(&KeyState::Disabled));
    assert_eq!(decrypt(&client, &blob_d, None).await, b"secret D");
    assert_eq!(decrypt(&client, &blob_a, Some(ctx)).await, b"secret A");
    // A ciphertext made after the crash decrypts too.
    let blob_e = client.encrypt().key_id("alias/persist/b").plaintext(Blob::new(b"after crash".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();
    assert_eq!(decrypt(&client, &blob_e, None).await, b"after crash");
}

#[tokio::test]
async fn a_key_is_destroyed_only_after_its_waiting_period_ends() {
    let mut trent = Trent::start(&["--dev"]);
    let client = trent.client(REGION);
    let doomed = client.create_key().description("doomed").tags(tag("k", "v")).send().await.unwrap().key_metadata.unwrap();
    let kept = client.create_key().description("kept").send().await.unwrap().key_metadata.unwrap();
    client.create_alias().alias_name("alias/doomed").target_key_id(doomed.key_id()).send().await.unwrap();
    client.create_alias().alias_name("alias/doomed-too").target_key_id(doomed.key_id()).send().await.unwrap();
    client.create_alias().alias_name("alias/kept").target_key_id(kept.key_id()).send().await.unwrap();
    let blob_doomed = client.encrypt().key_id(doomed.key_id()).plaintext(Blob::new(b"lost forever".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();
    let blob_kept = client.encrypt().key_id(kept.key_id()).plaintext(Blob::new(b"still here".to_vec())).send().await.unwrap().ciphertext_blob.unwrap();
    let deletion = client.schedule_key_deletion().key_id(doomed.key_id()).pending_window_in_days(7).send().await.unwrap().deletion_date().unwrap().secs();
    drop(client);

    // Six days later: still waiting.
    let six_days = (6 * DAY_SECS).to_string();
    trent.restart(&["--dev", "--clock-offset-secs", &six_days]);
    let client = trent.client(REGION);
    let m = describe(&client, "alias/doomed").await;
    assert_eq!(m.key_id(), doomed.key_id());
    assert_eq!(m.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(m.deletion_date().map(|d| d.secs()), Some(deletion));
    assert!(key_ids(&client).await.contains(doomed.key_id()));
    assert_eq!(aliases(&client).await.get("alias/doomed").map(String::as_str), Some(doomed.key_id()));
    assert_err!(client.decrypt().ciphertext_blob(blob_doomed.clone()).send().await, is_kms_invalid_state_exception);
    drop(client);

    // Eight days later: gone, with its aliases.
    let eight_days = (8 * DAY_SECS).to_string();
    trent.restart(&["--dev", "--clock-offset-secs", &eight_days]);
    let client = trent.client(REGION);
    assert_err!(client.describe_key().key_id(doomed.key_id()).send().await, is_not_found_exception);
    assert_err!(client.describe_key().key_id(doomed.arn().unwrap()).send().await, is_not_found_exception);
    assert_err!(client.describe_key().key_id("alias/doomed").send().await, is_not_found_exception);
    assert_err!(client.cancel_key_deletion().key_id(doomed.key_id()).send().await, is_not_found_exception);
    assert_err!(client.list_resource_tags().key_id(doomed.key_id()).send().await, is_not_found_exception);
    assert_eq!(key_ids(&client).await, BTreeSet::from([kept.key_id().to_owned()]));
    assert_eq!(aliases(&client).await, BTreeMap::from([("alias/kept".to_owned(), kept.key_id().to_owned())]));
    // What it encrypted can never be decrypted again.
    let lost = client.decrypt().ciphertext_blob(blob_doomed).send().await.expect_err("decrypting under a destroyed key");
    let code = common::code(&lost);
    assert!(code == "InvalidCiphertextException" || code == "NotFoundException", "Decrypt under a destroyed key: {lost:?}");
    // The other key is untouched, and the freed alias name can be used again.
    assert_eq!(decrypt(&client, &blob_kept, None).await, b"still here");
    client.create_alias().alias_name("alias/doomed").target_key_id(kept.key_id()).send().await.expect("reusing a destroyed key's alias name");
    assert_eq!(describe(&client, "alias/doomed").await.key_id(), kept.key_id());
    drop(client);

    // Destruction is final: back at the real time, the key does not come back.
    trent.restart(&["--dev"]);
    let client = trent.client(REGION);
    assert_err!(client.describe_key().key_id(doomed.key_id()).send().await, is_not_found_exception);
    assert_eq!(key_ids(&client).await, BTreeSet::from([kept.key_id().to_owned()]));
}

/// Polls `check` every 100 ms until it returns true or `timeout` passes.
async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How long, in real time, the key stays pending deletion after the restart.
const LEAD_SECS: i64 = 4;

/// Schedules `key` for deletion in 7 days, then restarts the (dev mode)
/// server with its clock moved forward to `LEAD_SECS` before that moment:
/// the key is not due at start-up, and falls due while the server runs.
async fn restart_just_before_deletion(trent: &mut Trent, client: &Client, key: &str, sweep_interval_secs: u64) -> Client {
    let out = client.schedule_key_deletion().key_id(key).pending_window_in_days(7).send().await.expect("ScheduleKeyDeletion");
    let deletion = out.deletion_date().expect("DeletionDate").secs();
    let offset = (deletion - common::now_secs() - LEAD_SECS).to_string();
    trent.restart(&["--dev", "--clock-offset-secs", &offset, "--sweep-interval-secs", &sweep_interval_secs.to_string()]);
    trent.client(REGION)
}

#[tokio::test]
async fn a_running_server_destroys_a_due_key_when_a_request_touches_it() {
    let mut trent = Trent::start(&["--dev"]);
    let client = trent.client(REGION);
    let key = client.create_key().send().await.unwrap().key_metadata.unwrap();
    client.create_alias().alias_name("alias/touched").target_key_id(key.key_id()).send().await.unwrap();
    // The periodic sweep is an hour away: only the check on access can destroy the key.
    let client = restart_just_before_deletion(&mut trent, &client, key.key_id(), 3600).await;
    assert_eq!(describe(&client, key.key_id()).await.key_state(), Some(&KeyState::PendingDeletion));

    eventually(Duration::from_secs(20), "DescribeKey to answer NotFoundException", || async {
        match client.describe_key().key_id(key.key_id()).send().await {
            Ok(out) => {
                assert_eq!(out.key_metadata().unwrap().key_state(), Some(&KeyState::PendingDeletion));
                false
            }
            Err(e) => {
                assert!(e.into_service_error().is_not_found_exception());
                true
            }
        }
    })
    .await;
    assert_err!(client.describe_key().key_id("alias/touched").send().await, is_not_found_exception);
    assert!(!key_ids(&client).await.contains(key.key_id()));
    assert!(!aliases(&client).await.contains_key("alias/touched"));
}

#[tokio::test]
async fn a_running_server_sweeps_due_keys_periodically() {
    let mut trent = Trent::start(&["--dev"]);
    let client = trent.client(REGION);
    let key = client.create_key().send().await.unwrap().key_metadata.unwrap();
    let other = client.create_key().send().await.unwrap().key_metadata.unwrap();
    client.create_alias().alias_name("alias/swept").target_key_id(key.key_id()).send().await.unwrap();
    let client = restart_just_before_deletion(&mut trent, &client, key.key_id(), 1).await;
    assert!(key_ids(&client).await.contains(key.key_id()));
    assert!(aliases(&client).await.contains_key("alias/swept"));

    // ListKeys and ListAliases read the store without touching each key: only the sweeper removes it.
    eventually(Duration::from_secs(20), "the sweeper to destroy the key", || async { !key_ids(&client).await.contains(key.key_id()) }).await;
    assert!(!aliases(&client).await.contains_key("alias/swept"));
    assert_eq!(key_ids(&client).await, BTreeSet::from([other.key_id().to_owned()]));
}
