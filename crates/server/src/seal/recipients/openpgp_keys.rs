//! OpenPGP recipients (rPGP, the `pgp` crate, pure Rust): an ASCII-armored
//! v4 public key (`gpg --export --armor`) with a valid encryption-capable
//! key: RSA of 2048 bits or more, ECDH (Curve25519 or a NIST curve), X25519
//! or X448. The share goes out as a SEIPD v1 message (AES-256 with MDC),
//! which every `gpg --decrypt` opens; only public-key operations are run.
//!
//! rPGP has no policy layer (which key is valid now), so `usable_key` does
//! the little this needs: only self-signatures count (third-party
//! certifications are ignored), the newest wins, a valid revocation
//! signature revokes, and a key expiration time counts from the key's
//! creation (the primary key's expiry covers its subkeys).
//!
//! Zeroizing: rPGP keeps the session key in a zeroizing `RawSessionKey`,
//! but copies the plaintext into its literal-data chunk buffers, which it
//! does not zeroize; we hand it a slice of our own `Zeroizing` buffer and
//! cannot reach those copies (a few dozen bytes of freed heap).

use std::io::Read;

use pgp::armor::{BlockType, Dearmor};
use pgp::composed::{ArmorOptions, Deserializable, MessageBuilder, SignedPublicKey};
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::packet::{Packet, PacketParser, PacketTrait, PublicKey, PublicSubkey, Signature, SignatureType};
use pgp::ser::Serialize;
use pgp::types::{EcdhPublicParams, KeyDetails, KeyVersion, PublicParams, Tag, Timestamp};
use zeroize::Zeroizing;

const SECRET: &str = "this is an OpenPGP *secret* key: give the holder's public key (gpg --export --armor KEY_ID)";

/// One holder's OpenPGP key: the (sub)key that encrypts.
pub struct Recipient {
    key: EncryptingKey,
    /// `OpenPGP FINGERPRINT <user id>`, printed above the share.
    pub name: String,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

enum EncryptingKey {
    Primary(PublicKey),
    Subkey(PublicSubkey),
}

/// Whether a file's contents are (meant as) an OpenPGP key.
pub fn looks_like_key(contents: &str) -> bool {
    contents.contains("-----BEGIN PGP ")
}

/// An armored OpenPGP public key, checked to be usable now; never echoes
/// what it was given (it may be a secret key).
pub fn parse(contents: &str) -> Result<Recipient, String> {
    if contents.contains("-----BEGIN PGP PRIVATE KEY BLOCK-----") {
        return Err(SECRET.to_owned());
    }
    let mut dearmor = Dearmor::new(contents.as_bytes());
    // Zeroized: a secret key may hide under a public key's armor header.
    let mut bytes = Zeroizing::new(Vec::new());
    dearmor.read_to_end(&mut bytes).map_err(|e| format!("not an ASCII-armored OpenPGP public key: {e}"))?;
    if dearmor.typ != Some(BlockType::PublicKey) {
        return Err("not an OpenPGP public key block (-----BEGIN PGP PUBLIC KEY BLOCK-----)".to_owned());
    }
    let packets = PacketParser::new(&bytes[..]).collect::<Result<Vec<Packet>, _>>().map_err(|e| format!("not an OpenPGP public key: {e}"))?;
    if packets.iter().any(|p| matches!(p.tag(), Tag::SecretKey | Tag::SecretSubkey)) {
        return Err(SECRET.to_owned());
    }
    let mut keys = SignedPublicKey::from_packets(packets.into_iter().map(Ok).peekable());
    let key = match (keys.next(), keys.next()) {
        (Some(Ok(key)), None) => key,
        (Some(Err(e)), _) => return Err(format!("not an OpenPGP public key: {e}")),
        (None, _) => return Err("the file holds no OpenPGP public key".to_owned()),
        (Some(Ok(_)), Some(_)) => return Err("the file holds several OpenPGP keys: give each holder's one key".to_owned()),
    };
    let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
    let name = format!("OpenPGP {:X}{}", key.primary_key.fingerprint(), user_id(&key).map(|u| format!(" {u}")).unwrap_or_default());
    let key = usable_key(&key, now).map_err(|e| format!("{name}: {e}"))?;
    Ok(Recipient { key, name })
}

/// `plaintext` as an armored OpenPGP message to the recipient (what
/// `gpg --encrypt --armor` writes).
pub fn encrypt_armored(recipient: &Recipient, plaintext: &[u8]) -> Result<String, String> {
    let mut rng = AwsLcRng;
    let mut builder = MessageBuilder::from_reader("", plaintext).seipd_v1(&mut rng, SymmetricKeyAlgorithm::AES256);
    match &recipient.key {
        EncryptingKey::Primary(key) => builder.encrypt_to_key(&mut rng, key),
        EncryptingKey::Subkey(key) => builder.encrypt_to_key(&mut rng, key),
    }
    .map_err(|e| e.to_string())?;
    builder.to_armored_string(&mut rng, ArmorOptions::default()).map_err(|e| e.to_string())
}

/// The key that encrypts, if the certificate is valid at `now`: the newest
/// valid encryption-capable subkey (or primary key), as gpg picks it.
fn usable_key(key: &SignedPublicKey, now: u64) -> Result<EncryptingKey, String> {
    let primary = &key.primary_key;
    if primary.version() != KeyVersion::V4 {
        return Err(format!("a {:?} key: only v4 keys are supported (those GnuPG makes and reads)", primary.version()));
    }
    if key.details.revocation_signatures.iter().any(|s| s.verify_key(primary).is_ok()) {
        return Err("the key is revoked".to_owned());
    }
    let certifications = key.details.users.iter().flat_map(|u| u.signatures.iter().filter(move |s| s.is_certification() && s.verify_certification(primary, Tag::UserId, &u.id).is_ok()));
    let direct = key.details.direct_signatures.iter().filter(|s| s.typ() == Some(SignatureType::Key) && s.verify_key(primary).is_ok());
    let self_signature = newest(certifications.chain(direct)).ok_or("the key has no valid self-signature")?;
    check_expiry("the key", primary.created_at(), self_signature, now)?;

    let mut candidates: Vec<(Timestamp, EncryptingKey)> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    if encrypts(self_signature) {
        match strong_enough(primary.public_params()) {
            Ok(()) => candidates.push((primary.created_at(), EncryptingKey::Primary(primary.clone()))),
            Err(e) => refused.push(format!("its primary key: {e}")),
        }
    }
    for subkey in &key.public_subkeys {
        let valid: Vec<&Signature> = subkey.signatures.iter().filter(|s| s.verify_subkey_binding(primary, &subkey.key).is_ok()).collect();
        let Some(binding) = newest(valid.iter().copied().filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))) else {
            continue;
        };
        if !encrypts(binding) {
            continue;
        }
        let what = format!("its encryption subkey {:X}", subkey.key.fingerprint());
        let checked = if valid.iter().any(|s| s.typ() == Some(SignatureType::SubkeyRevocation)) {
            Err(format!("{what} is revoked"))
        } else {
            check_expiry(&what, subkey.key.created_at(), binding, now).and_then(|()| strong_enough(subkey.key.public_params()).map_err(|e| format!("{what}: {e}")))
        };
        match checked {
            Ok(()) => candidates.push((subkey.key.created_at(), EncryptingKey::Subkey(subkey.key.clone()))),
            Err(e) => refused.push(e),
        }
    }
    match candidates.into_iter().max_by_key(|(created, _)| *created) {
        Some((_, key)) => Ok(key),
        None if refused.is_empty() => Err("the key cannot encrypt (a signing-only key?): give a key with an encryption subkey (gpg --quick-add-key FINGERPRINT cv25519 encr)".to_owned()),
        None => Err(refused.join("; ")),
    }
}

