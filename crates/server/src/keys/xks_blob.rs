//! Format version 2 of Trent's ciphertext blob: a key in an external key
//! store's double-encrypted blob (docs/ciphertext-format.md). The inner
//! part is a version 1 blob made with Trent's own material; the outer
//! layer is the XKS proxy's AES-GCM of it, under the external key. The
//! outer blob names the key and material (so Decrypt needs no KeyId) and
//! carries what the proxy's Decrypt needs: its iv, tag and metadata.

use trent_crypto::ciphertext::{self, Header, MATERIAL_ID_LEN};
use uuid::Uuid;

pub const VERSION: u8 = 0x02;
/// Magic, version, key id, material id: the part every version shares.
pub const FIXED_LEN: usize = 2 + 16 + MATERIAL_ID_LEN;
/// The XKS spec's authentication tag is 16 bytes.
pub const TAG_LEN: usize = 16;
/// Domain separation of the AAD the proxy binds.
const AAD_LABEL: &[u8] = b"trent/xks-outer/v2";

/// The proxy's part of an outer blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outer {
    pub header: Header,
    pub iv: Vec<u8>,
    pub metadata: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub tag: Vec<u8>,
}

/// Why a blob cannot be read (the caller answers InvalidCiphertext).
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// The fixed part: magic, version 2, key id, material id.
pub fn fixed(header: &Header) -> [u8; FIXED_LEN] {
    let mut out = [0u8; FIXED_LEN];
    out[0] = ciphertext::MAGIC[0];
    out[1] = VERSION;
    out[2..18].copy_from_slice(header.key_id.as_bytes());
    out[18..].copy_from_slice(&header.material_id);
    out
}

/// The outer blob; `None` if the proxy's iv or metadata is too long for
/// its one-byte length (the spec's are far shorter) or empty.
pub fn encode(outer: &Outer) -> Option<Vec<u8>> {
    let iv_len = u8::try_from(outer.iv.len()).ok().filter(|n| *n > 0)?;
    let meta_len = u8::try_from(outer.metadata.len()).ok()?;
    if outer.tag.len() != TAG_LEN || outer.ciphertext.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(FIXED_LEN + 2 + outer.iv.len() + outer.metadata.len() + outer.ciphertext.len() + TAG_LEN);
    out.extend_from_slice(&fixed(&outer.header));
    out.push(iv_len);
    out.extend_from_slice(&outer.iv);
    out.push(meta_len);
    out.extend_from_slice(&outer.metadata);
    out.extend_from_slice(&outer.ciphertext);
    out.extend_from_slice(&outer.tag);
    Some(out)
}

/// Reads an outer blob (version 2 only).
pub fn parse(blob: &[u8]) -> Result<Outer, Malformed> {
    if blob.len() < FIXED_LEN || blob[0] != ciphertext::MAGIC[0] || blob[1] != VERSION {
        return Err(Malformed);
    }
    let header = fixed_header(blob)?;
    let mut rest = &blob[FIXED_LEN..];
    let mut take_len_prefixed = || -> Result<Vec<u8>, Malformed> {
        let (&n, tail) = rest.split_first().ok_or(Malformed)?;
        let n = usize::from(n);
        if tail.len() < n {
            return Err(Malformed);
        }
        let (field, tail) = tail.split_at(n);
        rest = tail;
        Ok(field.to_vec())
    };
    let iv = take_len_prefixed()?;
    let metadata = take_len_prefixed()?;
    if iv.is_empty() || rest.len() <= TAG_LEN {
        return Err(Malformed);
    }
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    Ok(Outer { header, iv, metadata, ciphertext: ciphertext.to_vec(), tag: tag.to_vec() })
}

/// The key and material any Trent blob names (version 1 or 2), for
/// finding its key before anything is decrypted.
pub fn any_header(blob: &[u8]) -> Result<Header, Malformed> {
    match blob.get(1) {
        Some(&VERSION) => parse(blob).map(|o| o.header),
        _ => ciphertext::parse_header(blob).map_err(|_| Malformed),
    }
}

