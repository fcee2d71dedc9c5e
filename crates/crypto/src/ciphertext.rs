//! Trent's symmetric ciphertext blob: what Encrypt returns and Decrypt takes.
//!
//! The blob names the key and the key material version it was made with, so
//! Decrypt needs no KeyId. Layout (fixed sizes; see docs/ciphertext-format.md):
//!
//! ```text
//! offset len  field
//!      0   2  magic 0x54 ('T'), format version 0x01
//!      2  16  key id (UUID, binary)
//!     18  32  key material id
//!     50  16  salt (random)
//!     66  12  iv (random)
//!     78   n  ciphertext
//!   78+n  16  GCM tag
//! ```
//!
//! Each message gets its own AES-256-GCM key,
//! `HKDF-SHA256(ikm = material, salt = salt, info = "trent/symmetric/v1")`,
//! and the AAD is the whole header (bytes 0..78) followed by the canonical
//! encoding of the encryption context ([`encode_context`]).

use std::collections::BTreeMap;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hkdf::{Salt, HKDF_SHA256};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::secret::{aes_gcm_open, random_bytes, SecretBytes};

/// Magic byte `'T'` and format version 1.
pub const MAGIC: [u8; 2] = [0x54, 0x01];
/// Length of the key material id.
pub const MATERIAL_ID_LEN: usize = 32;
/// Length of symmetric key material (AES-256).
pub const MATERIAL_LEN: usize = 32;
const SALT_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// HKDF info string for per-message keys.
const HKDF_INFO: &[u8] = b"trent/symmetric/v1";

const KEY_ID_AT: usize = MAGIC.len();
const MATERIAL_ID_AT: usize = KEY_ID_AT + 16;
const SALT_AT: usize = MATERIAL_ID_AT + MATERIAL_ID_LEN;
const IV_AT: usize = SALT_AT + SALT_LEN;
/// Length of the header (magic through iv); all of it is authenticated.
pub const HEADER_LEN: usize = IV_AT + NONCE_LEN;
/// Bytes a ciphertext blob adds to the plaintext (header + GCM tag).
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// What a blob says about the key that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// The KMS key's id.
    pub key_id: Uuid,
    /// The key material version (users see it as 64 lowercase hex chars).
    pub material_id: [u8; MATERIAL_ID_LEN],
}

/// Reads the key id and material id from a blob without decrypting it.
/// [`CryptoError::Malformed`] if the blob is shorter than [`OVERHEAD`] or
/// does not start with [`MAGIC`]. The ids are not authenticated until
/// [`decrypt`] succeeds.
pub fn parse_header(blob: &[u8]) -> Result<Header, CryptoError> {
    if blob.len() < OVERHEAD {
        return Err(CryptoError::Malformed("ciphertext too short"));
    }
    if blob[0] != MAGIC[0] {
        return Err(CryptoError::Malformed("not a Trent ciphertext"));
    }
    if blob[1] != MAGIC[1] {
        return Err(CryptoError::Malformed("unknown ciphertext format version"));
    }
    let mut key_id = [0u8; 16];
    key_id.copy_from_slice(&blob[KEY_ID_AT..MATERIAL_ID_AT]);
    let mut material_id = [0u8; MATERIAL_ID_LEN];
    material_id.copy_from_slice(&blob[MATERIAL_ID_AT..SALT_AT]);
    Ok(Header {
        key_id: Uuid::from_bytes(key_id),
        material_id,
    })
}

/// Canonical encoding of an encryption context: `u16` entry count, then per
/// entry (sorted by key bytes, as a `BTreeMap<String, _>` iterates) `u16` key
/// length, key bytes, `u16` value length, value bytes; all big endian.
/// An empty context encodes as `00 00`.
///
/// [`CryptoError::Malformed`] if the count or a length exceeds `u16::MAX`
/// (KMS limits a context to 8192 bytes, so the server rejects such a
/// context long before this).
pub fn encode_context(context: &BTreeMap<String, String>) -> Result<Vec<u8>, CryptoError> {
    let too_big = |_| CryptoError::Malformed("encryption context too large");
    let size: usize = 2 + context
        .iter()
        .map(|(k, v)| 4 + k.len() + v.len())
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&u16::try_from(context.len()).map_err(too_big)?.to_be_bytes());
    for (k, v) in context {
        for field in [k.as_bytes(), v.as_bytes()] {
            out.extend_from_slice(&u16::try_from(field.len()).map_err(too_big)?.to_be_bytes());
            out.extend_from_slice(field);
        }
    }
    Ok(out)
}

