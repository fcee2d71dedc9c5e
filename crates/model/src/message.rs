//! AWS's wording for input errors.
//!
//! Evidence (recorded AWS responses quoted in public emulator test suites; see the
//! crate report for sources):
//! - `1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy
//!   constraint: Member must have value less than or equal to 1024` (KMS, recorded).
//! - several errors: `2 validation errors detected: <error>; <error>` (KMS GetPublicKey
//!   with `KeyId: ""` lists the length error, then the pattern error).
//! - `Value null at 'keyId' failed to satisfy constraint: Member must not be null`.
//! - sensitive shapes and blobs never show their value: `Value at 'plaintext' failed to
//!   satisfy constraint: Member must have length less than or equal to 4096`, and
//!   `Value at 'ciphertextBlob' ...` for an empty blob. A missing sensitive member is
//!   `Value at 'plaintext' ... Member must not be null`; a missing non-sensitive blob is
//!   `Value null at 'ciphertextBlob' ...`.
//! - list members: `tags.1.member.tagKey` (1-based); a list or map of simple values is
//!   reported once for the whole collection: `Value '[x]' at 'operations' failed to
//!   satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value
//!   set: [...]]`, `... Map value must satisfy constraint: [...]`.
//! - SerializationException texts are Coral's (the AWS service framework) as recorded
//!   against DynamoDB, which shares it: `STRING_VALUE cannot be converted to Integer`,
//!   `Start of structure or map found where not expected`, and so on.

use std::fmt;

use serde_json::Value;

use crate::shapes::{Kind, Model, Shape};

/// One constraint, worded as AWS words it after `failed to satisfy constraint: `.
pub(crate) enum Constraint<'a> {
    LengthMax(i64),
    LengthMin(i64),
    ValueMax(i64),
    ValueMin(i64),
    Pattern(&'a str),
    Enum(&'a [String]),
    NotNull,
}

impl fmt::Display for Constraint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::LengthMax(n) => {
                write!(f, "Member must have length less than or equal to {n}")
            }
            Constraint::LengthMin(n) => {
                write!(f, "Member must have length greater than or equal to {n}")
            }
            Constraint::ValueMax(n) => {
                write!(f, "Member must have value less than or equal to {n}")
            }
            Constraint::ValueMin(n) => {
                write!(f, "Member must have value greater than or equal to {n}")
            }
            Constraint::Pattern(p) => {
                write!(f, "Member must satisfy regular expression pattern: {p}")
            }
            Constraint::Enum(values) => {
                write!(
                    f,
                    "Member must satisfy enum value set: [{}]",
                    values.join(", ")
                )
            }
            Constraint::NotNull => f.write_str("Member must not be null"),
        }
    }
}

/// Every constraint a shape declares, in the order AWS lists them inside
/// `Member must satisfy constraint: [...]` (max, min, pattern, enum).
pub(crate) fn declared(shape: &Shape) -> Vec<Constraint<'_>> {
    let by_value = matches!(shape.kind, Kind::Integer | Kind::Long | Kind::Decimal);
    let mut out = Vec::new();
    if let Some(max) = shape.max {
        out.push(if by_value {
            Constraint::ValueMax(max)
        } else {
            Constraint::LengthMax(max)
        });
    }
    if let Some(min) = shape.min {
        out.push(if by_value {
            Constraint::ValueMin(min)
        } else {
            Constraint::LengthMin(min)
        });
    }
    if let Some(p) = &shape.pattern {
        out.push(Constraint::Pattern(&p.source));
    }
    if !shape.enum_values.is_empty() {
        out.push(Constraint::Enum(&shape.enum_values));
    }
    out
}

