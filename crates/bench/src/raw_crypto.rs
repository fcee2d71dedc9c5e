//! The raw speed of the signing primitives in aws-lc-rs on this machine,
//! one signer per core, for the same message: the yardstick for Sign.

use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING, RSA_PSS_SHA256};

use crate::client::Error;

/// Signatures per second over `threads` threads, or None for an operation
/// that is not a Sign.
pub fn signs_per_second(operation: &str, threads: usize, duration: Duration) -> Result<Option<f64>, Error> {
    let message = [7u8; 64];
    let sign: Box<dyn Fn() -> Result<(), Error> + Sync> = match operation {
        "sign-rsa-2048-pss" => {
            let key = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)?;
            let rng = SystemRandom::new();
            Box::new(move || {
                let mut signature = vec![0u8; key.public_modulus_len()];
                key.sign(&RSA_PSS_SHA256, &rng, &message, &mut signature).map_err(|e| e.to_string().into())
            })
        }
        "sign-ecdsa-p256" => {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)?;
            let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())?;
            let _ = key.public_key();
            Box::new(move || key.sign(&rng, &message).map(|_| ()).map_err(|e| e.to_string().into()))
        }
        _ => return Ok(None),
    };
    let started = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0u64;
                    while started.elapsed() < duration {
                        if sign().is_ok() {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    Ok(Some(total as f64 / started.elapsed().as_secs_f64()))
}
