//! Walks a request body against an input shape.
//!
//! AWS deserializes the body before it validates it, so a wrong JSON type anywhere is
//! a SerializationException that wins over every constraint violation; the walk stops
//! at the first one. Constraint violations are collected and reported together.
//!
//! The walk also leaves only the shape's members in every structure it passes (and
//! drops null ones), so what it accepts holds nothing the model does not define.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::message::{self, Constraint};
use crate::shapes::{Kind, Model, Shape};
use crate::InputError;

/// Validates `value` (a whole request body) against `input`, and removes from its
/// structures, at every depth, the members their shapes do not have and null members.
/// On error `value` may be partly stripped.
pub(crate) fn check_input(
    model: &Model,
    input: &Shape,
    value: &mut Value,
) -> Result<(), InputError> {
    let mut walk = Walk {
        model,
        errors: Vec::new(),
    };
    walk.value(input, value, "")?;
    if walk.errors.is_empty() {
        Ok(())
    } else {
        Err(InputError::Validation(message::summary(&walk.errors)))
    }
}

struct Walk<'m> {
    model: &'m Model,
    errors: Vec<String>,
}

fn join(path: &str, member: &str) -> String {
    // AWS prints member names with the first letter lower-cased: KeyId -> keyId,
    // and Lambda's KMSKeyArn -> kMSKeyArn.
    let mut chars = member.chars();
    let lower: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    if path.is_empty() {
        lower
    } else {
        format!("{path}.{lower}")
    }
}

fn serialization(kind: Kind, value: &Value) -> InputError {
    InputError::Serialization(message::wrong_type(kind, value))
}

impl<'m> Walk<'m> {
    fn shape(&self, name: &Option<String>) -> Option<&'m Shape> {
        name.as_deref().and_then(|n| self.model.shape(n))
    }

    fn value(&mut self, shape: &Shape, value: &mut Value, path: &str) -> Result<(), InputError> {
        match shape.kind {
            Kind::Structure => match value {
                Value::Object(obj) => self.structure(shape, obj, path),
                other => Err(serialization(Kind::Structure, other)),
            },
            Kind::List => match value {
                Value::Array(_) => self.list(shape, value, path),
                other => Err(serialization(Kind::List, other)),
            },
            Kind::Map => match value {
                Value::Object(_) => self.map(shape, value, path),
                other => Err(serialization(Kind::Map, other)),
            },
            _ => {
                let broken = scalar_violations(shape, value)?;
                for constraint in broken {
                    let text =
                        message::violation(self.model, shape, Some(value), path, &constraint);
                    self.errors.push(text);
                }
                Ok(())
            }
        }
    }

    fn structure(
        &mut self,
        shape: &Shape,
        obj: &mut Map<String, Value>,
        path: &str,
    ) -> Result<(), InputError> {
        // Members of the shape with a value: if that is all `obj` holds, nothing is removed.
        let mut kept = 0;
        for member in &shape.members {
            let Some(member_shape) = self.model.shape(&member.shape) else {
                continue;
            };
            // The path is built only for members present or missing (not for every optional one).
            match obj.get_mut(&member.name) {
                None | Some(Value::Null) => {
                    if shape.required.contains(&member.name) {
                        let text = message::violation(
                            self.model,
                            member_shape,
                            None,
                            &join(path, &member.name),
                            &Constraint::NotNull,
                        );
                        self.errors.push(text);
                    }
                }
                Some(v) => {
                    kept += 1;
                    self.value(member_shape, v, &join(path, &member.name))?;
                }
            }
        }
        if kept != obj.len() {
            // Members of no shape (including case variants: names are exact) and nulls.
            obj.retain(|name, v| !v.is_null() && shape.has_member(name));
        }
        Ok(())
    }

    /// `whole` is an array.
    fn list(&mut self, shape: &Shape, whole: &mut Value, path: &str) -> Result<(), InputError> {
        let Some(member) = self.shape(&shape.member) else {
            return Ok(());
        };
        let items: &[Value] = whole.as_array().map(Vec::as_slice).unwrap_or_default();
        let mut length_errors = Vec::new();
        if let Some(c) = length_violation(shape, items.len()) {
            length_errors.push(message::violation(self.model, shape, Some(whole), path, &c));
        }
        if member.kind.is_scalar() {
            // One error for the whole list, naming every constraint of the member shape.
            let failing = aggregate(member, items.iter())?;
            self.errors.extend(length_errors);
            if let Some(constraints) = failing {
                let text = format!("Member must satisfy constraint: {constraints}");
                self.errors.push(message::violation(
                    self.model,
                    shape,
                    Some(whole),
                    path,
                    &text,
                ));
            }
            return Ok(());
        }
        self.errors.extend(length_errors);
        let Value::Array(items) = whole else {
            return Ok(());
        };
        for (i, item) in items.iter_mut().enumerate() {
            let item_path = format!("{path}.{}.member", i + 1);
            if item.is_null() {
                let text =
                    message::violation(self.model, member, None, &item_path, &Constraint::NotNull);
                self.errors.push(text);
            } else {
                self.value(member, item, &item_path)?;
            }
        }
        Ok(())
    }

    /// `whole` is an object. Its entries are data: all of them stay.
    fn map(&mut self, shape: &Shape, whole: &mut Value, path: &str) -> Result<(), InputError> {
        let Some(entries) = whole.as_object() else {
            return Ok(());
        };
        let key_shape = self.shape(&shape.key);
        let value_shape = self.shape(&shape.value);
        let keys: Vec<Value> = entries.keys().map(|k| Value::String(k.clone())).collect();
        let bad_keys = match key_shape {
            Some(k) => aggregate(k, keys.iter())?,
            None => None,
        };
        let bad_values = match value_shape {
            Some(v) if v.kind.is_scalar() => aggregate(v, entries.values())?,
            _ => None,
        };
        if let Some(c) = length_violation(shape, entries.len()) {
            self.errors
                .push(message::violation(self.model, shape, Some(whole), path, &c));
        }
        for (label, failing) in [("Map keys", bad_keys), ("Map value", bad_values)] {
            if let Some(constraints) = failing {
                let text = format!("{label} must satisfy constraint: {constraints}");
                self.errors.push(message::violation(
                    self.model,
                    shape,
                    Some(whole),
                    path,
                    &text,
                ));
            }
        }
        if let Some(v) = value_shape.filter(|v| !v.kind.is_scalar()) {
            let Value::Object(entries) = whole else {
                return Ok(());
            };
            for (key, item) in entries.iter_mut() {
                let item_path = format!("{path}.{key}");
                if item.is_null() {
                    let text =
                        message::violation(self.model, v, None, &item_path, &Constraint::NotNull);
                    self.errors.push(text);
                } else {
                    self.value(v, item, &item_path)?;
                }
            }
        }
        Ok(())
    }
}

