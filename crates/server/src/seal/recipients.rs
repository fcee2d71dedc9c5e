//! Shamir shares each encrypted to its holder's public key, as Vault's
//! `-pgp-keys`: `--share-recipient FILE_OR_KEY`, once per share and in
//! order, makes share N printed as an armored age file or OpenPGP message
//! that only the holder of the N-th key can open (`age -d -i KEY`,
//! `gpg --decrypt`). What it holds is the line `share N: HEX` that
//! `trent operator unseal` takes as it is.
//!
//! A recipient is an age public key, inline or in a file (`age_keys.rs`), or an
//! armored OpenPGP public key in a file (`openpgp_keys.rs`).

mod age_keys;
mod openpgp_keys;

use std::path::Path;

use trent_crypto::SecretBytes;
use zeroize::Zeroizing;

/// One holder's public key.
pub struct ShareRecipient {
    /// The key as the holder gave it (`age1...`), or its OpenPGP
    /// fingerprint and user ID, printed above the share.
    pub name: String,
    key: RecipientKey,
}

enum RecipientKey {
    Age(age_keys::Recipient),
    OpenPgp(openpgp_keys::Recipient),
}

impl std::fmt::Debug for ShareRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// Parses `--share-recipient` values: one per share (`shares` of them),
/// or none at all (the shares are printed in plain hex). All are checked
/// before anything is written.
pub fn parse_all(values: &[String], shares: u8) -> Result<Vec<ShareRecipient>, String> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    if values.len() != usize::from(shares) {
        return Err(format!(
            "--share-recipient was given {} times but --shares is {shares}: give one recipient per share, in the order of the shares",
            values.len()
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            // Never echo a secret key (or any key text) given inline by mistake.
            let v_trim = v.trim();
            let shown = if v_trim.starts_with("AGE-SECRET-KEY-") || v_trim.contains("PRIVATE KEY") {
                "a secret key"
            } else if v_trim.contains('\n') || v_trim.starts_with("-----") {
                "a key given inline"
            } else {
                v.as_str()
            };
            parse(v).map_err(|e| format!("--share-recipient {} ({shown}): {e}", i + 1))
        })
        .collect()
}

/// An age public key, given inline or as a file holding it (comment
/// lines, `#`, are skipped, as in age's recipients files), or a file
/// holding an armored OpenPGP public key.
fn parse(value: &str) -> Result<ShareRecipient, String> {
    let value = value.trim();
    if age_keys::looks_like_key(value) {
        return Ok(ShareRecipient { name: value.to_owned(), key: RecipientKey::Age(age_keys::parse(value)?) });
    }
    if openpgp_keys::looks_like_key(value) {
        return Err("give an OpenPGP key as a file (gpg --export --armor KEY_ID > holder.asc), not inline".to_owned());
    }
    // Zeroized: the file may be a secret key given by mistake.
    let contents = Zeroizing::new(std::fs::read_to_string(Path::new(value)).map_err(|e| format!("neither an age public key (age1...) nor a readable file: {e}"))?);
    if openpgp_keys::looks_like_key(&contents) {
        let key = openpgp_keys::parse(&contents)?;
        return Ok(ShareRecipient { name: key.name.clone(), key: RecipientKey::OpenPgp(key) });
    }
    let keys: Vec<&str> = contents.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let text = match keys[..] {
        [key] => key,
        [] => return Err("the file holds no age public key".to_owned()),
        _ => return Err("the file holds several keys: give each holder's one key".to_owned()),
    };
    Ok(ShareRecipient { name: text.to_owned(), key: RecipientKey::Age(age_keys::parse(text)?) })
}

/// The shares as `trent init` prints them: each `share N: HEX` line, or,
/// with recipients, that line encrypted to the N-th holder's key (armored).
/// Made before anything is recorded, so an encryption failure leaves
/// nothing behind.
pub fn render(shares: &[SecretBytes], recipients: &[ShareRecipient]) -> Result<Vec<Zeroizing<String>>, String> {
    shares
        .iter()
        .enumerate()
        .map(|(i, share)| {
            let Some(recipient) = recipients.get(i) else {
                return Ok(share_line(i + 1, share, ""));
            };
            let plaintext = share_line(i + 1, share, "\n");
            let armored = match &recipient.key {
                RecipientKey::Age(key) => age_keys::encrypt_armored(key, plaintext.as_bytes()),
                RecipientKey::OpenPgp(key) => openpgp_keys::encrypt_armored(key, plaintext.as_bytes()),
            }
            .map_err(|e| format!("encrypting share {} to {}: {e}", i + 1, recipient.name))?;
            Ok(Zeroizing::new(format!("share {} for {}:\n{}", i + 1, recipient.name, armored.trim_end())))
        })
        .collect()
}

