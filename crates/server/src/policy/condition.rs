//! `Condition` blocks: the operators, their `...IfExists` forms, the
//! `ForAnyValue:` / `ForAllValues:` set qualifiers and policy variables,
//! evaluated against the facts of one request ([`Facts`]).
//!
//! AWS's rules, as its IAM reference states them: every operator in a
//! block must hold, and every key under an operator; several values for one
//! key match if any matches (for a negated operator: if none does). A key the
//! request lacks makes a positive operator false and a negated one true;
//! `...IfExists` makes any operator true when the key is absent; `Null`
//! tests presence. `ForAllValues:` holds when every request value matches
//! (and when there are none); `ForAnyValue:` when at least one does.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

use super::{glob, Policy};

/// The condition keys of one request and their values; names are
/// case-insensitive (kept lower-case), values as sent. Made for one
/// decision, it can keep only the keys its policies read ([`Facts::only`]).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    map: BTreeMap<String, Vec<String>>,
    /// Keys (lower-case) a request supplied twice under names that differ
    /// only by case, e.g. encryption-context keys `Tenant` and `tenant`:
    /// a condition that reads one fails closed ([`Facts::is_ambiguous`]).
    ambiguous: Vec<String>,
    /// The policies whose condition keys are kept; `None`: every key.
    wanted: Option<Vec<Arc<Policy>>>,
}

impl Facts {
    /// Facts that keep only the keys `policies` can read (every key when
    /// one of them cannot say: see [`Policy::keys_read`]). Deriving a fact
    /// nobody reads costs allocations on every request.
    pub fn only(policies: Vec<Arc<Policy>>) -> Facts {
        let wanted = policies.iter().all(|p| p.keys_read.is_some()).then_some(policies);
        Facts { map: BTreeMap::new(), ambiguous: Vec::new(), wanted }
    }

    /// Marks `key` as supplied under several names that differ only by
    /// case: no single value stands for it, so a statement whose condition
    /// reads it fails closed (an Allow does not allow, a Deny denies).
    pub fn set_ambiguous(&mut self, key: &str) {
        if self.wants(key) {
            let key = key.to_lowercase();
            if !self.ambiguous.contains(&key) {
                self.ambiguous.push(key);
            }
        }
    }

    /// Whether `key` was marked by [`Facts::set_ambiguous`].
    pub fn is_ambiguous(&self, key: &str) -> bool {
        !self.ambiguous.is_empty() && self.ambiguous.contains(&key.to_lowercase())
    }

    /// Whether any key is ambiguous (the common case, none, costs nothing more).
    pub fn has_ambiguous(&self) -> bool {
        !self.ambiguous.is_empty()
    }

    /// Whether `key` is kept (its value worth deriving).
    pub fn wants(&self, key: &str) -> bool {
        let Some(policies) = &self.wanted else { return true };
        // `k` is lower-case; ASCII keys (nearly all) compare without folding each char.
        let same = |k: &String| if key.is_ascii() { key.eq_ignore_ascii_case(k) } else { key.chars().flat_map(char::to_lowercase).eq(k.chars()) };
        policies.iter().any(|p| p.keys_read.as_ref().is_some_and(|keys| keys.iter().any(same)))
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        if self.wants(key) {
            self.map.insert(key.to_lowercase(), vec![value.into()]);
        }
    }

    pub fn set_many(&mut self, key: &str, values: Vec<String>) {
        if self.wants(key) {
            self.map.insert(key.to_lowercase(), values);
        }
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        // Most keys a policy names are looked up once per statement per request: no copy when already lower-case.
        let lower = key.is_ascii() && !key.bytes().any(|b| b.is_ascii_uppercase());
        let key = if lower { std::borrow::Cow::Borrowed(key) } else { std::borrow::Cow::Owned(key.to_lowercase()) };
        self.map.get(key.as_ref()).map(Vec::as_slice)
    }

