//! `--share-recipient` with OpenPGP keys made by the real `gpg`, each
//! holder in a keyring of their own: shares open with `gpg --decrypt` for
//! their holder only, mixed with age keys, and unseal; keys that must not
//! be used (secret, expired, revoked, signing-only, weak RSA, garbage) are
//! refused with nothing written. Skips where gpg is missing unless
//! TRENT_REQUIRE_GPG=1 (scripts/lib/gpg.sh installs it).
#![allow(deprecated)] // X25519 age keys, the kind most holders have.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{self, Trent};
use crate::common::seal::{init, read_secret, unseal};
use crate::support::{encrypted_shares, use_keys};

/// One holder's keyring (a GNUPGHOME of its own), driven in batch mode
/// with an empty passphrase.
struct Gpg {
    home: PathBuf,
}

impl Gpg {
    fn new(dir: &Path, name: &str) -> Gpg {
        let home = dir.join(format!("gnupg-{name}"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        Gpg { home }
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new("gpg")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, "");
        assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// A new key (`gpg --quick-gen-key`), with an encryption subkey when
    /// `subkey` names its algorithm; `when` fakes the clock (e.g. to make
    /// a key that has expired). Returns its fingerprint.
    fn generate(&self, user_id: &str, primary: &str, subkey: Option<&str>, expire: &str, when: Option<&str>) -> String {
        let faked: Vec<&str> = when.map(|w| vec!["--faked-system-time", w]).unwrap_or_default();
        self.ok(&[&faked[..], &["--quick-gen-key", user_id, primary, "sign,cert", expire]].concat());
        let listing = self.ok(&["--with-colons", "--list-keys", user_id]);
        let fingerprint = listing.lines().find(|l| l.starts_with("fpr:")).unwrap().split(':').nth(9).unwrap().to_owned();
        if let Some(algorithm) = subkey {
            self.ok(&[&faked[..], &["--quick-add-key", &fingerprint, algorithm, "encr", expire]].concat());
        }
        fingerprint
    }

    /// `gpg --export --armor` (or the secret key) into a file; its path.
    fn export(&self, fingerprint: &str, secret: bool) -> String {
        let text = self.ok(&[if secret { "--export-secret-keys" } else { "--export" }, "--armor", fingerprint]);
        let path = self.home.join(format!("{fingerprint}{}.asc", if secret { "-secret" } else { "" }));
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// Revokes the key with the revocation certificate gpg made with it.
    fn revoke(&self, fingerprint: &str) {
        let stored = std::fs::read_to_string(self.home.join("openpgp-revocs.d").join(format!("{fingerprint}.rev"))).unwrap();
        let certificate = stored.replace(":-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----");
        let out = self.run(&["--import"], &certificate);
        assert!(out.status.success(), "gpg --import (revocation): {}", String::from_utf8_lossy(&out.stderr));
    }

    /// `gpg --decrypt`, as the holder opens their share.
    fn decrypt(&self, armor: &str) -> Result<String, String> {
        let out = self.run(&["--decrypt"], armor);
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf").arg("--homedir").arg(&self.home).args(["--kill", "gpg-agent"]).output();
    }
}

fn gpg_present(test: &str) -> bool {
    if common::softhsm::tool_present("gpg") {
        return true;
    }
    assert!(std::env::var("TRENT_REQUIRE_GPG").as_deref() != Ok("1"), "{test}: gpg is required (TRENT_REQUIRE_GPG=1); scripts/lib/gpg.sh installs it");
    eprintln!("{test}: gpg is not installed (apt-get install gnupg): skipped");
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn shares_to_openpgp_and_age_keys_open_only_for_their_holders_and_unseal() {
    if !gpg_present("shares_to_openpgp_and_age_keys") {
        return;
    }
    let mut trent = Trent::unstarted(&[]);
    let scratch = trent.data_dir().parent().unwrap().to_path_buf();
    let alice = Gpg::new(&scratch, "alice");
    let alice_key = alice.generate("Alice <alice@example.com>", "ed25519", Some("cv25519"), "never", None);
    let bob = Gpg::new(&scratch, "bob");
    let bob_key = bob.generate("Bob <bob@example.com>", "rsa2048", Some("rsa2048"), "never", None);
    let carol = age::x25519::Identity::generate();
    let recipients = [alice.export(&alice_key, false), carol.to_public().to_string(), bob.export(&bob_key, false)];

    let (ok, out, err) = init(&trent, &["--seal", "shamir", "--shares", "3", "--threshold", "2", "--share-recipient", &recipients[0], "--share-recipient", &recipients[1], "--share-recipient", &recipients[2]], &[]);
    assert!(ok, "{err}");
    assert!(!out.lines().any(|l| l.starts_with("share ") && l.contains(": ")), "a plain share was printed: {out}");
    let printed = encrypted_shares(&out);
    assert_eq!(printed.len(), 3, "{out}");
    assert_eq!(printed[0].0, format!("share 1 for OpenPGP {alice_key} Alice <alice@example.com>:"));
    assert_eq!(printed[1].0, format!("share 2 for {}:", recipients[1]));
    assert_eq!(printed[2].0, format!("share 3 for OpenPGP {bob_key} Bob <bob@example.com>:"));
    for i in [0, 2] {
        assert!(printed[i].1.starts_with("-----BEGIN PGP MESSAGE-----"), "{}", printed[i].1);
    }
    // Each share opens for its holder only: not with the other's key.
    assert!(bob.decrypt(&printed[0].1).is_err(), "Bob opened Alice's share");
    assert!(alice.decrypt(&printed[2].1).is_err(), "Alice opened Bob's share");
    let alice_share = alice.decrypt(&printed[0].1).unwrap();
    let carol_share = String::from_utf8(age::decrypt(&carol, printed[1].1.as_bytes()).unwrap()).unwrap();
    let bob_share = bob.decrypt(&printed[2].1).unwrap();
    for (n, line) in [(1, &alice_share), (2, &carol_share), (3, &bob_share)] {
        assert!(line.starts_with(&format!("share {n}: ")) && line.ends_with('\n') && line.len() == "share N: \n".len() + 66, "{line}");
    }

    trent.start_again(&[]);
    assert!(unseal(&trent, &alice_share).unwrap().contains("1/2"));
    assert!(unseal(&trent, &bob_share).unwrap().contains("Unsealed"));
    let ciphertext = use_keys(&trent).await;
    trent.restart(&[]);
    unseal(&trent, &carol_share).unwrap();
    assert!(unseal(&trent, &alice_share).unwrap().contains("Unsealed"));
    read_secret(&trent, &ciphertext).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_openpgp_keys_are_refused_and_nothing_is_written() {
    if !gpg_present("unusable_openpgp_keys") {
        return;
    }
    let trent = Trent::unstarted(&[]);
    let scratch = trent.data_dir().parent().unwrap().to_path_buf();
    let keys = Gpg::new(&scratch, "keys");
    let good = keys.generate("Good <good@example.com>", "ed25519", Some("cv25519"), "never", None);
    let good = keys.export(&good, false);
    let fingerprint = keys.generate("Secret <secret@example.com>", "ed25519", Some("cv25519"), "never", None);
    let secret = keys.export(&fingerprint, true);
    let expired = keys.generate("Old <old@example.com>", "ed25519", Some("cv25519"), "1y", Some("20200101T000000!"));
    let signing_only = keys.generate("Signer <signer@example.com>", "ed25519", None, "never", None);
    let revoked = keys.generate("Revoked <revoked@example.com>", "ed25519", Some("cv25519"), "never", None);
    keys.revoke(&revoked);
    let weak = keys.generate("Weak <weak@example.com>", "ed25519", Some("rsa1024"), "never", None);
    let garbage = scratch.join("garbage.asc");
    std::fs::write(&garbage, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5IGF0IGFsbA==\n-----END PGP PUBLIC KEY BLOCK-----\n").unwrap();

    let secret_text = std::fs::read_to_string(&secret).unwrap();
    let secret_line = secret_text.lines().filter(|l| l.len() > 40).nth(3).unwrap().to_owned();
    // The same secret key under a public key's armor header.
    let disguised = scratch.join("disguised.asc");
    std::fs::write(&disguised, secret_text.replace("PRIVATE KEY BLOCK", "PUBLIC KEY BLOCK")).unwrap();
    let cases = [
        (secret.clone(), "*secret*"),
        (disguised.to_str().unwrap().to_owned(), "*secret*"),
        (keys.export(&expired, false), "the key expired on 2020-12-31"),
        (keys.export(&signing_only, false), "the key cannot encrypt"),
        (keys.export(&revoked, false), "the key is revoked"),
        (keys.export(&weak, false), "an RSA key of 1024 bits"),
        (garbage.to_str().unwrap().to_owned(), "OpenPGP public key"),
        (secret_text.clone(), "(a secret key)"),
    ];
    for (bad, expected) in &cases {
        let (ok, _, err) = init(&trent, &["--seal", "shamir", "--shares", "3", "--threshold", "2", "--share-recipient", &good, "--share-recipient", bad, "--share-recipient", &good], &[]);
        assert!(!ok && err.contains("--share-recipient 2") && err.contains(expected), "{expected}: {err}");
        assert!(!err.contains(&secret_line), "the secret key was echoed: {err}");
        assert!(!trent.data_dir().join("trent.db").exists(), "a refused init wrote the store ({expected})");
    }
}
