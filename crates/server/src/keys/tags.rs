//! Tags on keys, with AWS's rules: keys starting with `aws:` are reserved,
//! a key appears once, at most 50 tags per KMS key.

use serde::Deserialize;
use trent_store::Tag;

use crate::protocol::error::KmsError;
use crate::protocol::catalogue::Error;

pub const MAX_TAGS_PER_KEY: usize = 50;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagInput {
    pub tag_key: String,
    pub tag_value: String,
}

/// Checks tags from a request and turns them into records.
pub fn parse(input: Vec<TagInput>) -> Result<Vec<Tag>, KmsError> {
    let mut tags: Vec<Tag> = Vec::with_capacity(input.len());
    for t in input {
        if t.tag_key.to_ascii_lowercase().starts_with("aws:") {
            return Err(Error::TagKeyReserved.into());
        }
        if tags.iter().any(|existing| existing.key == t.tag_key) {
            return Err(Error::DuplicateTagKey { key: t.tag_key }.into());
        }
        tags.push(Tag { key: t.tag_key, value: t.tag_value });
    }
    Ok(tags)
}

/// Adds or replaces `new` tags on `existing`, within the per-key limit.
pub fn merge(existing: &mut Vec<Tag>, new: Vec<Tag>) -> Result<(), KmsError> {
    for tag in new {
        match existing.iter_mut().find(|t| t.key == tag.key) {
            Some(t) => t.value = tag.value,
            None => existing.push(tag),
        }
    }
    if existing.len() > MAX_TAGS_PER_KEY {
        // AWS: TagException (not LimitExceededException).
        return Err(Error::TooManyTags { max: MAX_TAGS_PER_KEY.to_string() }.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::ErrorCode;

    fn input(k: &str, v: &str) -> TagInput {
        TagInput { tag_key: k.into(), tag_value: v.into() }
    }

    #[test]
    fn reserved_and_duplicate_keys_are_refused() {
        assert_eq!(parse(vec![input("aws:x", "1")]).unwrap_err().code, ErrorCode::Tag);
        assert_eq!(parse(vec![input("AWS:x", "1")]).unwrap_err().code, ErrorCode::Tag);
        assert_eq!(parse(vec![input("a", "1"), input("a", "2")]).unwrap_err().code, ErrorCode::Tag);
        assert_eq!(parse(vec![input("a", "1"), input("b", "")]).unwrap().len(), 2);
    }

    #[test]
    fn merge_replaces_values_and_enforces_the_limit() {
        let mut tags = parse(vec![input("a", "1")]).unwrap();
        merge(&mut tags, parse(vec![input("a", "2"), input("b", "3")]).unwrap()).unwrap();
        assert_eq!(tags, vec![Tag { key: "a".into(), value: "2".into() }, Tag { key: "b".into(), value: "3".into() }]);
        let many: Vec<TagInput> = (0..49).map(|i| input(&format!("k{i}"), "v")).collect();
        assert_eq!(merge(&mut tags, parse(many).unwrap()).unwrap_err().code, ErrorCode::Tag);
    }
}
