//! Decoded blob members and the model's `sensitive` values.
//!
//! A blob travels as padded standard base64 in JSON; the typed inputs hold its bytes.
//! [`Blob`] is an ordinary blob (ciphertexts, public keys, signatures). [`SecretBlob`]
//! (`Plaintext`) and [`SecretString`] (key store passwords, XKS proxy credentials) hold
//! the values the model marks `sensitive`: they are zeroized when dropped, cannot be
//! cloned or serialized, and their `Debug` prints only their length.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::{self, Deserialize, Deserializer, Visitor};
use zeroize::{Zeroize, Zeroizing};

/// The bytes of a blob member.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Blob(Vec<u8>);

impl Blob {
    pub fn new(bytes: Vec<u8>) -> Blob {
        Blob(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for Blob {
    fn from(bytes: Vec<u8>) -> Blob {
        Blob(bytes)
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

/// The bytes of a sensitive blob member (`Plaintext`): zeroized on drop, never printed.
pub struct SecretBlob(Zeroizing<Vec<u8>>);

impl SecretBlob {
    pub fn new(bytes: Vec<u8>) -> SecretBlob {
        SecretBlob(Zeroizing::new(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn into_zeroizing(self) -> Zeroizing<Vec<u8>> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBlob([REDACTED; {} bytes])", self.0.len())
    }
}

/// A sensitive string member (passwords, credentials): zeroized on drop, never printed.
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(text: String) -> SecretString {
        SecretString(Zeroizing::new(text))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_zeroizing(self) -> Zeroizing<String> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretString([REDACTED; {} bytes])", self.0.len())
    }
}

/// Decodes base64 into a buffer sized up front, so that no reallocation leaves a
/// copy of the bytes behind. The error never contains the text.
fn decode<E: de::Error>(text: &str) -> Result<Zeroizing<Vec<u8>>, E> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(base64::decoded_len_estimate(text.len())));
    STANDARD
        .decode_vec(text, &mut bytes)
        .map_err(|_| E::custom("a blob member is not valid base64"))?;
    Ok(bytes)
}

struct Base64<T>(fn(Zeroizing<Vec<u8>>) -> T);

impl<T> Visitor<'_> for Base64<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a base64 string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        decode(text).map(self.0)
    }

    fn visit_string<E: de::Error>(self, mut text: String) -> Result<T, E> {
        let decoded = decode(&text);
        // The text is the secret too, for a SecretBlob.
        text.zeroize();
        decoded.map(self.0)
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Blob, D::Error> {
        // Moved out of the Zeroizing wrapper: an ordinary blob is not secret.
        deserializer.deserialize_str(Base64(|mut bytes: Zeroizing<Vec<u8>>| {
            Blob(std::mem::take(&mut *bytes))
        }))
    }
}

impl<'de> Deserialize<'de> for SecretBlob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SecretBlob, D::Error> {
        deserializer.deserialize_str(Base64(SecretBlob))
    }
}

struct Text;

impl Visitor<'_> for Text {
    type Value = SecretString;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<SecretString, E> {
        Ok(SecretString::new(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<SecretString, E> {
        Ok(SecretString::new(text))
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
        deserializer.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blobs_decode_padded_standard_base64() {
        let blob: Blob = serde_json::from_value(json!("aGk=")).unwrap();
        assert_eq!(blob.as_bytes(), b"hi");
        let blob: Blob = serde_json::from_value(json!("")).unwrap();
        assert!(blob.is_empty());
        let secret: SecretBlob = serde_json::from_value(json!("aGk=")).unwrap();
        assert_eq!(secret.expose(), b"hi");
        assert_eq!(&*secret.into_zeroizing(), b"hi");
        let borrowed = json!("aGk=");
        let blob = Blob::deserialize(&borrowed).unwrap();
        assert_eq!(blob.into_vec(), b"hi");
    }

    #[test]
    fn bad_base64_is_an_error_that_does_not_echo_the_text() {
        for text in ["aGk", "aG!=", "aGl=", "aGk-"] {
            let err = serde_json::from_value::<SecretBlob>(json!(text)).unwrap_err();
            assert!(!err.to_string().contains(text), "{err}");
            assert!(serde_json::from_value::<Blob>(json!(text)).is_err());
        }
        assert!(serde_json::from_value::<Blob>(json!(5)).is_err());
    }

    #[test]
    fn debug_never_prints_secrets() {
        let secret: SecretBlob = serde_json::from_value(json!("c2VjcmV0")).unwrap();
        assert_eq!(format!("{secret:?}"), "SecretBlob([REDACTED; 6 bytes])");
        let password: SecretString = serde_json::from_value(json!("hunter2")).unwrap();
        assert_eq!(password.expose(), "hunter2");
        assert_eq!(format!("{password:?}"), "SecretString([REDACTED; 7 bytes])");
        assert_eq!(format!("{:?}", Blob::new(vec![1, 2, 3])), "Blob(3 bytes)");
    }
}
