//! ML-DSA with an external mu (MessageType EXTERNAL_MU): FIPS 204
//! Algorithms 7 and 8 on a caller's 64-byte mu, which aws-lc-rs does not
//! expose. RustCrypto's `ml-dsa` does it from the same FIPS 204 seed that
//! aws-lc keeps in its PKCS#8, and the two must derive the same public key.

use std::sync::OnceLock;

use aws_lc_rs::signature::{KeyPair, PqdsaKeyPair};

use super::spec::KeySpec;
use crate::error::CryptoError;

const BAD_ALG: CryptoError = CryptoError::InvalidInput("the algorithm does not belong to this key");

/// An ML-DSA key for signing and verifying an external mu (FIPS 204
/// Algorithms 7 and 8 on a caller's 64-byte mu), which aws-lc-rs does not
/// expose: RustCrypto's `ml-dsa` does it, from the same FIPS 204 seed. Built
/// on first use only (an expanded key is tens of kilobytes).
pub(super) enum MuKey {
    L44(
        Box<(
            MlDsaSigning<ml_dsa::MlDsa44>,
            ml_dsa::VerifyingKey<ml_dsa::MlDsa44>,
        )>,
    ),
    L65(
        Box<(
            MlDsaSigning<ml_dsa::MlDsa65>,
            ml_dsa::VerifyingKey<ml_dsa::MlDsa65>,
        )>,
    ),
    L87(
        Box<(
            MlDsaSigning<ml_dsa::MlDsa87>,
            ml_dsa::VerifyingKey<ml_dsa::MlDsa87>,
        )>,
    ),
}

type MlDsaSigning<P> = ml_dsa::ExpandedSigningKey<P>;

/// Stack for external-mu work: RustCrypto's ML-DSA keeps its matrices and
/// vectors on the stack (hundreds of kilobytes for ML-DSA-87), more than an
/// async worker deep in a request has left, which overflowed it.
const ML_DSA_STACK: usize = 16 * 1024 * 1024;

/// Runs `work` on a short-lived thread with a stack of [`ML_DSA_STACK`]
/// (borrowing the key; the caller waits about a millisecond).
pub(super) fn on_big_stack<T: Send>(
    work: impl FnOnce() -> Result<T, CryptoError> + Send,
) -> Result<T, CryptoError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("trent-ml-dsa-mu".into())
            .stack_size(ML_DSA_STACK)
            .spawn_scoped(scope, work)
            .map_err(|_| CryptoError::Internal("cannot start a thread for ML-DSA"))?
            .join()
            .map_err(|_| CryptoError::Internal("ML-DSA external mu work panicked"))?
    })
}

pub(super) fn mu_key<'a>(
    spec: KeySpec,
    pair: &PqdsaKeyPair,
    seed: &[u8; 32],
    cell: &'a OnceLock<MuKey>,
) -> Result<&'a MuKey, CryptoError> {
    if let Some(key) = cell.get() {
        return Ok(key);
    }
    let seed = ml_dsa::Seed::from(*seed);
    let key = match spec {
        KeySpec::MlDsa44 => MuKey::L44(Box::new(expand(&seed))),
        KeySpec::MlDsa65 => MuKey::L65(Box::new(expand(&seed))),
        KeySpec::MlDsa87 => MuKey::L87(Box::new(expand(&seed))),
        _ => return Err(BAD_ALG),
    };
    // Both implementations must derive the same key from the seed.
    if key.public_key() != pair.public_key().as_ref() {
        return Err(CryptoError::Internal("ML-DSA keys from one seed differ"));
    }
    Ok(cell.get_or_init(|| key))
}

fn expand<P: ml_dsa::MlDsaParams>(
    seed: &ml_dsa::Seed,
) -> (MlDsaSigning<P>, ml_dsa::VerifyingKey<P>) {
    let signing = MlDsaSigning::<P>::from_seed(seed);
    let verifying = signing.verifying_key();
    (signing, verifying)
}

fn mu_sign<P: ml_dsa::MlDsaParams>(
    key: &(MlDsaSigning<P>, ml_dsa::VerifyingKey<P>),
    mu: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mu = ml_dsa::common::array::Array::try_from(mu)
        .map_err(|_| CryptoError::InvalidInput("an external mu is 64 bytes"))?;
    // FIPS 204's deterministic variant (rnd = 0), with the caller's mu.
    Ok(key.0.sign_mu_deterministic(&mu).encode().to_vec())
}

fn mu_verify<P: ml_dsa::MlDsaParams>(
    key: &(MlDsaSigning<P>, ml_dsa::VerifyingKey<P>),
    mu: &[u8],
    sig: &[u8],
) -> Result<bool, CryptoError> {
    let mu = ml_dsa::common::array::Array::try_from(mu)
        .map_err(|_| CryptoError::InvalidInput("an external mu is 64 bytes"))?;
    let Ok(sig) = ml_dsa::Signature::<P>::try_from(sig) else {
        return Ok(false);
    };
    Ok(key.1.verify_mu(&mu, &sig))
}

impl MuKey {
    pub(super) fn sign(&self, mu: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match self {
            MuKey::L44(k) => mu_sign(k, mu),
            MuKey::L65(k) => mu_sign(k, mu),
            MuKey::L87(k) => mu_sign(k, mu),
        }
    }

    pub(super) fn verify(&self, mu: &[u8], sig: &[u8]) -> Result<bool, CryptoError> {
        match self {
            MuKey::L44(k) => mu_verify(k, mu, sig),
            MuKey::L65(k) => mu_verify(k, mu, sig),
            MuKey::L87(k) => mu_verify(k, mu, sig),
        }
    }

    fn public_key(&self) -> Vec<u8> {
        match self {
            MuKey::L44(k) => k.1.encode().to_vec(),
            MuKey::L65(k) => k.1.encode().to_vec(),
            MuKey::L87(k) => k.1.encode().to_vec(),
        }
    }
}
