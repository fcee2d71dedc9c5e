//! The two byte strings the spec defines over an Encrypt's fields.

use aws_lc_rs::digest::{digest, SHA256};

use super::error::XksError;

/// Largest ciphertextMetadata the spec allows (bytes, before Base64).
pub const MAX_CIPHERTEXT_METADATA_LEN: usize = 20;

/// The AAD given to AES-GCM, as the spec's Encrypt section says it "should
/// be computed": `u16_be(len(aad)) || aad || u8(len(metadata)) || metadata`.
/// The lengths keep `aad = X, metadata = ""` apart from `aad = "",
/// metadata = X`. AAD longer than 65535 bytes cannot be framed this way:
/// UnsupportedOperationException (the spec only requires 8192).
pub fn gcm_aad(aad: &[u8], ciphertext_metadata: &[u8]) -> Result<Vec<u8>, XksError> {
    let aad_len = u16::try_from(aad.len()).map_err(|_| {
        XksError::new(
            super::error::ErrorName::UnsupportedOperationException,
            "additionalAuthenticatedData longer than 65535 bytes is not supported.",
        )
    })?;
    let meta_len = u8::try_from(ciphertext_metadata.len())
        .ok()
        .filter(|&n| usize::from(n) <= MAX_CIPHERTEXT_METADATA_LEN)
        .ok_or_else(|| XksError::validation("ciphertextMetadata must not exceed 20 bytes."))?;
    let mut out = Vec::with_capacity(2 + aad.len() + 1 + ciphertext_metadata.len());
    out.extend_from_slice(&aad_len.to_be_bytes());
    out.extend_from_slice(aad);
    out.push(meta_len);
    out.extend_from_slice(ciphertext_metadata);
    Ok(out)
}

/// The Ciphertext Data Integrity Value (Appendix C): SHA-256 over
/// `aad || ciphertextMetadata || iv || ciphertext || tag`, no lengths.
pub fn cdiv(aad: &[u8], ciphertext_metadata: &[u8], iv: &[u8], ciphertext: &[u8], tag: &[u8]) -> [u8; 32] {
    let joined = [aad, ciphertext_metadata, iv, ciphertext, tag].concat();
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, &joined).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    #[test]
    fn cdiv_matches_the_specs_appendix_c_example() {
        let d = |s: &str| STANDARD.decode(s).unwrap();
        let value = cdiv(
            &d("cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n"),
            &d("a2V5X3ZlcnNpb249MQ=="),
            &d("HMrlRw85cAJUd5Ax"),
            &d("ghxkK1txeDNn3q8Y"),
            &d("vBxN2ncH1oEkR8WVXpmyYQ=="),
        );
        assert_eq!(STANDARD.encode(value), "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=");
    }

    #[test]
    fn gcm_aad_frames_both_fields_with_their_lengths() {
        assert_eq!(gcm_aad(b"", b"").unwrap(), vec![0, 0, 0]);
        assert_eq!(gcm_aad(b"ab", b"m").unwrap(), vec![0, 2, b'a', b'b', 1, b'm']);
        assert_ne!(gcm_aad(b"m", b"").unwrap(), gcm_aad(b"", b"m").unwrap());
        assert!(gcm_aad(&[0; 65536], b"").is_err());
        assert!(gcm_aad(b"", &[0; 21]).is_err());
    }
}
