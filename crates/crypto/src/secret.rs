//! Secret bytes in a zeroizing buffer, and the crate's source of randomness.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::CryptoError;

/// Secret bytes (key material, decrypted plaintext).
///
/// Zeroed on drop; `Debug` prints only the length; there is deliberately no
/// `Serialize`, no `Display` and no `PartialEq` (compare `as_bytes()` in
/// tests only, as that comparison is not constant time).
#[derive(Clone)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`; they are zeroed when this value drops.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// The secret bytes. Do not log or copy them into non-zeroizing buffers.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<redacted {} bytes>)", self.0.len())
    }
}

/// `n` bytes from aws-lc's CSPRNG, held as a secret.
pub fn random_secret(n: usize) -> Result<SecretBytes, CryptoError> {
    let mut buf = Zeroizing::new(vec![0u8; n]);
    aws_lc_rs::rand::fill(&mut buf)
        .map_err(|_| CryptoError::Internal("random generator failed"))?;
    Ok(SecretBytes(buf))
}

/// `n` bytes from aws-lc's CSPRNG, for public values (nonces, salts, ids).
pub fn random_bytes(n: usize) -> Result<Vec<u8>, CryptoError> {
    let mut buf = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut buf)
        .map_err(|_| CryptoError::Internal("random generator failed"))?;
    Ok(buf)
}

/// A random (version 4) UUID from aws-lc's generator, which runs in user
/// space (`Uuid::new_v4` asks the kernel each time, a system call per id).
/// Ids are public: they are cut from a per-thread block of 512 random
/// bytes, since each call into the generator has a fixed cost and every
/// request takes two ids.
pub fn new_uuid() -> uuid::Uuid {
    const BLOCK: usize = 512;
    thread_local! {
        static ID_BYTES: std::cell::RefCell<([u8; BLOCK], usize)> = const { std::cell::RefCell::new(([0; BLOCK], BLOCK)) };
    }
    let bytes = ID_BYTES.with(|cell| {
        let (block, used) = &mut *cell.borrow_mut();
        if *used + 16 > BLOCK {
            aws_lc_rs::rand::fill(block).ok()?;
            *used = 0;
        }
        let id: [u8; 16] = block[*used..*used + 16].try_into().ok()?;
        *used += 16;
        Some(id)
    });
    match bytes {
        Some(bytes) => uuid::Builder::from_random_bytes(bytes).into_uuid(),
        // aws-lc's generator only fails if the machine has no entropy; the kernel's then.
        None => uuid::Uuid::new_v4(),
    }
}

/// AES-GCM decryption into a secret: `sealed` is ciphertext then tag; the
/// working copy is zeroized. Authentication failure is [`CryptoError::Decrypt`].
/// The one place the root key's seals and Trent's ciphertexts are opened.
pub(crate) fn aes_gcm_open(key: &aws_lc_rs::aead::LessSafeKey, iv: &[u8], aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
    let nonce = aws_lc_rs::aead::Nonce::try_assume_unique_for_key(iv).map_err(|_| CryptoError::Internal("bad iv length"))?;
    let mut buf = Zeroizing::new(sealed.to_vec());
    let plain_len = key.open_in_place(nonce, aws_lc_rs::aead::Aad::from(aad), &mut buf).map_err(|_| CryptoError::Decrypt)?.len();
    buf.truncate(plain_len);
    Ok(SecretBytes::new(std::mem::take(&mut *buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_version_4_and_never_repeat_across_blocks() {
        let ids: std::collections::HashSet<uuid::Uuid> = (0..1000).map(|_| new_uuid()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.get_version_num() == 4));
        // Another thread draws its own block.
        let other = std::thread::spawn(|| (0..100).map(|_| new_uuid()).collect::<Vec<_>>()).join().unwrap();
        assert!(other.iter().all(|id| !ids.contains(id)));
    }

    #[test]
    fn debug_is_redacted() {
        let s = SecretBytes::new(vec![0xAB; 8]);
        let d = format!("{s:?}");
        assert_eq!(d, "SecretBytes(<redacted 8 bytes>)");
        assert!(!d.contains("171"), "decimal bytes leaked: {d}");
        assert!(!d.to_lowercase().contains("ab"), "hex bytes leaked: {d}");
        // Also when nested in other Debug output.
        let d = format!("{:?}", Some(s.clone()));
        assert!(!d.contains("171"));
    }

    #[test]
    fn accessors_and_clone() {
        let s = SecretBytes::new(vec![1, 2, 3]);
        let c = s.clone();
        assert_eq!(c.as_bytes(), &[1, 2, 3]);
        assert_eq!(c.len(), 3);
        assert!(!c.is_empty());
        assert!(SecretBytes::new(Vec::new()).is_empty());
    }

    #[test]
    fn random_values_have_length_and_differ() {
        let a = random_secret(32).unwrap();
        let b = random_secret(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a.as_bytes(), b.as_bytes());
        let x = random_bytes(16).unwrap();
        let y = random_bytes(16).unwrap();
        assert_eq!(x.len(), 16);
        assert_ne!(x, y);
        assert!(random_bytes(0).unwrap().is_empty());
    }
}

