//! Shamir shares each encrypted to its holder's public key, as Vault's
//! `-pgp-keys`: `--share-recipient FILE_OR_KEY`, once per share and in
//! order, makes share N printed as an armored age file that only the
//! holder of the N-th key can open (`age -d -i KEY`). What it holds is the
//! line `share N: HEX` that `trent operator unseal` takes as it is.
//!
//! age only (the `age` crate, pure Rust): an X25519 recipient (`age1...`)
//! or a hybrid post-quantum one (`age1pq1...`). OpenPGP keys are refused
//! with a clear message: not built yet (docs/root-of-trust.md).

use std::path::Path;

use trent_crypto::SecretBytes;
use zeroize::Zeroizing;

/// One holder's public key.
pub struct ShareRecipient {
    /// The key as the holder gave it (`age1...`), printed above the share.
    pub name: String,
    key: Box<dyn age::Recipient + Send + Sync>,
}

impl std::fmt::Debug for ShareRecipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// Parses `--share-recipient` values: one per share (`shares` of them),
/// or none at all (the shares are printed in plain hex).
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
            // Never echo a secret key given by mistake.
            let shown = if v.trim().starts_with("AGE-SECRET-KEY-") { "a secret key" } else { v.as_str() };
            parse(v).map_err(|e| format!("--share-recipient {} ({shown}): {e}", i + 1))
        })
        .collect()
}

/// An age public key, given inline or as a file holding it (comment
/// lines, `#`, are skipped, as in age's recipients files).
fn parse(value: &str) -> Result<ShareRecipient, String> {
    let value = value.trim();
    let text = if value.starts_with("age1") {
        value.to_owned()
    } else {
        let path = Path::new(value);
        let contents = std::fs::read_to_string(path).map_err(|e| format!("neither an age public key (age1...) nor a readable file: {e}"))?;
        if contents.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
            return Err("OpenPGP keys are not supported yet: give the holder's age public key (age1...)".to_owned());
        }
        let keys: Vec<&str> = contents.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
        match keys[..] {
            [key] => key.to_owned(),
            [] => return Err("the file holds no age public key".to_owned()),
            _ => return Err("the file holds several keys: give each holder's one key".to_owned()),
        }
    };
    if text.starts_with("AGE-SECRET-KEY-") {
        return Err("this is an age *secret* key: give the holder's public key (age1...)".to_owned());
    }
    // X25519 (`age1...`) is deprecated in the crate for want of post-quantum
    // safety, but it is the key most holders have (age before 1.3 makes no other).
    #[allow(deprecated)]
    let key: Box<dyn age::Recipient + Send + Sync> = if text.starts_with("age1pq1") {
        Box::new(text.parse::<age::pq::Recipient>().map_err(|e| format!("not an age public key: {e}"))?)
    } else {
        Box::new(text.parse::<age::x25519::Recipient>().map_err(|e| format!("not an age public key: {e}"))?)
    };
    Ok(ShareRecipient { name: text, key })
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
            let line = Zeroizing::new(format!("share {}: {}", i + 1, Zeroizing::new(hex::encode(share.as_bytes())).as_str()));
            let Some(recipient) = recipients.get(i) else {
                return Ok(line);
            };
            let plaintext = Zeroizing::new(format!("{}\n", line.as_str()));
            let armored = encrypt_armored(recipient.key.as_ref(), plaintext.as_bytes()).map_err(|e| format!("encrypting share {} to {}: {e}", i + 1, recipient.name))?;
            Ok(Zeroizing::new(format!("share {} for {}:\n{}", i + 1, recipient.name, armored.trim_end())))
        })
        .collect()
}

/// `plaintext` as an armored age file to `key` (what `age -a -r` writes).
fn encrypt_armored(key: &(dyn age::Recipient + Send + Sync), plaintext: &[u8]) -> Result<String, String> {
    use std::io::Write;
    let encryptor = age::Encryptor::with_recipients(std::iter::once(key as &dyn age::Recipient)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor).map_err(|e| e.to_string())?;
    let mut writer = encryptor.wrap_output(armor).map_err(|e| e.to_string())?;
    writer.write_all(plaintext).map_err(|e| e.to_string())?;
    writer.finish().and_then(|armor| armor.finish()).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
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
        assert!(parse(pgp.to_str().unwrap()).unwrap_err().contains("OpenPGP"));
        let public = dir.path().join("holder.pub");
        std::fs::write(&public, format!("# a holder\n{key}\n")).unwrap();
        assert_eq!(parse(public.to_str().unwrap()).unwrap().name, key);
    }
}