/// The AES-256-GCM step of a blob, done by whoever holds the key: in
/// software ([`SoftwareCipher`]: a per-message key from HKDF over the
/// material and the salt) or inside a token (a PKCS#11 key, which uses the
/// token key directly; the salt is then random, unused, and still
/// authenticated as part of the header). The framing around it (header,
/// AAD, layout) is this module's, so every cipher makes the same format.
pub trait BlobCipher {
    /// Encrypts `in_out` in place with AES-256-GCM under `iv` (12 bytes) and
    /// `aad`, returning the 16-byte tag. `salt` is the blob's salt.
    fn seal(&self, salt: &[u8], iv: &[u8], aad: &[u8], in_out: &mut [u8]) -> Result<[u8; TAG_LEN], CryptoError>;

    /// Decrypts `sealed` (ciphertext followed by the tag). Authentication
    /// failure is [`CryptoError::Decrypt`].
    fn open(&self, salt: &[u8], iv: &[u8], aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError>;
}

/// Length of the GCM tag every blob ends with.
pub const GCM_TAG_LEN: usize = TAG_LEN;
/// Length of the GCM iv in every blob.
pub const GCM_IV_LEN: usize = NONCE_LEN;

/// Key material held in software: each message gets its own AES-256-GCM
/// key, HKDF-SHA256(material, salt, info).
pub struct SoftwareCipher<'a>(pub &'a SecretBytes);

impl BlobCipher for SoftwareCipher<'_> {
    fn seal(&self, salt: &[u8], iv: &[u8], aad: &[u8], in_out: &mut [u8]) -> Result<[u8; TAG_LEN], CryptoError> {
        let key = message_key(self.0, salt)?;
        let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| CryptoError::Internal("bad iv length"))?;
        let tag = key
            .seal_in_place_separate_tag(nonce, Aad::from(aad), in_out)
            .map_err(|_| CryptoError::Internal("AES-GCM seal failed"))?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    fn open(&self, salt: &[u8], iv: &[u8], aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        aes_gcm_open(&message_key(self.0, salt)?, iv, aad, sealed)
    }
}

/// The per-message AES-256-GCM key: HKDF-SHA256(material, salt, info).
fn message_key(material: &SecretBytes, salt: &[u8]) -> Result<LessSafeKey, CryptoError> {
    if material.len() != MATERIAL_LEN {
        return Err(CryptoError::Internal("key material must be 32 bytes"));
    }
    let prk = Salt::new(HKDF_SHA256, salt).extract(material.as_bytes());
    let okm = prk
        .expand(&[HKDF_INFO], &AES_256_GCM)
        .map_err(|_| CryptoError::Internal("HKDF expand failed"))?;
    Ok(LessSafeKey::new(UnboundKey::from(okm)))
}

