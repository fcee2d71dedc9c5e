//! What these tests share beside `common::seal`: keys made and used, and
//! a secret to read back.

use aws_sdk_kms::primitives::Blob;

use crate::common::seal::read_secret;
use crate::common::{Trent, REGION};

/// The armored blocks of `trent init`'s output with `--share-recipient`,
/// by share: (header line `share N for ...:`, armor up to its END line).
pub fn encrypted_shares(output: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut lines = output.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("share ") && line.ends_with(':') {
            let mut armor = String::new();
            for l in lines.by_ref() {
                armor.push_str(l);
                armor.push('\n');
                if l.starts_with("-----END ") {
                    break;
                }
            }
            found.push((line.to_owned(), armor));
        }
    }
    found
}

/// Creates a key, encrypts with it, makes a data key and an HMAC; returns
/// the ciphertext, to read after restarts.
pub async fn use_keys(trent: &Trent) -> Vec<u8> {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType, MacAlgorithmSpec};
    let kms = trent.client(REGION);
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    kms.generate_data_key().key_id(&key).number_of_bytes(32).send().await.unwrap();
    let hmac = kms.create_key().key_spec(KeySpec::Hmac256).key_usage(KeyUsageType::GenerateVerifyMac).send().await.unwrap().key_metadata.unwrap().key_id;
    kms.generate_mac().key_id(hmac).mac_algorithm(MacAlgorithmSpec::HmacSha256).message(Blob::new(b"m".to_vec())).send().await.unwrap();
    let out = kms.encrypt().key_id(key).plaintext(Blob::new(b"kept across restarts".to_vec())).send().await.unwrap();
    let ciphertext = out.ciphertext_blob.unwrap().into_inner();
    read_secret(trent, &ciphertext).await;
    ciphertext
}