/// `[c1, c2]` for the aggregated list/map forms.
pub(crate) fn bracketed(constraints: &[Constraint<'_>]) -> String {
    let parts: Vec<String> = constraints.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// `Value 'X' at 'path' failed to satisfy constraint: <constraint>`, where the value
/// part is `Value null` for an absent value and just `Value` when it must not be shown.
pub(crate) fn violation(
    model: &Model,
    shape: &Shape,
    value: Option<&Value>,
    path: &str,
    constraint: &dyn fmt::Display,
) -> String {
    let shown = match value {
        _ if shape.sensitive => "Value".to_owned(),
        None | Some(Value::Null) => "Value null".to_owned(),
        Some(v) => match render(model, shape, v) {
            Some(text) => format!("Value '{text}'"),
            None => "Value".to_owned(),
        },
    };
    format!("{shown} at '{path}' failed to satisfy constraint: {constraint}")
}

/// The value as Java's `toString` prints it, or `None` if any part of it is sensitive
/// or binary and so must not appear in an error message.
fn render(model: &Model, shape: &Shape, value: &Value) -> Option<String> {
    if shape.sensitive || shape.kind == Kind::Blob {
        return None;
    }
    let child = |name: &Option<String>| name.as_deref().and_then(|n| model.shape(n));
    let part = |sub: Option<&Shape>, v: &Value| match (sub, v) {
        (_, Value::Null) => Some("null".to_owned()),
        (Some(s), v) => render(model, s, v),
        (None, v) => Some(plain(v)),
    };
    match value {
        Value::Array(items) => {
            let sub = child(&shape.member);
            let parts: Option<Vec<String>> = items.iter().map(|v| part(sub, v)).collect();
            Some(format!("[{}]", parts?.join(", ")))
        }
        Value::Object(entries) if shape.kind == Kind::Map => {
            let sub = child(&shape.value);
            let parts: Option<Vec<String>> = entries
                .iter()
                .map(|(k, v)| Some(format!("{k}={}", part(sub, v)?)))
                .collect();
            Some(format!("{{{}}}", parts?.join(", ")))
        }
        Value::Object(entries) => {
            let parts: Option<Vec<String>> = entries
                .iter()
                .map(|(k, v)| {
                    let sub = shape
                        .members
                        .iter()
                        .find(|m| &m.name == k)
                        .and_then(|m| model.shape(&m.shape));
                    Some(format!("{k}={}", part(sub, v)?))
                })
                .collect();
            Some(format!("{{{}}}", parts?.join(", ")))
        }
        v => Some(plain(v)),
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `N validation error(s) detected: e1; e2`.
pub(crate) fn summary(errors: &[String]) -> String {
    let plural = if errors.len() == 1 { "" } else { "s" };
    format!(
        "{} validation error{plural} detected: {}",
        errors.len(),
        errors.join("; ")
    )
}

/// Coral's name for the JSON token it found where a simple value was expected.
fn token(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "STRING_VALUE",
        Value::Bool(true) => "TRUE_VALUE",
        Value::Bool(false) => "FALSE_VALUE",
        Value::Number(n) if n.is_i64() || n.is_u64() => "NUMBER_VALUE",
        Value::Number(_) => "DECIMAL_VALUE",
        Value::Null => "NULL_VALUE",
        Value::Array(_) | Value::Object(_) => "UNKNOWN",
    }
}

/// The SerializationException message for `value` where a `kind` was expected.
/// Callers only ask when the JSON type is wrong.
pub(crate) fn wrong_type(kind: Kind, value: &Value) -> String {
    const OBJECT: &str = "Start of structure or map found where not expected";
    match (kind, value) {
        (Kind::Structure | Kind::Map, Value::Object(_)) | (Kind::List, Value::Array(_)) => {
            // Not a type error; kept total so that a caller mistake is still worded.
            "Unexpected field type".to_owned()
        }
        (Kind::List, Value::Object(_)) => OBJECT.to_owned(),
        (Kind::Structure | Kind::Map, Value::Array(_)) => {
            // Not verified against AWS: older Coral's wording for this case.
            "Start of list found where not expected".to_owned()
        }
        (Kind::Structure | Kind::List | Kind::Map, _) => "Unexpected field type".to_owned(),
        (_, Value::Object(_)) => OBJECT.to_owned(),
        (Kind::Blob, Value::Array(_)) => {
            "Unrecognized collection type class java.nio.ByteBuffer".to_owned()
        }
        (Kind::Blob, _) => "only base-64-encoded strings are convertible to bytes".to_owned(),
        (Kind::Boolean, Value::String(_)) => "Unexpected token received from parser".to_owned(),
        (scalar, Value::Array(_)) => {
            format!("Unrecognized collection type class {}", java_class(scalar))
        }
        (scalar, v) => {
            let class = java_class(scalar);
            let simple = class.rsplit('.').next().unwrap_or(class);
            format!("{} cannot be converted to {simple}", token(v))
        }
    }
}

fn java_class(kind: Kind) -> &'static str {
    match kind {
        Kind::Integer => "java.lang.Integer",
        Kind::Long => "java.lang.Long",
        Kind::Decimal => "java.lang.Double",
        Kind::Boolean => "java.lang.Boolean",
        Kind::Timestamp => "java.util.Date",
        Kind::Blob => "java.nio.ByteBuffer",
        _ => "java.lang.String",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_type_wording_follows_coral() {
        assert_eq!(
            wrong_type(Kind::Integer, &json!("5")),
            "STRING_VALUE cannot be converted to Integer"
        );
        assert_eq!(
            wrong_type(Kind::Integer, &json!(1.5)),
            "DECIMAL_VALUE cannot be converted to Integer"
        );
        assert_eq!(
            wrong_type(Kind::String, &json!(5)),
            "NUMBER_VALUE cannot be converted to String"
        );
        assert_eq!(
            wrong_type(Kind::String, &json!(true)),
            "TRUE_VALUE cannot be converted to String"
        );
        assert_eq!(
            wrong_type(Kind::String, &json!([])),
            "Unrecognized collection type class java.lang.String"
        );
        assert_eq!(
            wrong_type(Kind::String, &json!({})),
            "Start of structure or map found where not expected"
        );
        assert_eq!(
            wrong_type(Kind::Boolean, &json!("true")),
            "Unexpected token received from parser"
        );
        assert_eq!(
            wrong_type(Kind::Boolean, &json!(0)),
            "NUMBER_VALUE cannot be converted to Boolean"
        );
        assert_eq!(
            wrong_type(Kind::Blob, &json!(7)),
            "only base-64-encoded strings are convertible to bytes"
        );
        assert_eq!(wrong_type(Kind::List, &json!("a")), "Unexpected field type");
        assert_eq!(
            wrong_type(Kind::List, &json!({})),
            "Start of structure or map found where not expected"
        );
        assert_eq!(
            wrong_type(Kind::Timestamp, &json!("2020-01-01")),
            "STRING_VALUE cannot be converted to Date"
        );
    }

    #[test]
    fn summary_counts_and_joins() {
        assert_eq!(summary(&["a".into()]), "1 validation error detected: a");
        assert_eq!(
            summary(&["a".into(), "b".into()]),
            "2 validation errors detected: a; b"
        );
    }
}
