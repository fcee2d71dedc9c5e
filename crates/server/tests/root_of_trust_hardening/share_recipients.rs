//! `--share-recipient`: each Shamir share printed encrypted to its
//! holder's age key; holders decrypt with their own tool and unseal with
//! the plain line. A wrong number of recipients changes nothing.
#![allow(deprecated)] // X25519 age keys, the kind most holders have.

use std::path::Path;

use age::secrecy::ExposeSecret;

use crate::common::{self, Trent};
use crate::common::seal::{init, read_secret, rekey, unseal};
use crate::support::{encrypted_shares, use_keys};

/// Opens one holder's share as the holder would: with the real `age`
/// binary when it is installed (`age -d -i KEY`), else with the crate.
fn open_share(armor: &str, identity: &age::x25519::Identity, dir: &Path, use_binary: bool) -> String {
    if use_binary {
        let key = dir.join(format!("holder-{}.key", uuid::Uuid::new_v4().simple()));
        std::fs::write(&key, format!("{}\n", identity.to_string().expose_secret())).unwrap();
        let file = key.with_extension("age");
        std::fs::write(&file, armor).unwrap();
        let out = std::process::Command::new("age").arg("-d").arg("-i").arg(&key).arg(&file).output().unwrap();
        assert!(out.status.success(), "age -d: {}", String::from_utf8_lossy(&out.stderr));
        return String::from_utf8(out.stdout).unwrap();
    }
    String::from_utf8(age::decrypt(identity, armor.as_bytes()).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn shares_encrypted_to_age_keys_open_only_for_their_holders_and_unseal() {
    let mut trent = Trent::unstarted(&[]);
    let holders: Vec<age::x25519::Identity> = (0..3).map(|_| age::x25519::Identity::generate()).collect();
    let keys: Vec<String> = holders.iter().map(|h| h.to_public().to_string()).collect();
    // The second holder's key as a file, as `age-keygen -o` writes a public key list.
    let scratch = trent.data_dir().parent().unwrap().to_path_buf();
    let key_file = scratch.join("holder2.pub");
    std::fs::write(&key_file, format!("# holder 2\n{}\n", keys[1])).unwrap();
    let key_file = key_file.to_str().unwrap().to_owned();
    let with_binary = common::softhsm::tool_present("age");
    if !with_binary {
        eprintln!("the age binary is not installed (apt-get install age): shares are opened with the age crate only");
    }

    // A recipient short: refused, and nothing is written.
    let (ok, _, err) = init(&trent, &["--seal", "shamir", "--shares", "3", "--threshold", "2", "--share-recipient", &keys[0], "--share-recipient", &key_file], &[]);
    assert!(!ok && err.contains("--share-recipient was given 2 times but --shares is 3"), "{err}");
    assert!(!trent.data_dir().join("trent.db").exists(), "a refused init wrote the store");
    // A secret key given by mistake: refused, naming it.
    let secret = holders[2].to_string().expose_secret().to_owned();
    let (ok, _, err) = init(&trent, &["--seal", "shamir", "--shares", "3", "--threshold", "2", "--share-recipient", &keys[0], "--share-recipient", &key_file, "--share-recipient", &secret], &[]);
    assert!(!ok && err.contains("--share-recipient 3") && err.contains("secret"), "{err}");
    assert!(!err.contains(&secret[15..]), "the secret key was echoed: {err}");

    let (ok, out, err) = init(&trent, &["--seal", "shamir", "--shares", "3", "--threshold", "2", "--share-recipient", &keys[0], "--share-recipient", &key_file, "--share-recipient", &keys[2]], &[]);
    assert!(ok, "{err}");
    let printed = encrypted_shares(&out);
    assert_eq!(printed.len(), 3, "{out}");
    assert!(!out.lines().any(|l| l.starts_with("share ") && l.contains(": ")), "a plain share was printed: {out}");
    let mut plain = Vec::new();
    for (i, (header, armor)) in printed.iter().enumerate() {
        assert_eq!(header, &format!("share {} for {}:", i + 1, keys[i]));
        assert!(armor.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"), "{armor}");
        // Only this holder opens it.
        assert!(age::decrypt(&holders[(i + 1) % 3], armor.as_bytes()).is_err());
        let line = open_share(armor, &holders[i], &scratch, with_binary && i == 0);
        assert!(line.starts_with(&format!("share {}: ", i + 1)) && line.ends_with('\n'), "{line}");
        plain.push(line);
    }

    trent.start_again(&[]);
    assert!(unseal(&trent, &plain[0]).unwrap().contains("1/2"));
    assert!(unseal(&trent, &plain[2]).unwrap().contains("Unsealed"));
    let ciphertext = use_keys(&trent).await;

    // Rekey to new shares for new holders: a wrong count is refused first,
    // before the current shares are even read, and nothing changes.
    let new_holders: Vec<age::x25519::Identity> = (0..2).map(|_| age::x25519::Identity::generate()).collect();
    let new_keys: Vec<String> = new_holders.iter().map(|h| h.to_public().to_string()).collect();
    let current = format!("{}{}", plain[1], plain[0]);
    let (ok, _, err) = rekey(&trent, &["--seal", "shamir", "--shares", "2", "--threshold", "2", "--share-recipient", &new_keys[0]], &[], &current);
    assert!(!ok && err.contains("given 1 times but --shares is 2"), "{err}");
    let (ok, out, err) = rekey(&trent, &["--seal", "shamir", "--shares", "2", "--threshold", "2", "--share-recipient", &new_keys[0], "--share-recipient", &new_keys[1]], &[], &current);
    assert!(ok, "{err}");
    let new_plain: Vec<String> = encrypted_shares(&out).iter().enumerate().map(|(i, (_, armor))| open_share(armor, &new_holders[i], &scratch, false)).collect();
    assert_eq!(new_plain.len(), 2, "{out}");
    trent.restart(&[]);
    assert!(unseal(&trent, &plain[0]).unwrap().contains("1/2"));
    assert!(unseal(&trent, &plain[1]).unwrap_err().contains("do not open"), "old shares still open it");
    unseal(&trent, &new_plain[0]).unwrap();
    assert!(unseal(&trent, &new_plain[1]).unwrap().contains("Unsealed"));
    read_secret(&trent, &ciphertext).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn share_recipients_are_only_for_shamir() {
    let trent = Trent::unstarted(&[]);
    let key = age::x25519::Identity::generate().to_public().to_string();
    let (ok, _, err) = init(&trent, &["--seal", "file", "--share-recipient", &key], &[]);
    assert!(!ok && err.contains("--share-recipient is for --seal shamir"), "{err}");
    assert!(!trent.data_dir().join("root.key").exists());
}
