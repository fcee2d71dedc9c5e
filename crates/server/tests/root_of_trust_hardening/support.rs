//! What these tests share: init, unseal, a secret written and read back,
//! and a PostgreSQL schema of their own.

use aws_sdk_kms::primitives::Blob;

use crate::common::{Trent, REGION};

/// `trent init --data-dir DIR ARGS` with `env`: (success, stdout, stderr).
pub fn init(trent: &Trent, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let data = trent.data_dir();
    let mut all = vec!["init", "--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    trent.cli(&all, env, "")
}

/// `trent operator rekey --data-dir DIR ARGS` with `env` and `stdin`.
pub fn rekey(trent: &Trent, args: &[&str], env: &[(&str, &str)], stdin: &str) -> (bool, String, String) {
    let data = trent.data_dir();
    let mut all = vec!["operator", "rekey", "--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    trent.cli(&all, env, stdin)
}

/// `trent operator unseal` with one share (or passphrase) on standard input.
pub fn unseal(trent: &Trent, share: &str) -> Result<String, String> {
    let (ok, out, err) = trent.cli(&["operator", "unseal", "--endpoint", &trent.endpoint()], &[], &format!("{}\n", share.trim_end()));
    if ok {
        Ok(out)
    } else {
        Err(err)
    }
}

/// The plain `share N: HEX` lines of `trent init`'s output.
pub fn plain_shares(output: &str) -> Vec<String> {
    output.lines().filter(|l| l.starts_with("share ") && l.contains(": ")).map(str::to_owned).collect()
}

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

pub async fn read_secret(trent: &Trent, ciphertext: &[u8]) {
    let kms = trent.client(REGION);
    let out = kms.decrypt().ciphertext_blob(Blob::new(ciphertext.to_vec())).send().await.unwrap();
    assert_eq!(out.plaintext.unwrap().into_inner(), b"kept across restarts");
}

/// A fresh schema on the test PostgreSQL (`TRENT_TEST_POSTGRES_URL`, else
/// CI's local default): (URL with its search_path, base URL, schema);
/// `None` when none runs there and none was asked for.
pub async fn postgres_schema(prefix: &str) -> Option<(String, String, String)> {
    let from_env = std::env::var("TRENT_TEST_POSTGRES_URL").ok();
    let base = from_env.clone().unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let (client, connection) = match tokio_postgres::connect(&base, tokio_postgres::NoTls).await {
        Ok(c) => c,
        Err(e) if from_env.is_none() => {
            eprintln!("skipping: no PostgreSQL at {base}: {e}");
            return None;
        }
        Err(e) => panic!("PostgreSQL at {base}: {e}"),
    };
    tokio::spawn(connection);
    let schema = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some((format!("{base}{sep}options=-csearch_path%3D{schema}"), base, schema))
}

pub async fn drop_schema(base: &str, schema: &str) {
    let (client, connection) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}
