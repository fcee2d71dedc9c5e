//! What a server may demand of a request beyond a matching signature: a
//! well-formed region in the credential scope, and the headers that must be
//! covered by the signature whenever the request carries them.
//!
//! A signature only vouches for the headers listed in `SignedHeaders`; any
//! other header can be added or changed by anyone who captured the request.
//! A header that decides what a request does (which operation, on whose
//! behalf, with which session) must therefore be signed, or refused. AWS's
//! SigV4 documentation asks clients to sign `host`, the date header,
//! `content-type` when present and every `x-amz-*` header they send, and AWS
//! answers a required header left unsigned with
//! `'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.`
//! (the same form for other headers: `'X-Amz-Target' must be a ...`).

use crate::{Authorization, Request, SigV4Error};

/// Headers that must be among the `SignedHeaders` of a request whenever the
/// request carries them: exact names and name prefixes, in lower case.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaderRules<'a> {
    /// Exact header names, e.g. `x-amz-target`.
    pub names: &'a [&'a str],
    /// Name prefixes, e.g. `x-trent-`.
    pub prefixes: &'a [&'a str],
}

impl SignedHeaderRules<'_> {
    /// Whether a header of this name (any case) must be signed.
    pub fn applies_to(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
            || self.prefixes.iter().any(|p| {
                name.len() >= p.len() && name.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
            })
    }
}

impl Authorization {
    /// Checks that every header of `req` that `rules` name is signed.
    /// The first one that is not is [`SigV4Error::HeaderNotSigned`].
    pub fn check_signed_headers(&self, req: &Request<'_>, rules: &SignedHeaderRules<'_>) -> Result<(), SigV4Error> {
        for (name, _) in req.headers {
            if rules.applies_to(name) && !self.is_signed(name) {
                return Err(SigV4Error::HeaderNotSigned { header: display_name(name) });
            }
        }
        Ok(())
    }

    /// Whether `name` (any case) is among the signed headers.
    pub fn is_signed(&self, name: &str) -> bool {
        self.signed_headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    /// Checks that the credential scope names a well-formed AWS region
    /// (see [`is_region_name`]): [`SigV4Error::WrongRegion`] otherwise, as
    /// AWS answers a scope naming a region that does not exist.
    pub fn check_region_name(&self) -> Result<(), SigV4Error> {
        if is_region_name(&self.region) {
            Ok(())
        } else {
            Err(SigV4Error::WrongRegion { region: self.region.clone() })
        }
    }
}

/// A header name as AWS writes it in messages: each dash-separated word
/// capitalized (`x-amz-target` -> `X-Amz-Target`).
pub(crate) fn display_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut start = true;
    for c in name.chars() {
        out.push(if start { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() });
        start = c == '-';
    }
    out
}

/// Whether `name` is a well-formed AWS region name:
///
/// ```text
/// ^[a-z]{2,4}(-[a-z]{2,16}){1,3}-[1-9][0-9]?$
/// ```
///
/// a partition/area prefix (`us`, `eu`, `ap`, `cn`, `il`, `eusc`...), one
/// to three words (`east`, `gov-west`, `isob-east`, `de-east`...) and a
/// number without a leading zero. So `us-east-1`, `eu-central-2`,
/// `ap-southeast-4`, `us-gov-west-1`, `cn-north-1`, `il-central-1`,
/// `us-isob-east-1` and `eusc-de-east-1` are; `US-EAST-1`, `us-east`,
/// `us-east-01`, `aws-global`, `x:y`, `../` and the empty string are not.
/// Regions are not looked up in a list: a region AWS opens tomorrow works.
pub fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let letters = |s: &str, min: usize, max: usize| (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase());
    let [first, words @ .., number] = parts.as_slice() else {
        return false;
    };
    let number_ok = match number.as_bytes() {
        [d] => (b'1'..=b'9').contains(d),
        [d, e] => (b'1'..=b'9').contains(d) && e.is_ascii_digit(),
        _ => false,
    };
    letters(first, 2, 4) && (1..=3).contains(&words.len()) && words.iter().all(|w| letters(w, 2, 16)) && number_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for good in [
            "us-east-1",
            "us-west-2",
            "eu-central-2",
            "ap-southeast-4",
            "ap-northeast-3",
            "us-gov-west-1",
            "cn-north-1",
            "cn-northwest-1",
            "il-central-1",
            "me-south-1",
            "sa-east-1",
            "mx-central-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "us-isof-south-1",
            "eusc-de-east-1",
            "xx-yy-10",
        ] {
            assert!(is_region_name(good), "{good}");
        }
        for bad in [
            "",
            "x:y",
            "../",
            "..",
            "US-EAST-1",
            "us-East-1",
            "us-east",
            "us-east-0",
            "us-east-01",
            "us-east-100",
            "us-east-1-",
            "-us-east-1",
            "us--east-1",
            "useast1",
            "aws-global",
            "u-east-1",
            "usabc-east-1",
            "us-e-1",
            "us-a-b-c-d-1",
            "us-east-1a",
            "us-east-1 ",
            "us_east-1",
            "us-east-\u{0661}",
            "us-eastabcdefghijklm-1",
            "us-ea\u{e9}st-1",
        ] {
            assert!(!is_region_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn display_names() {
        assert_eq!(display_name("x-amz-target"), "X-Amz-Target");
        assert_eq!(display_name("Content-Type"), "Content-Type");
        assert_eq!(display_name("X-TRENT-ON-BEHALF-OF"), "X-Trent-On-Behalf-Of");
        assert_eq!(display_name("date"), "Date");
    }

    #[test]
    fn rules_match_names_and_prefixes_in_any_case() {
        let rules = SignedHeaderRules { names: &["x-amz-target", "content-type"], prefixes: &["x-trent-"] };
        for name in ["x-amz-target", "X-Amz-Target", "CONTENT-TYPE", "x-trent-on-behalf-of", "X-Trent-Anything", "x-trent-"] {
            assert!(rules.applies_to(name), "{name}");
        }
        for name in ["x-amz-targets", "content-length", "x-trent", "x-trentx", "user-agent", "", "\u{e9}"] {
            assert!(!rules.applies_to(name), "{name}");
        }
    }
}
