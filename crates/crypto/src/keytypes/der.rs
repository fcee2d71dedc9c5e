//! The few DER structures aws-lc-rs does not write for ML-KEM keys:
//! SubjectPublicKeyInfo and PKCS#8 PrivateKeyInfo around raw key bytes
//! (FIPS 203 encodings; OIDs from NIST's CSOR registry, as in RFC 9935).
//! Only fixed, definite-length TLVs are written; nothing is parsed.

/// `id-alg-ml-kem-512/768/1024`: 2.16.840.1.101.3.4.4.{1,2,3}.
pub fn ml_kem_oid(level: u8) -> [u8; 11] {
    [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, level,
    ]
}

fn tlv(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        // Our structures are at most a few kilobytes (< 64 KiB).
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
}

fn algorithm_identifier(oid: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    tlv(0x30, oid, &mut out);
    out
}

/// `SubjectPublicKeyInfo { AlgorithmIdentifier { oid }, BIT STRING key }`.
pub fn spki(oid: &[u8], public_key: &[u8]) -> Vec<u8> {
    let mut body = algorithm_identifier(oid);
    let mut bits = Vec::with_capacity(public_key.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(public_key);
    tlv(0x03, &bits, &mut body);
    let mut out = Vec::with_capacity(body.len() + 4);
    tlv(0x30, &body, &mut out);
    out
}

/// `PrivateKeyInfo { version 0, AlgorithmIdentifier { oid }, OCTET STRING
/// { [0] IMPLICIT OCTET STRING seed } }`, the "seed" choice of the ML-KEM
/// private key format (the one OpenSSL and `cryptography` read and write).
pub fn pkcs8_seed(oid: &[u8], seed: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    let mut inner = zeroize::Zeroizing::new(Vec::with_capacity(seed.len() + 4));
    tlv(0x80, seed, &mut inner);
    let mut body = zeroize::Zeroizing::new(Vec::with_capacity(inner.len() + 32));
    tlv(0x02, &[0], &mut body);
    body.extend_from_slice(&algorithm_identifier(oid));
    tlv(0x04, &inner, &mut body);
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(body.len() + 4));
    tlv(0x30, &body, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_encoded_in_the_shortest_form() {
        let mut out = Vec::new();
        tlv(0x04, &[7; 5], &mut out);
        assert_eq!(&out[..2], &[0x04, 5]);
        out.clear();
        tlv(0x04, &[7; 200], &mut out);
        assert_eq!(&out[..3], &[0x04, 0x81, 200]);
        out.clear();
        tlv(0x04, &[7; 800], &mut out);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x03, 0x20]);
        assert_eq!(out.len(), 804);
    }

    #[test]
    fn spki_wraps_the_key_in_a_bit_string() {
        let der = spki(&ml_kem_oid(2), &[1, 2, 3]);
        assert_eq!(
            der,
            [
                0x30, 0x13, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04,
                0x02, 0x03, 0x04, 0x00, 0x01, 0x02, 0x03
            ]
        );
    }
}
