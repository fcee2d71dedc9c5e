//! age recipients (the `age` crate, pure Rust): an X25519 key (`age1...`)
//! or a hybrid post-quantum one (`age1pq1...`).
//!
//! Zeroizing: the crate's STREAM writer keeps the plaintext in a
//! `Zeroizing` chunk, reserved at full size up front (no reallocation
//! leaves a copy behind), and zeroizes it when the chunk is sealed; the
//! file key is a `SecretBox`. What we own is ours to zeroize (`render`).

use std::io::Write;

/// One holder's age public key.
pub struct Recipient(Box<dyn age::Recipient + Send + Sync>);

/// Whether a `--share-recipient` value is (meant as) an age key.
pub fn looks_like_key(text: &str) -> bool {
    text.starts_with("age1") || text.starts_with("AGE-SECRET-KEY-")
}

/// An age public key as text (`age1...`); a secret key is refused.
pub fn parse(text: &str) -> Result<Recipient, String> {
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
    Ok(Recipient(key))
}

/// `plaintext` as an armored age file to the recipient (what `age -a -r` writes).
pub fn encrypt_armored(recipient: &Recipient, plaintext: &[u8]) -> Result<String, String> {
    let key = recipient.0.as_ref() as &dyn age::Recipient;
    let encryptor = age::Encryptor::with_recipients(std::iter::once(key)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor).map_err(|e| e.to_string())?;
    let mut writer = encryptor.wrap_output(armor).map_err(|e| e.to_string())?;
    writer.write_all(plaintext).map_err(|e| e.to_string())?;
    writer.finish().and_then(|armor| armor.finish()).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}
