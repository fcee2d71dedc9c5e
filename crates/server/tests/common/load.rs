//! A client load for the tests that change the root of trust while a
//! server serves (rotate_root_online, root_of_trust's rekey): keys and
//! ciphertexts made, every one of them decrypted at the end.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use std::time::Duration;

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_sdk_kms::Client;

use super::{Trent, REGION};

/// (ciphertext, plaintext) pairs to decrypt at the end.
pub type Made = Arc<Mutex<Vec<(Vec<u8>, Vec<u8>)>>>;

/// Keys and ciphertexts, so the rotation has several batches to reseal.
pub async fn write_some(trent: &Trent, made: &Made, keys: usize) {
    write_some_with(&trent.client(REGION), made, keys).await
}

/// [`write_some`] through `kms`.
pub async fn write_some_with(kms: &Client, made: &Made, keys: usize) {
    for i in 0..keys {
        let key = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
        let plain = format!("before {i}").into_bytes();
        let blob = kms.encrypt().key_id(key).plaintext(Blob::new(plain.clone())).send().await.unwrap().ciphertext_blob.unwrap().into_inner();
        made.lock().unwrap().push((blob, plain));
    }
}

/// A client calling CreateKey, Encrypt, GenerateDataKey and Decrypt until
/// `stop`; every call must succeed. Adds its rounds to `rounds_made`.
pub fn load(trent: &Trent, made: Made, stop: Arc<AtomicBool>, rounds_made: Arc<AtomicUsize>) -> tokio::task::JoinHandle<usize> {
    load_with(trent.client(REGION), made, stop, rounds_made)
}

/// [`load`] through `kms`.
pub fn load_with(kms: Client, made: Made, stop: Arc<AtomicBool>, rounds_made: Arc<AtomicUsize>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut rounds = 0;
        let mut key = kms.create_key().send().await.expect("CreateKey").key_metadata.unwrap().key_id;
        while !stop.load(Ordering::Relaxed) {
            if rounds % 5 == 0 {
                key = kms.create_key().send().await.expect("CreateKey under load").key_metadata.unwrap().key_id;
            }
            let plain = format!("during {rounds}").into_bytes();
            let blob = kms.encrypt().key_id(&key).plaintext(Blob::new(plain.clone())).send().await.expect("Encrypt under load").ciphertext_blob.unwrap().into_inner();
            let data_key = kms.generate_data_key().key_id(&key).key_spec(DataKeySpec::Aes256).send().await.expect("GenerateDataKey under load");
            let wrapped = data_key.ciphertext_blob.unwrap().into_inner();
            let opened = kms.decrypt().ciphertext_blob(Blob::new(wrapped.clone())).send().await.expect("Decrypt under load");
            assert_eq!(opened.plaintext, data_key.plaintext);
            // Something made earlier (on any node sharing `made`), read while the change runs.
            let (old, old_plain) = {
                let made = made.lock().unwrap();
                made[rounds % made.len()].clone()
            };
            let opened = kms.decrypt().ciphertext_blob(Blob::new(old)).send().await.expect("Decrypt of data made before, under load");
            assert_eq!(opened.plaintext.unwrap().into_inner(), old_plain);
            made.lock().unwrap().push((blob, plain));
            made.lock().unwrap().push((wrapped, data_key.plaintext.unwrap().into_inner()));
            rounds += 1;
            // Shared by the loads of several nodes: each adds its own.
            rounds_made.fetch_add(1, Ordering::Relaxed);
        }
        rounds
    })
}

pub async fn decrypt_all(trent: &Trent, made: &Made) {
    let kms = trent.client(REGION);
    let all = made.lock().unwrap().clone();
    for (blob, plain) in all {
        let out = kms.decrypt().ciphertext_blob(Blob::new(blob)).send().await.expect("Decrypt of a ciphertext made before, during or after the change");
        assert_eq!(out.plaintext.unwrap().into_inner(), plain);
    }
}

/// An SDK client of `node` that retries as the SDKs do by default, more
/// patiently: a call that meets a root key rotation on a node that has
/// not followed it yet gets a retryable KMSInternalException.
pub fn retrying_client(node: &Trent) -> Client {
    let (id, secret) = node.admin_keys();
    let config = node
        .sdk_config(REGION, &id, &secret)
        .retry_config(RetryConfig::standard().with_max_attempts(30).with_initial_backoff(Duration::from_millis(50)).with_max_backoff(Duration::from_millis(500)))
        .build();
    Client::from_conf(config)
}
