//! Sealing the root key itself (docs/root-of-trust.md): the root key is
//! wrapped with AES-256-GCM under a key-encryption key (KEK) that is never
//! stored, and the KEK comes from a passphrase (Argon2id) or from Shamir
//! shares held by operators. Pure: no I/O; the server keeps the wrapped
//! form and the parameters with the data.
//!
//! The wrapped form is [`RootKey::seal`]'s blob, made with the KEK as the
//! key and an AAD naming the mode and format version, so a wrapped key of
//! one mode cannot be replayed as another's.

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::root_key::{RootKey, ROOT_KEY_LEN};
use crate::secret::{random_bytes, random_secret, SecretBytes};

/// The AAD of a root key wrapped under a passphrase-derived KEK.
pub const PASSPHRASE_AAD: &[u8] = b"trent/seal/v1/passphrase";
/// The AAD of a root key wrapped under a KEK split into Shamir shares.
pub const SHAMIR_AAD: &[u8] = b"trent/seal/v1/shamir";
/// Salt length for Argon2id (RFC 9106 recommends 16 bytes).
pub const SALT_LEN: usize = 16;

/// A key-encryption key: 32 bytes, zeroized on drop.
pub struct Kek(Zeroizing<[u8; ROOT_KEY_LEN]>);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    fn as_root(&self) -> Result<RootKey, CryptoError> {
        RootKey::from_bytes(SecretBytes::new(self.0.to_vec()))
    }
}

/// Wraps `root` under `kek`, bound to `aad` (one of the mode AADs).
pub fn wrap(root: &RootKey, kek: &Kek, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    kek.as_root()?.seal(root.expose(), aad)
}

/// Opens a root key wrapped by [`wrap`]; [`CryptoError::Decrypt`] when the
/// KEK is not the one it was wrapped under (a wrong passphrase or share).
pub fn unwrap(wrapped: &[u8], kek: &Kek, aad: &[u8]) -> Result<RootKey, CryptoError> {
    RootKey::from_bytes(kek.as_root()?.unseal(wrapped, aad)?)
}

/// Wraps `root` with a key this crate cannot hold (a PKCS#11 token's):
/// `wrap` gets the root key's bytes once and returns the wrapped form.
/// Opening goes through [`RootKey::from_bytes`] with what the token returns.
pub fn wrap_with<T, E>(root: &RootKey, wrap: impl FnOnce(&[u8]) -> Result<T, E>) -> Result<T, E> {
    wrap(root.expose())
}

/// The AAD of a root key wrapped by a PKCS#11 token's key.
pub const PKCS11_AAD: &[u8] = b"trent/seal/v1/pkcs11";

