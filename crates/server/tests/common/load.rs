//! A client load for the tests that change the root of trust while a
//! server serves (rotate_root_online, root_of_trust's rekey): keys and
//! ciphertexts made, every one of them decrypted at the end.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;

use super::{Trent, REGION};

/// (ciphertext, plaintext) pairs to decrypt at the end.
pub type Made = Arc<Mutex<Vec<(Vec<u8>, Vec<u8>)>>>;

/// Keys and ciphertexts, so the rotation has several batches to reseal.
pub async fn write_some(trent: &Trent, made: &Made, keys: usize) {
    let kms = trent.client(REGION);
    for i in 0..keys {
        let key = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
        let plain = format!("before {i}").into_bytes();
        let blob = kms.encrypt().key_id(key).plaintext(Blob::new(plain.clone())).send().await.unwrap().ciphertext_blob.unwrap().into_inner();
        made.lock().unwrap().push((blob, plain));
    }
}

/// A client calling CreateKey, Encrypt, GenerateDataKey and Decrypt until
/// `stop`; every call must succeed. Counts its rounds in `rounds_made`.
pub fn load(trent: &Trent, made: Made, stop: Arc<AtomicBool>, rounds_made: Arc<AtomicUsize>) -> tokio::task::JoinHandle<usize> {
    let kms = trent.client(REGION);
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
            // Something made before the rotation, read while it runs.
            let (old, old_plain) = made.lock().unwrap()[rounds % 3].clone();
            let opened = kms.decrypt().ciphertext_blob(Blob::new(old)).send().await.expect("Decrypt of data made before, under load");
            assert_eq!(opened.plaintext.unwrap().into_inner(), old_plain);
            made.lock().unwrap().push((blob, plain));
            made.lock().unwrap().push((wrapped, data_key.plaintext.unwrap().into_inner()));
            rounds += 1;
            rounds_made.store(rounds, Ordering::Relaxed);
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
