//! The parameters of a Query request: `application/x-www-form-urlencoded`
//! pairs, with lists spelled `Name.member.N` (and `Name.member.N.Field`).

use std::collections::HashMap;

use super::error::QueryError;

pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(body: &[u8]) -> Result<Params, QueryError> {
        let text = std::str::from_utf8(body).map_err(|_| QueryError::invalid_input("The request body is not UTF-8 form data."))?;
        let mut map = HashMap::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode(k)?, decode(v)?);
        }
        Ok(Params(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required parameter; IAM's validation text when it is missing.
    pub fn required(&self, name: &str) -> Result<&str, QueryError> {
        self.get(name).ok_or_else(|| {
            QueryError::validation(format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", lower_first(name)))
        })
    }

    /// An integer parameter within `min..=max`.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, QueryError> {
        let Some(raw) = self.get(name) else { return Ok(None) };
        let bad = || {
            QueryError::validation(format!(
                "1 validation error detected: Value '{raw}' at '{}' failed to satisfy constraint: Member must have value between {min} and {max}",
                lower_first(name)
            ))
        };
        let n: i64 = raw.parse().map_err(|_| bad())?;
        if n < min || n > max {
            return Err(bad());
        }
        Ok(Some(n))
    }

    /// `Name.member.1.Field`, `Name.member.2.Field`, ... for each of `fields`,
    /// in member order, stopping at the first missing index.
    pub fn members(&self, name: &str, fields: &[&str]) -> Vec<Vec<Option<String>>> {
        let mut out = Vec::new();
        for i in 1.. {
            let row: Vec<Option<String>> = fields.iter().map(|f| self.get(&format!("{name}.member.{i}.{f}")).map(str::to_owned)).collect();
            if row.iter().all(Option::is_none) {
                break;
            }
            out.push(row);
        }
        out
    }
}

/// IAM's messages name parameters in lower camel case.
pub fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
}

fn decode(s: &str) -> Result<String, QueryError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(hex.ok_or_else(|| QueryError::invalid_input("The request body has a malformed percent escape."))?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| QueryError::invalid_input("The request body is not UTF-8 form data."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pairs_and_members() {
        let p = Params::parse(b"Action=TagUser&UserName=d%C3%A6ve+x&Tags.member.1.Key=team&Tags.member.1.Value=&Tags.member.2.Key=k2&Tags.member.2.Value=v%262").unwrap();
        assert_eq!(p.get("Action"), Some("TagUser"));
        assert_eq!(p.get("UserName"), Some("dæve x"));
        let tags = p.members("Tags", &["Key", "Value"]);
        assert_eq!(tags, vec![vec![Some("team".into()), Some("".into())], vec![Some("k2".into()), Some("v&2".into())]]);
        assert_eq!(p.required("Path").unwrap_err().code, crate::query::error::QueryCode::ValidationError);
        assert!(Params::parse(b"a=%zz").is_err());
    }
}
