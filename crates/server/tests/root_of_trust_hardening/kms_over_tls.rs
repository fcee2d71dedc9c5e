//! The `kms` seal mode against another Trent serving HTTPS, its CA given
//! to the seal client as `AWS_CA_BUNDLE` (as the AWS CLI takes it); a
//! server whose certificate that CA did not sign is refused.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use crate::common::{Trent, REGION};
use crate::common::seal::{init, read_secret};
use crate::support::use_keys;

/// A CA, written to `dir/NAME.pem`; and a server certificate it signs for 127.0.0.1.
fn ca_and_server(dir: &Path, name: &str) -> (String, String, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = params.self_signed(&ca_key).unwrap().pem();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap().signed_by(&leaf_key, &Issuer::from_params(&params, &ca_key)).unwrap();
    let paths = [dir.join(format!("{name}.pem")), dir.join(format!("{name}-server.pem")), dir.join(format!("{name}-server.key"))];
    for (path, text) in paths.iter().zip([ca_pem, leaf.pem(), leaf_key.serialize_pem()]) {
        std::fs::write(path, text).unwrap();
    }
    let [ca, cert, key] = paths.map(|p| p.display().to_string());
    (ca, cert, key)
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_mode_works_over_https_with_the_ca_in_aws_ca_bundle() {
    // The outer Trent: a key made over HTTP, then served over HTTPS only.
    let mut outer = Trent::start(&[]);
    let key = outer.client(REGION).create_key().send().await.unwrap().key_metadata.unwrap().key_id;
    let certs = outer.data_dir().parent().unwrap().to_path_buf();
    let (ca, cert, tls_key) = ca_and_server(&certs, "ca");
    let (other_ca, _, _) = ca_and_server(&certs, "other-ca");
    outer.restart(&["--tls-cert", &cert, "--tls-key", &tls_key]);
    assert!(outer.endpoint().starts_with("https://"), "{}", outer.endpoint());
    let creds = outer.data_dir().join("credentials").display().to_string();

    let init_args = ["--seal", "kms", "--kms-endpoint", &outer.endpoint(), "--kms-key-id", &key];
    let mut trent = Trent::unstarted(&[("AWS_SHARED_CREDENTIALS_FILE", &creds), ("AWS_CA_BUNDLE", &ca)]);
    // A bundle without the outer server's CA: the TLS handshake is refused, nothing recorded.
    let (ok, _, err) = init(&trent, &init_args, &[("AWS_CA_BUNDLE", &other_ca)]);
    assert!(!ok && err.contains("TLS") && err.to_lowercase().contains("certificate"), "{err}");
    let (ok, _, err) = init(&trent, &init_args, &[("AWS_CA_BUNDLE", &certs.join("missing.pem").display().to_string())]);
    assert!(!ok && err.contains("AWS_CA_BUNDLE"), "{err}");

    // With its CA: init, start, restart, each opening the root key over HTTPS.
    let (ok, out, err) = init(&trent, &init_args, &[]);
    assert!(ok && out.contains("seal mode kms"), "{err}");
    trent.start_again(&[]);
    let ciphertext = use_keys(&trent).await;
    trent.restart(&[]);
    read_secret(&trent, &ciphertext).await;
    trent.stop();
    // Started trusting another CA, it cannot reach the outer KMS and does not start.
    let err = trent.serve_refused(&[], &[("AWS_CA_BUNDLE", &other_ca)]);
    assert!(err.contains("TLS"), "{err}");
}
