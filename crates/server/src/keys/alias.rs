//! Alias names: `alias/` followed by letters, digits, `/_-`; names under
//! `alias/aws/` belong to AWS-managed keys and cannot be made or changed.

use crate::protocol::error::{ErrorCode, KmsError};

pub fn check_name(name: &str) -> Result<(), KmsError> {
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(KmsError::new(ErrorCode::InvalidAliasName, format!("Alias must start with the prefix \"alias/\": {name}")));
    };
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b)) {
        return Err(KmsError::new(ErrorCode::InvalidAliasName, format!("Alias name {name} is invalid: use letters, digits, '/', '_' and '-' after \"alias/\".")));
    }
    if rest.starts_with("aws/") {
        return Err(KmsError::new(ErrorCode::InvalidAliasName, format!("Alias names beginning with alias/aws/ are reserved: {name}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_aws_rules() {
        check_name("alias/my-key_1/prod").unwrap();
        for bad in ["my-key", "alias/", "alias/aws/s3", "alias/has:colon", "alias/sp ace"] {
            assert_eq!(check_name(bad).unwrap_err().code, ErrorCode::InvalidAliasName, "{bad}");
        }
    }
}
