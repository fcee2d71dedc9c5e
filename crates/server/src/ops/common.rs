//! Helpers every operation uses: required members, blobs, paging. (Saving
//! a key is `crate::keys::change::modify_key`.)

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::Value;
use trent_model::Blob;

use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

/// `CiphertextBlob`, which the model no longer marks required (Recipient
/// flows) but every symmetric Decrypt and ReEncrypt needs.
pub fn required_ciphertext(member: Option<Blob>) -> Result<Vec<u8>, KmsError> {
    member.map(Blob::into_vec).ok_or_else(crate::authz::missing_ciphertext)
}

/// A request's `Tags`, as `keys::tags` reads them.
pub fn tag_inputs(tags: Vec<trent_model::input::Tag>) -> Vec<crate::keys::tags::TagInput> {
    tags.into_iter().map(|t| crate::keys::tags::TagInput { tag_key: t.tag_key, tag_value: t.tag_value }).collect()
}

pub fn to_base64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Ends a DryRun request that passed every check.
pub fn dry_run_check(dry_run: Option<bool>) -> Result<(), KmsError> {
    if dry_run == Some(true) {
        return Err(KmsError::dry_run());
    }
    Ok(())
}

/// Default and bounds of a `Limit` member (the model checked 1..=1000).
pub fn limit(requested: Option<i64>, default: usize, max: usize) -> usize {
    requested.map(|l| (l.max(1) as usize).min(max)).unwrap_or(default)
}

/// What a paging marker continues. A marker is the listing's name and the
/// last item of the previous page, base64url so it reads as an opaque
/// token, as AWS's do; one that does not decode to an item of the same
/// listing is refused with InvalidMarkerException.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Keys,
    Aliases,
    Tags,
    Rotations,
    Grants,
    KeyStores,
}

impl Listing {
    fn prefix(self) -> &'static str {
        match self {
            Listing::Keys => "key:",
            Listing::Aliases => "alias:",
            Listing::Tags => "tag:",
            Listing::Rotations => "rotation:",
            Listing::Grants => "grant:",
            Listing::KeyStores => "keystore:",
        }
    }

    fn is_item(self, item: &str) -> bool {
        match self {
            Listing::Keys => crate::keys::reference::parse_key_id(item).is_some(),
            Listing::Aliases => item.starts_with("alias/"),
            Listing::Tags => !item.is_empty(),
            Listing::KeyStores => item.starts_with("cks-"),
            Listing::Rotations | Listing::Grants => item.len() == 64 && item.bytes().all(|b| b.is_ascii_hexdigit()),
        }
    }
}

pub fn invalid_marker() -> KmsError {
    Error::InvalidMarker.into()
}

pub fn encode_marker(listing: Listing, last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}{last}", listing.prefix()))
}

/// The item after which a page starts, from a request's `Marker`.
pub fn decode_marker(listing: Listing, marker: Option<&str>) -> Result<Option<String>, KmsError> {
    let Some(marker) = marker else { return Ok(None) };
    let invalid = invalid_marker;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(marker).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let item = text.strip_prefix(listing.prefix()).filter(|item| listing.is_item(item)).ok_or_else(invalid)?;
    Ok(Some(item.to_owned()))
}

/// Builds a page answer: `items` was fetched with one extra to tell whether more follow.
pub fn page<T>(listing: Listing, mut items: Vec<T>, limit: usize, last_of: impl Fn(&T) -> &str) -> (Vec<T>, Option<String>) {
    if items.len() > limit {
        items.truncate(limit);
        let marker = items.last().map(|i| encode_marker(listing, last_of(i)));
        (items, marker)
    } else {
        (items, None)
    }
}

/// Adds `NextMarker`/`Truncated` to a list answer.
pub fn with_paging(mut body: serde_json::Map<String, Value>, marker: Option<String>) -> Value {
    body.insert("Truncated".into(), Value::Bool(marker.is_some()));
    if let Some(m) = marker {
        body.insert("NextMarker".into(), Value::String(m));
    }
    Value::Object(body)
}

/// A valid request for something Trent does not do yet: said plainly.
pub fn validation_unsupported(what: String) -> KmsError {
    Error::TrentUnsupported { what }.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::ErrorCode;

    #[test]
    fn markers_round_trip_only_within_their_listing() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let marker = encode_marker(Listing::Keys, id);
        assert_eq!(decode_marker(Listing::Keys, Some(&marker)).unwrap().as_deref(), Some(id));
        assert_eq!(decode_marker(Listing::Aliases, Some(&marker)).unwrap_err().code, ErrorCode::InvalidMarker);
        let alias = encode_marker(Listing::Aliases, "alias/a");
        assert_eq!(decode_marker(Listing::Aliases, Some(&alias)).unwrap().as_deref(), Some("alias/a"));
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("not-a-marker");
        for listing in [Listing::Keys, Listing::Aliases, Listing::Tags] {
            assert_eq!(decode_marker(listing, Some(&forged)).unwrap_err().code, ErrorCode::InvalidMarker);
            assert_eq!(decode_marker(listing, Some("!!!")).unwrap_err().code, ErrorCode::InvalidMarker);
        }
        assert_eq!(decode_marker(Listing::Keys, Some(&encode_marker(Listing::Keys, "nope"))).unwrap_err().code, ErrorCode::InvalidMarker);
        assert_eq!(decode_marker(Listing::Keys, None).unwrap(), None);
    }

    #[test]
    fn a_page_is_truncated_only_when_more_follow() {
        let (items, marker) = page(Listing::Tags, vec!["a", "b", "c"], 2, |s| s);
        assert_eq!(items, vec!["a", "b"]);
        assert_eq!(decode_marker(Listing::Tags, marker.as_deref()).unwrap().as_deref(), Some("b"));
        let (items, marker) = page(Listing::Tags, vec!["a", "b"], 2, |s| s);
        assert_eq!((items.len(), marker), (2, None));
    }
}