fn newest<'a>(signatures: impl Iterator<Item = &'a Signature>) -> Option<&'a Signature> {
    signatures.max_by_key(|s| s.created())
}

fn encrypts(signature: &Signature) -> bool {
    let flags = signature.key_flags();
    flags.encrypt_comms() || flags.encrypt_storage()
}

/// A key expiration time counts from the key's creation; zero is none.
fn check_expiry(what: &str, created: Timestamp, signature: &Signature, now: u64) -> Result<(), String> {
    let Some(lifetime) = signature.key_expiration_time().filter(|d| d.as_secs() != 0) else {
        return Ok(());
    };
    let expires = u64::from(created.as_secs()) + u64::from(lifetime.as_secs());
    if expires > now {
        return Ok(());
    }
    let date = i64::try_from(expires).ok().and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok()).map(|t| t.date().to_string()).unwrap_or_default();
    Err(format!("{what} expired on {date}"))
}

fn strong_enough(params: &PublicParams) -> Result<(), String> {
    match params {
        PublicParams::RSA(rsa) => {
            // An MPI starts with its length in bits (RFC 9580, 3.2): n's comes first.
            let bytes = rsa.to_bytes().map_err(|e| e.to_string())?;
            let bits = bytes.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            if bits < 2048 {
                return Err(format!("an RSA key of {bits} bits: at least 2048 are needed"));
            }
            Ok(())
        }
        PublicParams::ECDH(EcdhPublicParams::Curve25519Legacy { .. } | EcdhPublicParams::P256 { .. } | EcdhPublicParams::P384 { .. } | EcdhPublicParams::P521 { .. }) | PublicParams::X25519(_) | PublicParams::X448(_) => Ok(()),
        _ => Err("an algorithm not supported here: RSA (2048 bits or more), ECDH (Curve25519, NIST P-256/384/521), X25519 or X448".to_owned()),
    }
}

/// The first user ID with a valid self-signature, stripped of control
/// characters (the holder wrote it; it goes to the operator's terminal).
fn user_id(key: &SignedPublicKey) -> Option<String> {
    let user = key.details.users.iter().find(|u| u.signatures.iter().any(|s| s.verify_certification(&key.primary_key, Tag::UserId, &u.id).is_ok()))?;
    Some(printable(&String::from_utf8_lossy(user.id.id())))
}

fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// aws-lc's CSPRNG, as the `rand_core` 0.6 generator rPGP asks for.
struct AwsLcRng;

impl rand_core_06::RngCore for AwsLcRng {
    fn next_u32(&mut self) -> u32 {
        rand_core_06::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core_06::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        aws_lc_rs::rand::fill(dest).expect("aws-lc's CSPRNG failed");
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_06::Error> {
        aws_lc_rs::rand::fill(dest).map_err(|_| rand_core_06::Error::new("aws-lc's CSPRNG failed"))
    }
}

impl rand_core_06::CryptoRng for AwsLcRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_secret_keys_are_refused_without_echo() {
        assert!(parse("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQVYBGabc\n-----END PGP PRIVATE KEY BLOCK-----\n").unwrap_err().contains("*secret*"));
        let err = parse("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64 at all!\n-----END PGP PUBLIC KEY BLOCK-----\n").unwrap_err();
        assert!(err.contains("not") && !err.contains("at all"), "{err}");
        assert!(parse("-----BEGIN PGP MESSAGE-----\n\nwcBMA\n-----END PGP MESSAGE-----\n").is_err());
    }

    #[test]
    fn user_ids_lose_control_characters() {
        assert_eq!(printable("Eve \u{1b}[2J<eve@example.com>\n"), "Eve [2J<eve@example.com>");
    }
}
