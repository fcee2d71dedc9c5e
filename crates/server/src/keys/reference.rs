//! The four ways a request names a KMS key (key id, key ARN, alias name,
//! alias ARN), parsed once at the boundary.

use uuid::Uuid;

use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// A bare key id: the key in the caller's account and region.
    Id(Uuid),
    /// `arn:aws:kms:<region>:<account>:key/<id>`
    KeyArn { region: String, account_id: String, key_id: Uuid },
    /// `alias/<name>`, in the caller's account and region.
    Alias(String),
    /// `arn:aws:kms:<region>:<account>:alias/<name>`; holds the name with its `alias/` prefix.
    AliasArn { region: String, account_id: String, alias_name: String },
    /// A well-formed multi-Region key id (`mrk-` and 32 hex digits), bare
    /// (`region`, `account_id` are `None`) or in a key ARN.
    MultiRegion { region: Option<String>, account_id: Option<String>, key_id: String },
}

impl KeyRef {
    pub fn parse(text: &str) -> Result<KeyRef, KmsError> {
        if let Some(rest) = text.strip_prefix("arn:") {
            return parse_arn(text, rest);
        }
        if text.starts_with("alias/") {
            return Ok(KeyRef::Alias(text.to_owned()));
        }
        if is_multi_region_id(text) {
            return Ok(KeyRef::MultiRegion { region: None, account_id: None, key_id: text.to_owned() });
        }
        parse_key_id(text).map(KeyRef::Id).ok_or_else(|| Error::InvalidKeyId { id: text.to_owned() }.into())
    }

    pub fn is_alias(&self) -> bool {
        matches!(self, KeyRef::Alias(_) | KeyRef::AliasArn { .. })
    }
}

/// `mrk-` followed by 32 lowercase hex digits: the form of a multi-Region key id.
pub fn is_multi_region_id(text: &str) -> bool {
    text.strip_prefix("mrk-").is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// The 16 bytes a stored key id stands for, as the UUID that ciphertext
/// headers, import tokens and the key provider carry: a key id's own, or a
/// multi-Region key id's 32 hex digits. The two kinds never meet in one
/// lookup: a key is always found by its id's text.
pub fn key_id_bytes(text: &str) -> Option<Uuid> {
    if is_multi_region_id(text) {
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(&text[4..], &mut bytes).ok()?;
        return Some(Uuid::from_bytes(bytes));
    }
    parse_key_id(text)
}

/// The multi-Region key id of 16 bytes: `mrk-` and their hex digits.
pub fn multi_region_id(bytes: &Uuid) -> String {
    format!("mrk-{}", hex::encode(bytes.as_bytes()))
}

/// Key ids are lowercase UUIDs, as AWS prints them.
pub fn parse_key_id(text: &str) -> Option<Uuid> {
    let id = Uuid::try_parse(text).ok()?;
    (id.hyphenated().to_string() == text).then_some(id)
}

fn parse_arn(full: &str, rest: &str) -> Result<KeyRef, KmsError> {
    let invalid = || KmsError::from(Error::InvalidArn { arn: full.to_owned() });
    // partition:service:region:account:resource
    let mut parts = rest.splitn(5, ':');
    let (Some(partition), Some(service), Some(region), Some(account_id), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let account_ok = account_id.len() == 12 && account_id.bytes().all(|b| b.is_ascii_digit());
    if !partition.starts_with("aws") || service != "kms" || region.is_empty() || !account_ok {
        return Err(invalid());
    }
    let (region, account_id) = (region.to_owned(), account_id.to_owned());
    if let Some(id) = resource.strip_prefix("key/") {
        if is_multi_region_id(id) {
            return Ok(KeyRef::MultiRegion { region: Some(region), account_id: Some(account_id), key_id: id.to_owned() });
        }
        let key_id = parse_key_id(id).ok_or_else(invalid)?;
        return Ok(KeyRef::KeyArn { region, account_id, key_id });
    }
    if resource.starts_with("alias/") && resource.len() > "alias/".len() {
        return Ok(KeyRef::AliasArn { region, account_id, alias_name: resource.to_owned() });
    }
    Err(invalid())
}

pub fn key_arn(region: &str, account_id: &str, key_id: &str) -> String {
    format!("arn:aws:kms:{region}:{account_id}:key/{key_id}")
}

pub fn alias_arn(region: &str, account_id: &str, alias_name: &str) -> String {
    format!("arn:aws:kms:{region}:{account_id}:{alias_name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::ErrorCode;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn parses_every_reference_form() {
        let id = Uuid::parse_str(ID).unwrap();
        assert_eq!(KeyRef::parse(ID).unwrap(), KeyRef::Id(id));
        assert_eq!(
            KeyRef::parse(&format!("arn:aws:kms:us-east-2:111122223333:key/{ID}")).unwrap(),
            KeyRef::KeyArn { region: "us-east-2".into(), account_id: "111122223333".into(), key_id: id }
        );
        assert_eq!(KeyRef::parse("alias/ExampleAlias").unwrap(), KeyRef::Alias("alias/ExampleAlias".into()));
        assert_eq!(
            KeyRef::parse("arn:aws:kms:us-east-2:111122223333:alias/ExampleAlias").unwrap(),
            KeyRef::AliasArn { region: "us-east-2".into(), account_id: "111122223333".into(), alias_name: "alias/ExampleAlias".into() }
        );
    }

    #[test]
    fn a_well_formed_multi_region_id_is_a_reference() {
        let mrk = "mrk-d3b95762d3b95762d3b95762d3b95762";
        assert_eq!(KeyRef::parse(mrk).unwrap(), KeyRef::MultiRegion { region: None, account_id: None, key_id: mrk.into() });
        assert_eq!(
            KeyRef::parse(&format!("arn:aws:kms:us-east-2:111122223333:key/{mrk}")).unwrap(),
            KeyRef::MultiRegion { region: Some("us-east-2".into()), account_id: Some("111122223333".into()), key_id: mrk.into() }
        );
        for bad in ["mrk-fake-key-id", "mrk-D3B95762D3B95762D3B95762D3B95762", "mrk-d3b95762"] {
            assert_eq!(KeyRef::parse(bad).unwrap_err().message.as_deref(), Some(format!("Invalid keyId '{bad}'").as_str()));
        }
    }

    #[test]
    fn both_kinds_of_key_id_stand_for_16_bytes() {
        let mrk = "mrk-d3b95762d3b95762d3b95762d3b9576f";
        let bytes = key_id_bytes(mrk).unwrap();
        assert_eq!(multi_region_id(&bytes), mrk);
        assert_eq!(key_id_bytes(ID).unwrap().to_string(), ID);
        assert_eq!(key_id_bytes("mrk-nope"), None);
    }

    #[test]
    fn rejects_malformed_references() {
        assert_eq!(KeyRef::parse("not-a-key").unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(KeyRef::parse(&ID.to_uppercase()).unwrap_err().code, ErrorCode::NotFound);
        for arn in [
            "arn:aws:kms:us-east-2:111122223333:key/nope",
            "arn:aws:s3:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-2:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-2:111122223333:alias/",
            "arn:aws:kms",
        ] {
            assert_eq!(KeyRef::parse(arn).unwrap_err().code, ErrorCode::InvalidArn, "{arn}");
        }
    }
}