/// Argon2id's cost parameters, stored beside the wrapped key so every
/// start derives the same KEK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Argon2Cost {
    /// RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes):
    /// the floor [`tune`] starts from.
    pub const RFC9106_LOW_MEMORY: Argon2Cost = Argon2Cost { memory_kib: 64 * 1024, iterations: 3, parallelism: 4 };

    fn argon2(self) -> Result<Argon2<'static>, CryptoError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(ROOT_KEY_LEN))
            .map_err(|_| CryptoError::InvalidInput("Argon2id parameters out of range"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// A fresh random salt for [`derive_kek`].
pub fn new_salt() -> Result<Vec<u8>, CryptoError> {
    random_bytes(SALT_LEN)
}

/// The KEK for `passphrase` with Argon2id (RustCrypto's `argon2`:
/// aws-lc-rs has no memory-hard password hash, only PBKDF2, which a GPU
/// guesses far faster).
pub fn derive_kek(passphrase: &[u8], salt: &[u8], cost: Argon2Cost) -> Result<Kek, CryptoError> {
    let mut out = Zeroizing::new([0u8; ROOT_KEY_LEN]);
    cost.argon2()?
        .hash_password_into(passphrase, salt, out.as_mut())
        .map_err(|_| CryptoError::InvalidInput("Argon2id refused the passphrase or salt"))?;
    Ok(Kek(out))
}

/// Cost parameters that take about `target` on this machine: RFC 9106's
/// low-memory option, with passes added until one derivation takes
/// `target` (measured, so a faster machine gets more passes).
pub fn tune(target: std::time::Duration) -> Result<Argon2Cost, CryptoError> {
    let mut cost = Argon2Cost::RFC9106_LOW_MEMORY;
    let salt = new_salt()?;
    let started = std::time::Instant::now();
    derive_kek(b"tuning", &salt, cost)?;
    let per_pass = started.elapsed() / cost.iterations;
    if !per_pass.is_zero() {
        let passes = (target.as_nanos() / per_pass.as_nanos()).clamp(u128::from(cost.iterations), 64);
        cost.iterations = u32::try_from(passes).unwrap_or(64);
    }
    Ok(cost)
}

/// A new random KEK (the one Shamir shares split).
pub fn random_kek() -> Result<Kek, CryptoError> {
    let bytes = random_secret(ROOT_KEY_LEN)?;
    let mut key = Zeroizing::new([0u8; ROOT_KEY_LEN]);
    key.copy_from_slice(bytes.as_bytes());
    Ok(Kek(key))
}

/// Splits `kek` into `shares` Shamir shares over GF(256), any `threshold`
/// of which rebuild it. Each share is `x || y` (33 bytes for a 32-byte
/// KEK), as `blahaj` encodes it.
///
/// `blahaj` rather than writing Shamir ourselves (DESIGN.md: no home-made
/// primitives): it is the maintained fork of `sharks` (whose last release
/// is from 2020), small, zeroizes its shares and polynomials, and refuses
/// more than 255 shares. Coefficients come from `rand`'s OS-seeded
/// ChaCha generator.
pub fn split(kek: &Kek, shares: u8, threshold: u8) -> Result<Vec<SecretBytes>, CryptoError> {
    if threshold < 2 || shares < threshold {
        return Err(CryptoError::InvalidInput("Shamir needs 2 <= threshold <= shares <= 255"));
    }
    let dealer = blahaj::Sharks(threshold).dealer(kek.0.as_ref());
    Ok(dealer.take(usize::from(shares)).map(|s| SecretBytes::new(Vec::from(&s))).collect())
}

/// Rebuilds the KEK from `threshold` or more distinct shares. Fewer, or
/// shares of the wrong length, are refused; shares that are well formed
/// but wrong give a wrong KEK, which [`unwrap`] then refuses.
pub fn combine(shares: &[SecretBytes], threshold: u8) -> Result<Kek, CryptoError> {
    let parsed = shares
        .iter()
        .map(|s| blahaj::Share::try_from(s.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| CryptoError::InvalidInput("a share is too short"))?;
    if parsed.iter().any(|s| s.y.len() != ROOT_KEY_LEN) {
        return Err(CryptoError::InvalidInput("a share has the wrong length"));
    }
    let secret = Zeroizing::new(
        blahaj::Sharks(threshold).recover(&parsed).map_err(|_| CryptoError::InvalidInput("not enough distinct shares"))?,
    );
    let mut key = Zeroizing::new([0u8; ROOT_KEY_LEN]);
    if secret.len() != ROOT_KEY_LEN {
        return Err(CryptoError::InvalidInput("a share has the wrong length"));
    }
    key.copy_from_slice(&secret);
    Ok(Kek(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Cost = Argon2Cost { memory_kib: 64, iterations: 1, parallelism: 1 };

    fn same(a: &RootKey, b: &RootKey) -> bool {
        a.expose() == b.expose()
    }

    #[test]
    fn a_passphrase_wrapped_root_opens_only_with_that_passphrase_and_mode() {
        let root = RootKey::generate().unwrap();
        let salt = new_salt().unwrap();
        let kek = derive_kek(b"correct horse", &salt, CHEAP).unwrap();
        let wrapped = wrap(&root, &kek, PASSPHRASE_AAD).unwrap();
        assert!(!wrapped.windows(ROOT_KEY_LEN).any(|w| w == root.expose()));
        let again = derive_kek(b"correct horse", &salt, CHEAP).unwrap();
        assert!(same(&unwrap(&wrapped, &again, PASSPHRASE_AAD).unwrap(), &root));
        let wrong = derive_kek(b"correct horsf", &salt, CHEAP).unwrap();
        assert_eq!(unwrap(&wrapped, &wrong, PASSPHRASE_AAD).err(), Some(CryptoError::Decrypt));
        assert_eq!(unwrap(&wrapped, &again, SHAMIR_AAD).err(), Some(CryptoError::Decrypt));
        let other_salt = derive_kek(b"correct horse", &new_salt().unwrap(), CHEAP).unwrap();
        assert_eq!(unwrap(&wrapped, &other_salt, PASSPHRASE_AAD).err(), Some(CryptoError::Decrypt));
    }

    #[test]
    fn any_threshold_shares_rebuild_the_kek_and_fewer_do_not() {
        let root = RootKey::generate().unwrap();
        let kek = random_kek().unwrap();
        let wrapped = wrap(&root, &kek, SHAMIR_AAD).unwrap();
        let shares = split(&kek, 5, 3).unwrap();
        assert_eq!(shares.len(), 5);
        for pick in [[0, 1, 2], [0, 2, 4], [4, 3, 1], [1, 2, 3]] {
            let chosen: Vec<SecretBytes> = pick.iter().map(|&i| SecretBytes::new(shares[i].as_bytes().to_vec())).collect();
            let kek = combine(&chosen, 3).unwrap();
            assert!(same(&unwrap(&wrapped, &kek, SHAMIR_AAD).unwrap(), &root));
        }
        let two: Vec<SecretBytes> = shares[..2].iter().map(|s| SecretBytes::new(s.as_bytes().to_vec())).collect();
        assert!(combine(&two, 3).is_err());
        // The same share twice counts once.
        let dup: Vec<SecretBytes> = [0, 0, 1].iter().map(|&i| SecretBytes::new(shares[i].as_bytes().to_vec())).collect();
        assert!(combine(&dup, 3).is_err());
        // A changed share rebuilds another KEK, which the wrapped key refuses.
        let mut bad = shares[2].as_bytes().to_vec();
        bad[5] ^= 1;
        let tampered = vec![SecretBytes::new(shares[0].as_bytes().to_vec()), SecretBytes::new(shares[1].as_bytes().to_vec()), SecretBytes::new(bad)];
        assert_eq!(unwrap(&wrapped, &combine(&tampered, 3).unwrap(), SHAMIR_AAD).err(), Some(CryptoError::Decrypt));
    }

    #[test]
    fn the_root_key_is_locked_in_memory_where_the_os_allows() {
        // Linux lets any process lock a page or two (RLIMIT_MEMLOCK).
        assert!(RootKey::generate().unwrap().memory_locked());
    }

    #[test]
    fn bad_share_counts_are_refused() {
        let kek = random_kek().unwrap();
        assert!(split(&kek, 5, 1).is_err());
        assert!(split(&kek, 2, 3).is_err());
        assert_eq!(format!("{kek:?}"), "Kek(<redacted>)");
    }
}