/// For a collection of simple values: type-checks every element, then returns the
/// bracketed list of the element shape's constraints if any element breaks one (a
/// null element adds `Member must not be null`).
fn aggregate<'v>(
    element: &Shape,
    items: impl Iterator<Item = &'v Value>,
) -> Result<Option<String>, InputError> {
    let mut broken = false;
    let mut null = false;
    for item in items {
        if item.is_null() {
            null = true;
        } else if !scalar_violations(element, item)?.is_empty() {
            broken = true;
        }
    }
    if !broken && !null {
        return Ok(None);
    }
    let mut constraints = message::declared(element);
    if null {
        constraints.push(Constraint::NotNull);
    }
    Ok(Some(message::bracketed(&constraints)))
}

fn length_violation(shape: &Shape, length: usize) -> Option<Constraint<'static>> {
    let length = i64::try_from(length).unwrap_or(i64::MAX);
    match (shape.min, shape.max) {
        (Some(min), _) if length < min => Some(Constraint::LengthMin(min)),
        (_, Some(max)) if length > max => Some(Constraint::LengthMax(max)),
        _ => None,
    }
}

/// Type-checks a non-null simple value (SerializationException on a wrong JSON type)
/// and returns the constraints it breaks, in AWS's order: length, pattern, enum.
fn scalar_violations<'s>(
    shape: &'s Shape,
    value: &Value,
) -> Result<Vec<Constraint<'s>>, InputError> {
    let mut out = Vec::new();
    match (shape.kind, value) {
        (Kind::String, Value::String(s)) => {
            // Length in Unicode scalar values (the Smithy definition of string length).
            out.extend(length_violation(shape, s.chars().count()));
            if let Some(p) = &shape.pattern {
                if p.regex.as_ref().is_some_and(|re| !re.is_match(s)) {
                    out.push(Constraint::Pattern(&p.source));
                }
            }
            if !shape.enum_values.is_empty() && !shape.enum_values.iter().any(|e| e == s) {
                out.push(Constraint::Enum(&shape.enum_values));
            }
        }
        (Kind::Blob, Value::String(s)) => {
            let decoded = decode_blob(s).map_err(InputError::Serialization)?;
            out.extend(length_violation(shape, decoded));
        }
        (Kind::Integer | Kind::Long, Value::Number(n)) if n.is_i64() || n.is_u64() => {
            let v = n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .unwrap_or(0);
            match (shape.min, shape.max) {
                (Some(min), _) if v < i128::from(min) => out.push(Constraint::ValueMin(min)),
                (_, Some(max)) if v > i128::from(max) => out.push(Constraint::ValueMax(max)),
                _ => {}
            }
        }
        (Kind::Decimal | Kind::Timestamp, Value::Number(_)) | (Kind::Boolean, Value::Bool(_)) => {}
        (Kind::Other, _) => {}
        (kind, other) => return Err(serialization(kind, other)),
    }
    Ok(out)
}

/// Decodes standard, padded base64 as AWS does and returns the byte length. The
/// messages never contain the value: it may be a sensitive blob such as Plaintext.
fn decode_blob(text: &str) -> Result<usize, String> {
    let chars = text.chars().count();
    if !chars.is_multiple_of(4) {
        return Err(format!(
            "Base64 encoded length is expected a multiple of 4 bytes but found: {chars}"
        ));
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
    {
        // Not verified against AWS; deliberately does not echo the character.
        return Err("Invalid Base64 character".to_owned());
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(|bytes| bytes.len())
        // Coral's text, including its spelling.
        .map_err(|_| "Invalid last non-pad Base64 character dectected".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_lower_the_first_letter_only() {
        assert_eq!(join("", "KeyId"), "keyId");
        assert_eq!(join("tags.1.member", "TagKey"), "tags.1.member.tagKey");
        assert_eq!(join("", "KMSKeyArn"), "kMSKeyArn");
    }

    #[test]
    fn blobs_decode_strictly() {
        assert_eq!(decode_blob(""), Ok(0));
        assert_eq!(decode_blob("aGk="), Ok(2));
        assert_eq!(
            decode_blob("aGk"),
            Err("Base64 encoded length is expected a multiple of 4 bytes but found: 3".to_owned())
        );
        assert_eq!(
            decode_blob("aG!="),
            Err("Invalid Base64 character".to_owned())
        );
        assert_eq!(
            decode_blob("aGl="),
            Err("Invalid last non-pad Base64 character dectected".to_owned())
        );
        assert_eq!(
            decode_blob("=+/="),
            Err("Invalid last non-pad Base64 character dectected".to_owned())
        );
    }
}
