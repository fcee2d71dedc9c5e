//! Key rotation end to end through aws-sdk-kms: on demand (with AWS's limit
//! of 25), automatic on schedule with the server's clock moved, catch-up
//! after downtime exactly once, and every older ciphertext still decrypting.

#[macro_use]
mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{IncludeKeyMaterial, RotationType};
use common::{Trent, DAY_SECS, REGION};

async fn encrypt(client: &aws_sdk_kms::Client, key: &str, text: &str) -> Blob {
    client.encrypt().key_id(key).plaintext(Blob::new(text.as_bytes().to_vec())).send().await.unwrap().ciphertext_blob.unwrap()
}

async fn decrypt(client: &aws_sdk_kms::Client, blob: &Blob) -> (Vec<u8>, String) {
    let out = client.decrypt().ciphertext_blob(blob.clone()).send().await.unwrap();
    (out.plaintext.unwrap().into_inner(), out.key_material_id.unwrap())
}

async fn all_rotations(client: &aws_sdk_kms::Client, key: &str, page: i32) -> Vec<aws_sdk_kms::types::RotationsListEntry> {
    let (mut all, mut marker) = (Vec::new(), None);
    loop {
        let out = client.list_key_rotations().key_id(key).limit(page).set_marker(marker).send().await.unwrap();
        all.extend(out.rotations.unwrap_or_default());
        if !out.truncated {
            return all;
        }
        marker = out.next_marker;
    }
}

#[tokio::test]
async fn on_demand_rotations_keep_every_older_ciphertext_readable() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let key = client.create_key().send().await.unwrap().key_metadata.unwrap();
    let id = key.key_id().to_owned();
    client.create_alias().alias_name("alias/rotating").target_key_id(&id).send().await.unwrap();

    let mut blobs = vec![(encrypt(&client, "alias/rotating", "v0").await, key.current_key_material_id().unwrap().to_owned())];
    for n in 1..=10 {
        let out = client.rotate_key_on_demand().key_id("alias/rotating").send().await.expect_err("aliases are not accepted");
        assert_eq!(common::code(&out), "NotFoundException");
        let rotated = client.rotate_key_on_demand().key_id(&id).send().await.unwrap();
        assert_eq!(rotated.key_id(), key.arn());
        let now = client.describe_key().key_id("alias/rotating").send().await.unwrap().key_metadata.unwrap();
        assert_eq!((now.key_id(), now.arn()), (key.key_id(), key.arn()), "rotation must not change the key's identity");
        let material = now.current_key_material_id().unwrap().to_owned();
        assert!(blobs.iter().all(|(_, m)| *m != material), "rotation {n} reused material");
        let blob = encrypt(&client, "alias/rotating", &format!("v{n}")).await;
        assert_eq!(decrypt(&client, &blob).await.1, material, "new ciphertexts use the new material");
        blobs.push((blob, material));
    }
    for (n, (blob, material)) in blobs.iter().enumerate() {
        assert_eq!(decrypt(&client, blob).await, (format!("v{n}").into_bytes(), material.clone()));
    }

    // Listed oldest first, three at a time, with the current one marked.
    let listed = all_rotations(&client, &id, 3).await;
    assert_eq!(listed.len(), 10);
    assert!(listed.iter().all(|r| r.rotation_type() == Some(&RotationType::OnDemand) && r.key_id() == Some(id.as_str())));
    let ids: Vec<&str> = listed.iter().map(|r| r.key_material_id().unwrap()).collect();
    let expected: Vec<&str> = blobs[1..].iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(ids, expected);
    let states: Vec<&str> = listed.iter().map(|r| r.key_material_state().unwrap().as_str()).collect();
    assert_eq!(states.iter().filter(|s| **s == "CURRENT").count(), 1);
    assert_eq!(states.last(), Some(&"CURRENT"));
    let everything = client.list_key_rotations().key_id(&id).include_key_material(IncludeKeyMaterial::AllKeyMaterial).send().await.unwrap();
    let first = &everything.rotations()[0];
    assert_eq!(first.key_material_id(), Some(blobs[0].1.as_str()));
    assert!(first.rotation_type().is_none());
    assert_eq!(everything.rotations().len(), 11);
    let bad = client.list_key_rotations().key_id(&id).marker("bm90LWEtbWFya2Vy").send().await.expect_err("forged marker");
    assert_eq!(common::code(&bad), "InvalidMarkerException");

    // AWS allows 25 on-demand rotations per key.
    for _ in 11..=25 {
        client.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    }
    assert_err!(client.rotate_key_on_demand().key_id(&id).send().await, is_limit_exceeded_exception);
    assert_eq!(decrypt(&client, &blobs[0].0).await.0, b"v0");
}