pub fn is_outer(blob: &[u8]) -> bool {
    blob.len() > 1 && blob[0] == ciphertext::MAGIC[0] && blob[1] == VERSION
}

fn fixed_header(blob: &[u8]) -> Result<Header, Malformed> {
    let key_id = Uuid::from_slice(&blob[2..18]).map_err(|_| Malformed)?;
    let mut material_id = [0u8; MATERIAL_ID_LEN];
    material_id.copy_from_slice(&blob[18..FIXED_LEN]);
    Ok(Header { key_id, material_id })
}

/// The AAD the proxy's AES-GCM binds: a label, the outer blob's fixed
/// part (key id, material id), the KMS key's ARN, and SHA-256 of the
/// canonical encryption context. So the outer layer alone already refuses
/// a blob relabelled to another key or material, moved to another
/// account or Region, or opened with another context; the context is
/// hashed so the proxy never sees its values and the AAD has a fixed size.
pub fn proxy_aad(header: &Header, key_arn: &str, encoded_context: &[u8]) -> Result<Vec<u8>, Malformed> {
    let arn_len = u16::try_from(key_arn.len()).map_err(|_| Malformed)?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, encoded_context);
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + FIXED_LEN + 2 + key_arn.len() + 32);
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(&fixed(header));
    aad.extend_from_slice(&arn_len.to_be_bytes());
    aad.extend_from_slice(key_arn.as_bytes());
    aad.extend_from_slice(digest.as_ref());
    Ok(aad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Outer {
        let header = Header { key_id: Uuid::from_bytes([7; 16]), material_id: [9; MATERIAL_ID_LEN] };
        Outer { header, iv: vec![1; 12], metadata: vec![2; 3], ciphertext: vec![3; 100], tag: vec![4; TAG_LEN] }
    }

    #[test]
    fn an_outer_blob_round_trips_and_names_its_key() {
        let o = sample();
        let blob = encode(&o).unwrap();
        assert_eq!(blob.len(), FIXED_LEN + 1 + 12 + 1 + 3 + 100 + 16);
        assert_eq!(&blob[..2], &[0x54, 0x02]);
        assert_eq!(parse(&blob).unwrap(), o);
        assert_eq!(any_header(&blob).unwrap(), o.header);
        assert!(is_outer(&blob));
        let empty_meta = Outer { metadata: vec![], ..sample() };
        assert_eq!(parse(&encode(&empty_meta).unwrap()).unwrap(), empty_meta);
    }

    #[test]
    fn truncated_or_odd_blobs_are_malformed() {
        let blob = encode(&sample()).unwrap();
        for n in 0..(FIXED_LEN + 1 + 12 + 1 + 3 + 1 + TAG_LEN) {
            assert_eq!(parse(&blob[..n]), Err(Malformed), "{n} bytes");
        }
        let mut v1 = blob.clone();
        v1[1] = 0x01;
        assert_eq!(parse(&v1), Err(Malformed));
        let mut zero_iv = blob.clone();
        zero_iv[FIXED_LEN] = 0;
        assert_eq!(parse(&zero_iv).map(|o| o.iv.len()), Err(Malformed));
        assert!(encode(&Outer { tag: vec![0; 12], ..sample() }).is_none());
        assert!(encode(&Outer { iv: vec![0; 256], ..sample() }).is_none());
    }

    #[test]
    fn the_proxy_aad_binds_key_material_arn_and_context() {
        let h = sample().header;
        let base = proxy_aad(&h, "arn:k", b"\0\0").unwrap();
        assert_ne!(base, proxy_aad(&Header { material_id: [8; MATERIAL_ID_LEN], ..h }, "arn:k", b"\0\0").unwrap());
        assert_ne!(base, proxy_aad(&Header { key_id: Uuid::from_bytes([6; 16]), ..h }, "arn:k", b"\0\0").unwrap());
        assert_ne!(base, proxy_aad(&h, "arn:j", b"\0\0").unwrap());
        assert_ne!(base, proxy_aad(&h, "arn:k", b"\0\x01").unwrap());
        assert_eq!(base, proxy_aad(&h, "arn:k", b"\0\0").unwrap());
    }
}