fn aad_for(header: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>, CryptoError> {
    let mut aad = header.to_vec();
    aad.extend_from_slice(&encode_context(context)?);
    Ok(aad)
}

/// Encrypts `plaintext` under `material` (32 bytes), naming `header`'s key
/// and material ids in the blob and binding `context`.
pub fn encrypt(
    material: &SecretBytes,
    header: &Header,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    encrypt_with_cipher(&SoftwareCipher(material), header, context, plaintext)
}

/// Encrypts `plaintext` into a blob with `cipher` doing AES-256-GCM, with
/// a fresh random salt and iv.
pub fn encrypt_with_cipher<C: BlobCipher + ?Sized>(
    cipher: &C,
    header: &Header,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    // One draw for both: each call into the generator has a fixed cost.
    let fresh = random_bytes(SALT_LEN + NONCE_LEN)?;
    let (salt, iv) = fresh.split_at(SALT_LEN);
    seal_blob(cipher, header, context, plaintext, salt, iv)
}

/// [`encrypt`] with a given salt and iv. Private to the crate: reusing an iv
/// under the same salt and material breaks GCM, so only [`encrypt`] (fresh
/// random values) and the known-answer test call it.
#[cfg(test)]
pub(crate) fn encrypt_with(
    material: &SecretBytes,
    header: &Header,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
    salt: &[u8],
    iv: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    seal_blob(&SoftwareCipher(material), header, context, plaintext, salt, iv)
}

fn seal_blob<C: BlobCipher + ?Sized>(
    cipher: &C,
    header: &Header,
    context: &BTreeMap<String, String>,
    plaintext: &[u8],
    salt: &[u8],
    iv: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if salt.len() != SALT_LEN || iv.len() != NONCE_LEN {
        return Err(CryptoError::Internal("bad salt or iv length"));
    }
    // Zeroizing while it still holds plaintext, in case sealing fails.
    let mut out = Zeroizing::new(Vec::with_capacity(OVERHEAD + plaintext.len()));
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(header.key_id.as_bytes());
    out.extend_from_slice(&header.material_id);
    out.extend_from_slice(salt);
    out.extend_from_slice(iv);
    let aad = aad_for(&out[..HEADER_LEN], context)?;
    out.extend_from_slice(plaintext);
    let tag = cipher.seal(salt, iv, &aad, &mut out[HEADER_LEN..])?;
    out.extend_from_slice(&tag);
    Ok(std::mem::take(&mut *out))
}

/// Decrypts a blob made by [`encrypt`] under `material` with the same
/// `context`. [`CryptoError::Malformed`] if it cannot be parsed;
/// [`CryptoError::Decrypt`] on any other mismatch (wrong material, wrong
/// context, any changed byte).
pub fn decrypt(
    material: &SecretBytes,
    blob: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<SecretBytes, CryptoError> {
    decrypt_with_cipher(&SoftwareCipher(material), blob, context)
}

/// [`decrypt`] with `cipher` doing AES-256-GCM.
pub fn decrypt_with_cipher<C: BlobCipher + ?Sized>(
    cipher: &C,
    blob: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<SecretBytes, CryptoError> {
    parse_header(blob)?;
    let aad = aad_for(&blob[..HEADER_LEN], context)?;
    cipher.open(&blob[SALT_AT..IV_AT], &blob[IV_AT..HEADER_LEN], &aad, &blob[HEADER_LEN..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn seq(start: u8, n: usize) -> Vec<u8> {
        (0..n).map(|i| start + i as u8).collect()
    }

    #[test]
    fn layout_constants() {
        assert_eq!(HEADER_LEN, 78);
        assert_eq!(OVERHEAD, 94);
    }

    #[test]
    fn context_encoding_known_answer() {
        // Inserted out of order; encoded sorted by key bytes.
        let c = ctx(&[("bc", "23"), ("a", "1")]);
        let expected: &[u8] = &[
            0x00, 0x02, // two entries
            0x00, 0x01, b'a', 0x00, 0x01, b'1', //
            0x00, 0x02, b'b', b'c', 0x00, 0x02, b'2', b'3',
        ];
        assert_eq!(encode_context(&c).unwrap(), expected);
        assert_eq!(encode_context(&BTreeMap::new()).unwrap(), [0u8, 0]);
        // Sorting is by bytes: 'B' (0x42) < 'a' (0x61); UTF-8 is kept as is.
        let c = ctx(&[("a", ""), ("B", "é")]);
        assert_eq!(
            encode_context(&c).unwrap(),
            [0, 2, 0, 1, b'B', 0, 2, 0xC3, 0xA9, 0, 1, b'a', 0, 0]
        );
    }

    #[test]
    fn context_encoding_rejects_oversized_field() {
        let c = ctx(&[("k", &"v".repeat(65_536))]);
        assert!(matches!(encode_context(&c), Err(CryptoError::Malformed(_))));
        let c = ctx(&[("k", &"v".repeat(65_535))]);
        assert_eq!(encode_context(&c).unwrap().len(), 2 + 2 + 1 + 2 + 65_535);
    }

    /// Vector computed independently with Python's `cryptography` package
    /// (HKDF-SHA256 + AESGCM) from the layout in docs/ciphertext-format.md.
    #[test]
    fn blob_known_answer() {
        let material = SecretBytes::new(seq(0x00, 32));
        let mut material_id = [0u8; 32];
        material_id.copy_from_slice(&seq(0x20, 32));
        let header = Header {
            key_id: Uuid::parse_str("00112233-4455-6677-8899-aabbccddeeff").unwrap(),
            material_id,
        };
        let c = ctx(&[("bc", "23"), ("a", "1")]);
        let blob = encrypt_with(
            &material,
            &header,
            &c,
            b"hello trent",
            &seq(0x40, 16),
            &seq(0x50, 12),
        )
        .unwrap();
        let expected = "540100112233445566778899aabbccddeeff\
            202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f\
            404142434445464748494a4b4c4d4e4f505152535455565758595a5b\
            43e1d2a99bd6b7b653f52e31\
            8ace1ffd13af5015e4f67bb04bb460";
        let hex: String = blob.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
        assert_eq!(
            decrypt(&material, &blob, &c).unwrap().as_bytes(),
            b"hello trent"
        );
        assert_eq!(parse_header(&blob).unwrap(), header);
    }

    #[test]
    fn encrypt_with_rejects_bad_lengths() {
        let material = SecretBytes::new(vec![0; 32]);
        let header = Header {
            key_id: Uuid::nil(),
            material_id: [0; 32],
        };
        let c = BTreeMap::new();
        assert!(encrypt_with(&material, &header, &c, b"x", &[0; 15], &[0; 12]).is_err());
        assert!(encrypt_with(&material, &header, &c, b"x", &[0; 16], &[0; 11]).is_err());
        let short = SecretBytes::new(vec![0; 16]);
        assert!(matches!(
            encrypt_with(&short, &header, &c, b"x", &[0; 16], &[0; 12]),
            Err(CryptoError::Internal(_))
        ));
    }
}
