//! The tamper-evident record format, pure (no I/O).
//!
//! Every audit record is one JSON line:
//!
//! ```text
//! {"seq":7,"prevHash":"<hex>","recordType":"event","event":{...},"hash":"<hex>"}
//! ```
//!
//! `hash` is SHA-256 of the line's own bytes without `,"hash":"..."` (that
//! is, of `{"seq":..,"prevHash":..,"recordType":..,"event":..}`), and
//! `prevHash` is the previous record's `hash` (64 zeros for the first), so
//! every record commits to all before it. Every so often a `digest` record
//! signs the chain's head with the Ed25519 audit signing key, so rewriting
//! the chain needs that key, as CloudTrail's digest files do.

use aws_lc_rs::digest;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::Value;

/// `prevHash` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a digest signature covers, before its fields.
const DIGEST_CONTEXT: &str = "trent-audit-digest-v1";

/// The `,"hash":"<64 hex>"}` that ends every line.
const HASH_SUFFIX_LEN: usize = r#","hash":""#.len() + 64 + r#""}"#.len();

pub fn sha256_hex(bytes: &[u8]) -> String {
    trent_sigv4::lower_hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// Builds one record line (without its newline) and returns it with its hash.
/// `payload` is the JSON text of the `event` or `digest` member.
pub fn seal(seq: u64, prev_hash: &str, record_type: RecordType, payload: &str) -> (String, String) {
    let mut line = String::with_capacity(payload.len() + 200);
    let hash = seal_into(&mut line, seq, prev_hash, record_type, payload);
    (line, hash)
}

/// [`seal`], appending the line to `out` (the writer's buffer: every
/// request's record, so built in place). Returns the hash.
pub fn seal_into(out: &mut String, seq: u64, prev_hash: &str, record_type: RecordType, payload: &str) -> String {
    use std::fmt::Write;
    let start = out.len();
    let name = record_type.name();
    // Writing to a String cannot fail.
    let _ = write!(out, r#"{{"seq":{seq},"prevHash":"{prev_hash}","recordType":"{name}","{name}":{payload}}}"#);
    let hash = sha256_hex(&out.as_bytes()[start..]);
    out.pop(); // the closing brace
    out.push_str(r#","hash":""#);
    out.push_str(&hash);
    out.push_str(r#""}"#);
    hash
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    Event,
    Digest,
}

impl RecordType {
    pub fn name(self) -> &'static str {
        match self {
            RecordType::Event => "event",
            RecordType::Digest => "digest",
        }
    }
}

/// A line whose hash matches its contents.
#[derive(Debug, Clone)]
pub struct Opened {
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
    pub record_type: RecordType,
    /// The `event` or `digest` member.
    pub payload: Value,
}

/// Checks one line's own hash and reads its chain fields. The error says
/// what is wrong with it.
pub fn open(line: &str) -> Result<Opened, String> {
    let altered = "its hash does not match its contents (the record was altered)";
    if line.len() < HASH_SUFFIX_LEN + 2 || !line.is_char_boundary(line.len() - HASH_SUFFIX_LEN) {
        return Err("it is not an audit record (no hash at its end)".into());
    }
    let (head, suffix) = line.split_at(line.len() - HASH_SUFFIX_LEN);
    let hash = suffix.strip_prefix(r#","hash":""#).and_then(|s| s.strip_suffix(r#""}"#)).ok_or("it is not an audit record (no hash at its end)")?;
    if !hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return Err("its hash is not lowercase hex".into());
    }
    let body = format!("{head}}}");
    if sha256_hex(body.as_bytes()) != hash {
        return Err(altered.into());
    }
    let value: Value = serde_json::from_str(&body).map_err(|_| "it is not valid JSON".to_owned())?;
    let seq = value.get("seq").and_then(Value::as_u64).ok_or("it has no seq")?;
    let prev_hash = value.get("prevHash").and_then(Value::as_str).ok_or("it has no prevHash")?.to_owned();
    let record_type = match value.get("recordType").and_then(Value::as_str) {
        Some("event") => RecordType::Event,
        Some("digest") => RecordType::Digest,
        _ => return Err("its recordType is neither event nor digest".into()),
    };
    let payload = value.get(record_type.name()).cloned().ok_or("it has no payload")?;
    Ok(Opened { seq, prev_hash, hash: hash.to_owned(), record_type, payload })
}

/// The bytes a digest record's signature covers: its place in the chain
/// (seq and the head hash it follows) and its time.
pub fn digest_message(seq: u64, prev_hash: &str, digest_time: &str, first_seq: u64) -> Vec<u8> {
    format!("{DIGEST_CONTEXT}\nseq={seq}\nprevHash={prev_hash}\ndigestTime={digest_time}\nfirstSeq={first_seq}").into_bytes()
}

/// The `digest` payload: what it covers, which key signed it, the signature.
pub fn digest_payload(digest_time: &str, first_seq: u64, seq: u64, key_fingerprint: &str, signature: &[u8]) -> String {
    serde_json::json!({
        "digestTime": digest_time,
        "firstSeq": first_seq,
        "lastSeq": seq.saturating_sub(1),
        "publicKeyFingerprint": key_fingerprint,
        "signatureAlgorithm": "Ed25519",
        "signature": BASE64.encode(signature),
    })
    .to_string()
}

/// Checks a digest record's signature with the audit public key.
pub fn check_digest(record: &Opened, public_key: &[u8]) -> Result<(), String> {
    let d = &record.payload;
    let time = d.get("digestTime").and_then(Value::as_str).ok_or("the digest has no digestTime")?;
    let first = d.get("firstSeq").and_then(Value::as_u64).ok_or("the digest has no firstSeq")?;
    let sig = d.get("signature").and_then(Value::as_str).and_then(|s| BASE64.decode(s).ok()).ok_or("the digest has no readable signature")?;
    if d.get("publicKeyFingerprint").and_then(Value::as_str) != Some(fingerprint(public_key).as_str()) {
        return Err("the digest was signed by another key than the audit public key given".into());
    }
    let message = digest_message(record.seq, &record.prev_hash, time, first);
    aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, public_key)
        .verify(&message, &sig)
        .map_err(|_| "the digest's signature does not verify (records it covers were altered, or it was forged)".to_owned())
}

/// A short name for a public key: the first 16 bytes of its SHA-256, hex.
pub fn fingerprint(public_key: &[u8]) -> String {
    sha256_hex(public_key)[..32].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_line_opens_and_any_change_is_caught() {
        let (line, hash) = seal(3, GENESIS, RecordType::Event, r#"{"eventName":"Encrypt"}"#);
        let opened = open(&line).unwrap();
        assert_eq!((opened.seq, opened.prev_hash.as_str(), opened.hash.as_str()), (3, GENESIS, hash.as_str()));
        assert_eq!(opened.payload["eventName"], "Encrypt");
        assert!(open(&line.replace("Encrypt", "Decrypt")).unwrap_err().contains("altered"));
        assert!(open(&line.replace(r#""seq":3"#, r#""seq":4"#)).unwrap_err().contains("altered"));
        assert!(open("{}").is_err());
        assert!(open(&line[..line.len() - 1]).is_err());
    }

    #[test]
    fn digests_verify_only_with_their_key_and_place() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        use aws_lc_rs::signature::KeyPair;
        let public = pair.public_key().as_ref().to_vec();
        let prev = sha256_hex(b"x");
        let sig = pair.sign(&digest_message(5, &prev, "2026-01-01T00:00:00Z", 1));
        let payload = digest_payload("2026-01-01T00:00:00Z", 1, 5, &fingerprint(&public), sig.as_ref());
        let (line, _) = seal(5, &prev, RecordType::Digest, &payload);
        let opened = open(&line).unwrap();
        check_digest(&opened, &public).unwrap();
        // The same signature elsewhere in the chain does not verify.
        let (moved, _) = seal(6, &prev, RecordType::Digest, &payload);
        assert!(check_digest(&open(&moved).unwrap(), &public).unwrap_err().contains("signature"));
        let other = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
        assert!(check_digest(&opened, other.public_key().as_ref()).unwrap_err().contains("another key"));
    }
}