/// `share N: HEX` and `end`, written into one buffer sized up front: a
/// growing `String` (as `format!` and `hex::encode` make) would leave
/// copies of the share in the heap it frees.
fn share_line(number: usize, share: &SecretBytes, end: &str) -> Zeroizing<String> {
    let prefix = format!("share {number}: ");
    let mut hex = Zeroizing::new(vec![0u8; share.as_bytes().len() * 2]);
    hex::encode_to_slice(share.as_bytes(), &mut hex).expect("the buffer is twice the share");
    let mut line = Zeroizing::new(String::with_capacity(prefix.len() + hex.len() + end.len()));
    line.push_str(&prefix);
    line.push_str(std::str::from_utf8(&hex).expect("hex is ASCII"));
    line.push_str(end);
    line
}

#[cfg(test)]
#[allow(deprecated)] // X25519 identities, as holders have them.
mod tests {
    use super::*;

    #[test]
    fn each_share_opens_only_with_its_holders_key() {
        let holders: Vec<age::x25519::Identity> = (0..3).map(|_| age::x25519::Identity::generate()).collect();
        let keys: Vec<String> = holders.iter().map(|h| h.to_public().to_string()).collect();
        let recipients = parse_all(&keys, 3).unwrap();
        let shares: Vec<SecretBytes> = (1..=3u8).map(|x| SecretBytes::new(vec![x; 33])).collect();
        let printed = render(&shares, &recipients).unwrap();
        for (i, text) in printed.iter().enumerate() {
            let hex_share = hex::encode(shares[i].as_bytes());
            assert!(!text.contains(&hex_share), "a share printed in the clear");
            let armor = &text[text.find("-----BEGIN").unwrap()..];
            let opened = age::decrypt(&holders[i], armor.as_bytes()).unwrap();
            assert_eq!(String::from_utf8(opened).unwrap(), format!("share {}: {hex_share}\n", i + 1));
            assert!(age::decrypt(&holders[(i + 1) % 3], armor.as_bytes()).is_err(), "another holder opened share {}", i + 1);
        }
    }

    #[test]
    fn a_wrong_count_or_a_bad_key_is_refused() {
        let key = age::x25519::Identity::generate().to_public().to_string();
        let err = parse_all(&[key.clone(), key.clone()], 3).unwrap_err();
        assert!(err.contains("given 2 times but --shares is 3"), "{err}");
        assert!(parse_all(&[key.clone(), "age1notakey".to_owned(), key.clone()], 3).unwrap_err().contains("--share-recipient 2"));
        let secret = age::x25519::Identity::generate();
        let secret_text = age::secrecy::ExposeSecret::expose_secret(&secret.to_string()).to_owned();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.txt");
        std::fs::write(&file, format!("# created: now\n{secret_text}\n")).unwrap();
        assert!(parse(file.to_str().unwrap()).unwrap_err().contains("secret"));
        let pgp = dir.path().join("holder.asc");
        std::fs::write(&pgp, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n-----END PGP PUBLIC KEY BLOCK-----\n").unwrap();
        assert!(parse(pgp.to_str().unwrap()).unwrap_err().contains("not an ASCII-armored OpenPGP public key"));
        // Key text given inline is neither parsed nor echoed back.
        let inline = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQVYBGsecret\n-----END PGP PRIVATE KEY BLOCK-----".to_owned();
        let err = parse_all(&[key.clone(), inline, key.clone()], 3).unwrap_err();
        assert!(err.contains("(a secret key)") && err.contains("as a file") && !err.contains("lQVYBGsecret"), "{err}");
        let public = dir.path().join("holder.pub");
        std::fs::write(&public, format!("# a holder\n{key}\n")).unwrap();
        assert_eq!(parse(public.to_str().unwrap()).unwrap().name, key);
    }
}