#[tokio::test]
async fn rotation_settings_follow_aws_rules() {
    let trent = Trent::start(&[]);
    let client = trent.client(REGION);
    let id = client.create_key().send().await.unwrap().key_metadata.unwrap().key_id().to_owned();

    let status = client.get_key_rotation_status().key_id(&id).send().await.unwrap();
    assert!(!status.key_rotation_enabled());
    assert!(status.next_rotation_date().is_none() && status.rotation_period_in_days().is_none());

    let before = common::now_secs();
    client.enable_key_rotation().key_id(&id).send().await.unwrap();
    let status = client.get_key_rotation_status().key_id(&id).send().await.unwrap();
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(365));
    let next = status.next_rotation_date().unwrap().secs();
    assert!((before + 365 * DAY_SECS..=common::now_secs() + 365 * DAY_SECS).contains(&next));

    // A new period counts from the same start.
    client.enable_key_rotation().key_id(&id).rotation_period_in_days(90).send().await.unwrap();
    let status = client.get_key_rotation_status().key_id(&id).send().await.unwrap();
    assert_eq!(status.rotation_period_in_days(), Some(90));
    assert_eq!(status.next_rotation_date().unwrap().secs(), next - 275 * DAY_SECS);

    for bad in [89, 2561] {
        let err = client.enable_key_rotation().key_id(&id).rotation_period_in_days(bad).send().await.expect_err("out of range");
        assert_eq!(common::code(&err), "ValidationException");
    }
    assert_eq!(client.get_key_rotation_status().key_id(&id).send().await.unwrap().rotation_period_in_days(), Some(90));

    client.disable_key_rotation().key_id(&id).send().await.unwrap();
    assert!(!client.get_key_rotation_status().key_id(&id).send().await.unwrap().key_rotation_enabled());

    client.disable_key().key_id(&id).send().await.unwrap();
    assert_err!(client.enable_key_rotation().key_id(&id).send().await, is_disabled_exception);
    assert_err!(client.rotate_key_on_demand().key_id(&id).send().await, is_disabled_exception);
    client.enable_key().key_id(&id).send().await.unwrap();
    client.schedule_key_deletion().key_id(&id).pending_window_in_days(7).send().await.unwrap();
    assert_err!(client.enable_key_rotation().key_id(&id).send().await, is_kms_invalid_state_exception);
    assert_err!(client.list_key_rotations().key_id(&id).send().await, is_kms_invalid_state_exception);
    assert_err!(client.get_key_rotation_status().key_id("1234abcd-12ab-34cd-56ef-1234567890ab").send().await, is_not_found_exception);
}

#[tokio::test]
async fn automatic_rotation_happens_on_time_and_once_even_after_downtime() {
    // Dev mode: the moved clock would fail SigV4's 5-minute skew check.
    let mut trent = Trent::start(&["--dev"]);
    let client = trent.client(REGION);
    let id = client.create_key().send().await.unwrap().key_metadata.unwrap().key_id().to_owned();
    client.enable_key_rotation().key_id(&id).rotation_period_in_days(90).send().await.unwrap();
    let before = encrypt(&client, &id, "before").await;
    drop(client);

    let at = |days: i64| (days * DAY_SECS).to_string();
    trent.restart(&["--dev", "--clock-offset-secs", &at(89)]);
    assert!(all_rotations(&trent.client(REGION), &id, 100).await.is_empty(), "rotated before its date");

    // Down on its due date, started a day later: caught up at start, once.
    trent.restart(&["--dev", "--clock-offset-secs", &at(91)]);
    let client = trent.client(REGION);
    let listed = all_rotations(&client, &id, 100).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].rotation_type(), Some(&RotationType::Automatic));
    let rotated_at = listed[0].rotation_date().unwrap().secs();
    assert!(rotated_at >= common::now_secs() + 91 * DAY_SECS - 60);
    let status = client.get_key_rotation_status().key_id(&id).send().await.unwrap();
    assert_eq!(status.next_rotation_date().unwrap().secs(), rotated_at + 90 * DAY_SECS);
    assert_eq!(decrypt(&client, &before).await.0, b"before");
    drop(client);

    // Started again at the same time: nothing more is due.
    trent.restart(&["--dev", "--clock-offset-secs", &at(91)]);
    assert_eq!(all_rotations(&trent.client(REGION), &id, 100).await.len(), 1, "a due rotation ran twice");

    // The next period falls due a few seconds after a start: the periodic
    // round (not the start-up catch-up) rotates it.
    let next = rotated_at + 90 * DAY_SECS;
    let offset = (next - 3 - common::now_secs()).to_string();
    trent.restart(&["--dev", "--clock-offset-secs", &offset, "--sweep-interval-secs", "1"]);
    let client = trent.client(REGION);
    assert_eq!(all_rotations(&client, &id, 100).await.len(), 1, "rotated before its date");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let listed = loop {
        let listed = all_rotations(&client, &id, 100).await;
        if listed.len() > 1 || std::time::Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|r| r.rotation_type() == Some(&RotationType::Automatic)));
    assert_eq!(decrypt(&client, &before).await.0, b"before");
    assert!(trent.log().contains("key rotated: its automatic rotation was due"));
}
