//! The seed file of `trent serve --seed FILE`, parsed and checked before
//! anything is written: YAML (`.yaml`, `.yml`) or JSON with `keys` and
//! `aliases` (docs/seeding.md).
//! Unknown members are refused, so a misspelt field is not silently lost.

use std::path::Path;

use base64::Engine;
use serde::Deserialize;
use trent_crypto::SecretBytes;
use zeroize::Zeroizing;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    /// The account the keys and aliases go into (default: `--dev`'s).
    pub account: Option<String>,
    /// Their Region (default `us-east-1`).
    pub region: Option<String>,
    #[serde(default)]
    pub keys: Vec<SeedKey>,
    #[serde(default)]
    pub aliases: Vec<SeedAlias>,
    #[serde(default)]
    pub users: Vec<SeedUser>,
}

/// An IAM user of the account, with one access key given in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SeedUser {
    pub name: String,
    /// `AKIA` and 16 to 124 letters and digits (AWS's form).
    pub access_key_id: String,
    pub secret_access_key: SeedSecret,
    /// An identity policy (inline, named `Seeded`), as a JSON object or its text.
    pub policy: Option<serde_json::Value>,
}

/// A secret access key from the file: zeroized, never printed.
pub struct SeedSecret(pub SecretBytes);

impl std::fmt::Debug for SeedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeedSecret(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for SeedSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        Ok(SeedSecret(SecretBytes::new(text.as_bytes().to_vec())))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SeedKey {
    /// A key id (lowercase UUID) or a multi-Region key id (`mrk-` + 32 hex).
    pub id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "symmetric_default")]
    pub key_spec: String,
    /// Required, as in CreateKey, except for SYMMETRIC_DEFAULT.
    pub key_usage: Option<String>,
    /// Base64 of the key material; generated if absent.
    pub material: Option<SeedMaterial>,
    /// A key policy, as a JSON object or its text (default: the default key policy).
    pub policy: Option<serde_json::Value>,
    /// Tag key to value.
    #[serde(default)]
    pub tags: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAlias {
    pub name: String,
    /// The key id of a key in the file (or already in the store).
    pub target: String,
}

fn symmetric_default() -> String {
    "SYMMETRIC_DEFAULT".into()
}

/// Key material from the file, decoded: a secret from here on.
pub struct SeedMaterial(pub SecretBytes);

impl std::fmt::Debug for SeedMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeedMaterial(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for SeedMaterial {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| serde::de::Error::custom("material is not valid base64"))?;
        Ok(SeedMaterial(SecretBytes::new(bytes)))
    }
}

impl SeedKey {
    pub fn policy_text(&self) -> Option<String> {
        self.policy.as_ref().map(|p| match p {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        })
    }
}

/// Reads and parses `path`; the text is zeroized after (it may hold material).
pub fn load(path: &Path) -> Result<SeedFile, String> {
    let text = Zeroizing::new(std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?);
    let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let parsed = if yaml { parse_yaml(&text) } else { parse(&text) };
    parsed.map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse(text: &[u8]) -> Result<SeedFile, String> {
    // serde_json's message names the line and column, never the value.
    serde_json::from_slice(text).map_err(|e| e.to_string())
}

pub fn parse_yaml(text: &[u8]) -> Result<SeedFile, String> {
    serde_norway::from_slice(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_file_parses_and_refuses_unknown_fields() {
        let file = parse(br#"{"keys":[{"id":"1234abcd-12ab-34cd-56ef-1234567890ab","material":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","tags":{"a":"b"}}],"aliases":[{"name":"alias/x","target":"1234abcd-12ab-34cd-56ef-1234567890ab"}]}"#).unwrap();
        assert_eq!(file.keys[0].key_spec, "SYMMETRIC_DEFAULT");
        assert_eq!(file.keys[0].material.as_ref().unwrap().0.len(), 32);
        assert!(!format!("{file:?}").contains("AAAA"), "material must not be in Debug");
        assert!(parse(br#"{"keys":[{"id":"x","key_spec":"RSA_2048"}]}"#).unwrap_err().contains("unknown field"));
        assert!(parse(br#"{"keys":[{"id":"x","material":"!!"}]}"#).unwrap_err().contains("base64"));
        let yaml = parse_yaml(b"account: '111122223333'\nkeys:\n  - id: 1234abcd-12ab-34cd-56ef-1234567890ab\n    key-spec: HMAC_256\n    key-usage: GENERATE_VERIFY_MAC\n    policy: {Version: '2012-10-17', Statement: []}\n    tags: {team: a}\naliases:\n  - {name: alias/x, target: 1234abcd-12ab-34cd-56ef-1234567890ab}\n").unwrap();
        assert_eq!((yaml.account.as_deref(), yaml.keys[0].key_spec.as_str(), yaml.aliases.len()), (Some("111122223333"), "HMAC_256", 1));
        assert_eq!(yaml.keys[0].policy_text().unwrap(), r#"{"Version":"2012-10-17","Statement":[]}"#);
    }
}