    /// Adds every fact of `other` (that this keeps), replacing those of the same name.
    pub fn extend(&mut self, other: &Facts) {
        for (k, v) in &other.map {
            if self.wants(k) {
                self.map.insert(k.clone(), v.clone());
            }
        }
        for k in &other.ambiguous {
            self.set_ambiguous(k);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.map.iter()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

/// One operator of a `Condition` block with its keys and values.
#[derive(Debug, Clone)]
pub struct Clause {
    pub qualifier: Qualifier,
    pub op: Op,
    /// `StringNotEquals`, `NumericNotEquals`, `NotIpAddress`, `ArnNotLike`...
    pub negated: bool,
    pub if_exists: bool,
    /// Condition key -> the policy's values for it.
    pub keys: Vec<(String, Vec<String>)>,
}

/// Parses an operator's name, e.g. `ForAllValues:StringNotLikeIfExists`.
pub fn parse_operator(name: &str) -> Option<(Qualifier, Op, bool, bool)> {
    let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
        (Qualifier::ForAnyValue, r)
    } else if let Some(r) = name.strip_prefix("ForAllValues:") {
        (Qualifier::ForAllValues, r)
    } else {
        (Qualifier::None, name)
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(b) => (b, true),
        None => (rest, false),
    };
    let (op, negated) = match base {
        "StringEquals" => (Op::StringEquals, false),
        "StringNotEquals" => (Op::StringEquals, true),
        "StringEqualsIgnoreCase" => (Op::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Op::StringEqualsIgnoreCase, true),
        "StringLike" => (Op::StringLike, false),
        "StringNotLike" => (Op::StringLike, true),
        "NumericEquals" => (Op::NumericEquals, false),
        "NumericNotEquals" => (Op::NumericEquals, true),
        "NumericLessThan" => (Op::NumericLessThan, false),
        "NumericLessThanEquals" => (Op::NumericLessThanEquals, false),
        "NumericGreaterThan" => (Op::NumericGreaterThan, false),
        "NumericGreaterThanEquals" => (Op::NumericGreaterThanEquals, false),
        "DateEquals" => (Op::DateEquals, false),
        "DateNotEquals" => (Op::DateEquals, true),
        "DateLessThan" => (Op::DateLessThan, false),
        "DateLessThanEquals" => (Op::DateLessThanEquals, false),
        "DateGreaterThan" => (Op::DateGreaterThan, false),
        "DateGreaterThanEquals" => (Op::DateGreaterThanEquals, false),
        "Bool" => (Op::Bool, false),
        "BinaryEquals" => (Op::BinaryEquals, false),
        "IpAddress" => (Op::IpAddress, false),
        "NotIpAddress" => (Op::IpAddress, true),
        "ArnEquals" | "ArnLike" => (Op::ArnLike, false),
        "ArnNotEquals" | "ArnNotLike" => (Op::ArnLike, true),
        "Null" if !if_exists && qualifier == Qualifier::None => (Op::Null, false),
        _ => return None,
    };
    Some((qualifier, op, negated, if_exists))
}

/// Parses a `Condition` object. Unknown operators are an error: the key
/// policy checks refuse them, and identity policies stored before this
/// evaluator existed get a clause that fails closed (see [`Parsed`]).
pub fn parse(block: &Value) -> Result<Vec<Clause>, String> {
    let map = block.as_object().ok_or("Condition must be an object")?;
    let mut out = Vec::new();
    for (name, keys) in map {
        let (qualifier, op, negated, if_exists) = parse_operator(name).ok_or_else(|| format!("unknown condition operator {name}"))?;
        let keys = keys.as_object().ok_or_else(|| format!("{name} must map condition keys to values"))?;
        let mut pairs = Vec::new();
        for (key, values) in keys {
            let values = match values {
                Value::Array(list) => list.iter().map(scalar).collect::<Option<Vec<_>>>(),
                other => scalar(other).map(|v| vec![v]),
            }
            .ok_or_else(|| format!("the values of {key} must be strings, numbers or booleans"))?;
            if values.is_empty() {
                return Err(format!("{key} has no values"));
            }
            pairs.push((key.clone(), values));
        }
        out.push(Clause { qualifier, op, negated, if_exists, keys: pairs });
    }
    Ok(out)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether every clause holds for `facts`. `variables`: whether `${...}`
/// in values is substituted (policies of Version 2012-10-17).
pub fn holds(clauses: &[Clause], facts: &Facts, variables: bool) -> bool {
    clauses.iter().all(|c| c.keys.iter().all(|(key, values)| clause_holds(c, key, values, facts, variables)))
}

fn clause_holds(c: &Clause, key: &str, policy_values: &[String], facts: &Facts, variables: bool) -> bool {
    let request = facts.get(key).filter(|v| !v.is_empty());
    if c.op == Op::Null {
        let want_absent = policy_values.iter().any(|v| v.eq_ignore_ascii_case("true"));
        return request.is_none() == want_absent;
    }
    // Substitute variables; a value whose variable has no fact matches nothing.
    let values: Vec<std::borrow::Cow<str>> = if variables {
        policy_values.iter().filter_map(|v| substitute(v, facts)).collect()
    } else {
        policy_values.iter().map(|v| std::borrow::Cow::Borrowed(v.as_str())).collect()
    };
    let Some(request) = request else {
        return match c.qualifier {
            Qualifier::ForAllValues => true,
            Qualifier::ForAnyValue => c.if_exists,
            Qualifier::None => c.if_exists || c.negated,
        };
    };
    // A request value "matches" when it matches any policy value; negated
    // operators hold for a value that matches none.
    let ok = |r: &String| values.iter().any(|p| matches_one(c.op, r, p)) != c.negated;
    match c.qualifier {
        Qualifier::ForAllValues => request.iter().all(ok),
        Qualifier::ForAnyValue => request.iter().any(ok),
        Qualifier::None => {
            if c.negated {
                request.iter().all(ok)
            } else {
                request.iter().any(ok)
            }
        }
    }
}

fn matches_one(op: Op, request: &str, policy: &str) -> bool {
    match op {
        Op::StringEquals | Op::BinaryEquals => request == policy,
        Op::StringEqualsIgnoreCase => request.to_lowercase() == policy.to_lowercase(),
        Op::StringLike | Op::ArnLike => glob(policy, request, false),
        Op::Bool => request.eq_ignore_ascii_case(policy),
        Op::NumericEquals | Op::NumericLessThan | Op::NumericLessThanEquals | Op::NumericGreaterThan | Op::NumericGreaterThanEquals => {
            match (request.trim().parse::<f64>(), policy.trim().parse::<f64>()) {
                (Ok(r), Ok(p)) => compare(op, r.partial_cmp(&p)),
                _ => false,
            }
        }
        Op::DateEquals | Op::DateLessThan | Op::DateLessThanEquals | Op::DateGreaterThan | Op::DateGreaterThanEquals => {
            match (parse_date(request), parse_date(policy)) {
                (Some(r), Some(p)) => compare(op, Some(r.cmp(&p))),
                _ => false,
            }
        }
        Op::IpAddress => ip_in(request, policy),
        Op::Null => false,
    }
}

fn compare(op: Op, ord: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    let Some(o) = ord else { return false };
    match op {
        Op::NumericEquals | Op::DateEquals => o == Equal,
        Op::NumericLessThan | Op::DateLessThan => o == Less,
        Op::NumericLessThanEquals | Op::DateLessThanEquals => o != Greater,
        Op::NumericGreaterThan | Op::DateGreaterThan => o == Greater,
        Op::NumericGreaterThanEquals | Op::DateGreaterThanEquals => o != Less,
        _ => false,
    }
}

/// Replaces `${key}` with the request's (single) value of that key, and
/// `${*}`, `${?}`, `${$}` with the character. `None` when a variable has no
/// value (the policy value then matches nothing, as in AWS).
pub fn substitute<'a>(text: &'a str, facts: &Facts) -> Option<std::borrow::Cow<'a, str>> {
    if !text.contains("${") {
        return Some(std::borrow::Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Some(out.into());
        };
        let inner = after[..end].trim();
        match inner {
            "*" | "?" | "$" => out.push_str(inner),
            // `${key, 'default'}`
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => (k.trim(), Some(d.trim().trim_matches('\'').to_owned())),
                    None => (inner, None),
                };
                let value = facts.get(key).and_then(|v| if v.len() == 1 { v.first().cloned() } else { None }).or(default)?;
                out.push_str(&value);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out.into())
}

/// A date as milliseconds since the epoch: ISO 8601 (`2026-01-02`,
/// `2026-01-02T03:04:05Z`, with fractions or an offset) or epoch seconds.
pub fn parse_date(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<i64>() {
        return secs.checked_mul(1000);
    }
    let (date, time) = match t.split_once('T') {
        Some((d, rest)) => (d, Some(rest)),
        None => (t, None),
    };
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = trent_sigv4::days_from_civil(y, m, d);
    let mut millis = days * 86_400_000;
    if let Some(time) = time {
        let (clock, offset_ms) = if let Some(c) = time.strip_suffix('Z') {
            (c, 0)
        } else if let Some(pos) = time.rfind(['+', '-']) {
            let (c, off) = time.split_at(pos);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let (oh, om) = off[1..].split_once(':').unwrap_or((&off[1..], "0"));
            (c, sign * (oh.parse::<i64>().ok()? * 3_600_000 + om.parse::<i64>().ok()? * 60_000))
        } else {
            (time, 0)
        };
        let mut hms = clock.split(':');
        let h: i64 = hms.next()?.parse().ok()?;
        let mi: i64 = hms.next().unwrap_or("0").parse().ok()?;
        let s: f64 = hms.next().unwrap_or("0").parse().ok()?;
        millis += h * 3_600_000 + mi * 60_000 + (s * 1000.0) as i64 - offset_ms;
    }
    Some(millis)
}

/// Whether an address is in a CIDR block (or equals a bare address).
fn ip_in(addr: &str, cidr: &str) -> bool {
    let Ok(addr) = addr.parse::<IpAddr>() else { return false };
    let (net, bits) = match cidr.split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr, None),
    };
    let Ok(net) = net.parse::<IpAddr>() else { return false };
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(pairs: &[(&str, &[&str])]) -> Facts {
        let mut f = Facts::default();
        for (k, v) in pairs {
            f.set_many(k, v.iter().map(|s| s.to_string()).collect());
        }
        f
    }

    fn check(block: Value, f: &Facts) -> bool {
        holds(&parse(&block).unwrap(), f, true)
    }

    #[test]
    fn strings_and_absent_keys() {
        let f = facts(&[("kms:EncryptionContext:dept", &["IT"]), ("aws:username", &["dave"])]);
        assert!(check(json!({"StringEquals": {"kms:EncryptionContext:Dept": "IT"}}), &f));
        assert!(!check(json!({"StringEquals": {"kms:EncryptionContext:Dept": "it"}}), &f));
        assert!(check(json!({"StringEqualsIgnoreCase": {"kms:EncryptionContext:Dept": "it"}}), &f));
        assert!(check(json!({"StringEquals": {"kms:EncryptionContext:Dept": ["HR", "IT"]}}), &f));
        assert!(!check(json!({"StringNotEquals": {"kms:EncryptionContext:Dept": ["HR", "IT"]}}), &f));
        assert!(check(json!({"StringLike": {"kms:EncryptionContext:Dept": "I*"}}), &f));
        // Absent key: positive false, negated true, IfExists true.
        assert!(!check(json!({"StringEquals": {"kms:EncryptionContext:x": "1"}}), &f));
        assert!(check(json!({"StringNotEquals": {"kms:EncryptionContext:x": "1"}}), &f));
        assert!(check(json!({"StringEqualsIfExists": {"kms:EncryptionContext:x": "1"}}), &f));
        assert!(check(json!({"Null": {"kms:EncryptionContext:x": "true"}}), &f));
        assert!(!check(json!({"Null": {"kms:EncryptionContext:dept": "true"}}), &f));
        // Two keys under one operator, two operators: all must hold.
        assert!(!check(json!({"StringEquals": {"kms:EncryptionContext:dept": "IT", "aws:username": "eve"}}), &f));
        assert!(check(json!({"StringEquals": {"kms:EncryptionContext:dept": "IT"}, "StringLike": {"aws:username": "d*"}}), &f));
        // Policy variables.
        assert!(check(json!({"StringEquals": {"kms:EncryptionContext:dept": "IT", "aws:username": "${aws:username}"}}), &f));
        assert!(!check(json!({"StringEquals": {"aws:username": "${aws:userid}"}}), &f));
        assert!(check(json!({"StringEquals": {"aws:username": "${aws:userid, 'dave'}"}}), &f));
    }

    #[test]
    fn set_qualifiers() {
        let f = facts(&[("kms:EncryptionContextKeys", &["a", "b"])]);
        let none = Facts::default();
        assert!(check(json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["a", "b", "c"]}}), &f));
        assert!(!check(json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["a"]}}), &f));
        assert!(check(json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["a"]}}), &none));
        assert!(check(json!({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["a"]}}), &f));
        assert!(!check(json!({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["z"]}}), &f));
        assert!(!check(json!({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["a"]}}), &none));
        assert!(check(json!({"ForAnyValue:StringNotEquals": {"kms:EncryptionContextKeys": ["a"]}}), &f));
        assert!(!check(json!({"ForAllValues:StringNotEquals": {"kms:EncryptionContextKeys": ["a"]}}), &f));
    }

    #[test]
    fn numbers_dates_bools_ips_arns() {
        let f = facts(&[
            ("kms:RotationPeriodInDays", &["90"]),
            ("aws:CurrentTime", &["2026-11-30T12:00:00Z"]),
            ("aws:SecureTransport", &["false"]),
            ("aws:SourceIp", &["127.0.0.1"]),
            ("aws:PrincipalArn", &["arn:aws:iam::111122223333:user/dave"]),
        ]);
        assert!(check(json!({"NumericLessThanEquals": {"kms:RotationPeriodInDays": 90}}), &f));
        assert!(!check(json!({"NumericLessThan": {"kms:RotationPeriodInDays": "90"}}), &f));
        assert!(check(json!({"NumericNotEquals": {"kms:RotationPeriodInDays": "30"}}), &f));
        assert!(check(json!({"DateGreaterThan": {"aws:CurrentTime": "2026-01-01"}}), &f));
        assert!(check(json!({"DateLessThan": {"aws:CurrentTime": "2026-11-30T13:00:00+00:00"}}), &f));
        assert!(!check(json!({"DateLessThan": {"aws:CurrentTime": "1764500000"}}), &f));
        assert!(check(json!({"Bool": {"aws:SecureTransport": "false"}}), &f));
        assert!(check(json!({"Bool": {"aws:SecureTransport": false}}), &f));
        assert!(check(json!({"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}), &f));
        assert!(check(json!({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1/128"]}}), &f));
        assert!(check(json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/*"}}), &f));
        assert!(check(json!({"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/eve"}}), &f));
        assert_eq!(parse_date("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_date("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert!(parse(&json!({"StringSortOf": {"a": "b"}})).is_err());
        assert!(parse(&json!({"NullIfExists": {"a": "true"}})).is_err());
    }
}
