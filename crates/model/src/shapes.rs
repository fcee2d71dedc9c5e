//! The embedded AWS KMS model (botocore `service-2.json`), parsed once into typed shapes.
//!
//! Only what request validation needs is kept: each shape's type, its constraints
//! (`min`, `max`, `pattern`, `enum`, `required`), whether it is `sensitive`, and how
//! shapes refer to each other. Member lists are sorted by name so that the order of
//! several validation errors does not depend on serde_json's map features.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

const MODEL_JSON: &str = include_str!("../../../model/service-2.json");

/// The model, parsed on first use.
pub(crate) static MODEL: LazyLock<Model> = LazyLock::new(|| {
    // The file is compiled into the binary and the crate's tests parse it, so a
    // failure here is a build defect that no request can trigger or recover from.
    let raw: Value =
        serde_json::from_str(MODEL_JSON).expect("embedded model/service-2.json is valid JSON");
    Model::from_json(&raw)
});

/// The JSON type a shape takes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Structure,
    List,
    Map,
    String,
    Integer,
    Long,
    /// `float` and `double`.
    Decimal,
    Boolean,
    Blob,
    Timestamp,
    /// A type this crate does not know; any JSON value is accepted.
    Other,
}

impl Kind {
    fn parse(name: &str) -> Kind {
        match name {
            "structure" => Kind::Structure,
            "list" => Kind::List,
            "map" => Kind::Map,
            "string" => Kind::String,
            "integer" => Kind::Integer,
            "long" => Kind::Long,
            "float" | "double" => Kind::Decimal,
            "boolean" => Kind::Boolean,
            "blob" => Kind::Blob,
            "timestamp" => Kind::Timestamp,
            _ => Kind::Other,
        }
    }

    /// Simple values: AWS reports a list or map of these as one aggregated error.
    pub(crate) fn is_scalar(self) -> bool {
        !matches!(self, Kind::Structure | Kind::List | Kind::Map)
    }
}

/// A `pattern` constraint: the text AWS prints and the compiled full-match regex.
pub(crate) struct Pattern {
    pub source: String,
    /// `None` only if the pattern failed to compile (see [`Model::pattern_errors`]).
    pub regex: Option<Regex>,
}

pub(crate) struct Member {
    pub name: String,
    pub shape: String,
}

pub(crate) struct Shape {
    pub kind: Kind,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub pattern: Option<Pattern>,
    pub enum_values: Vec<String>,
    pub sensitive: bool,
    pub exception: bool,
    /// Structure members, sorted by name.
    pub members: Vec<Member>,
    pub required: Vec<String>,
    /// List member shape.
    pub member: Option<String>,
    /// Map key and value shapes.
    pub key: Option<String>,
    pub value: Option<String>,
}

impl Shape {
    /// Whether a structure has a member of exactly this name (case-sensitive).
    pub(crate) fn has_member(&self, name: &str) -> bool {
        self.members
            .binary_search_by(|m| m.name.as_str().cmp(name))
            .is_ok()
    }
}

pub(crate) struct Operation {
    pub input: Option<String>,
    pub output: Option<String>,
}

pub(crate) struct Model {
    pub operations: BTreeMap<String, Operation>,
    /// foldhash: every request looks up each shape it walks.
    pub shapes: HashMap<String, Shape, foldhash::fast::RandomState>,
    /// One line per `pattern` that did not compile; empty for a good model (the
    /// tests assert it is).
    #[cfg_attr(not(test), allow(dead_code))]
    pub pattern_errors: Vec<String>,
}

impl Model {
    pub(crate) fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }

    /// The input shape of an operation, if the operation exists and has one.
    pub(crate) fn input_of(&self, operation: &str) -> Option<&Shape> {
        let op = self.operations.get(operation)?;
        self.shape(op.input.as_deref()?)
    }

    fn from_json(raw: &Value) -> Model {
        let mut pattern_errors = Vec::new();
        let mut shapes = HashMap::default();
        if let Some(all) = raw.get("shapes").and_then(Value::as_object) {
            for (name, def) in all {
                shapes.insert(name.clone(), parse_shape(name, def, &mut pattern_errors));
            }
        }
        let mut operations = BTreeMap::new();
        if let Some(all) = raw.get("operations").and_then(Value::as_object) {
            for (name, def) in all {
                let shape_ref = |key: &str| {
                    def.get(key)
                        .and_then(|v| v.get("shape"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                operations.insert(
                    name.clone(),
                    Operation {
                        input: shape_ref("input"),
                        output: shape_ref("output"),
                    },
                );
            }
        }
        Model {
            operations,
            shapes,
            pattern_errors,
        }
    }
}

fn parse_shape(name: &str, def: &Value, pattern_errors: &mut Vec<String>) -> Shape {
    let text = |key: &str| def.get(key).and_then(Value::as_str);
    let target = |key: &str| {
        def.get(key)
            .and_then(|v| v.get("shape"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let strings = |key: &str| -> Vec<String> {
        def.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut members: Vec<Member> = def
        .get("members")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(member, spec)| {
                    let shape = spec.get("shape")?.as_str()?.to_owned();
                    Some(Member {
                        name: member.clone(),
                        shape,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    members.sort_by(|a, b| a.name.cmp(&b.name));
    let pattern = text("pattern").map(|source| {
        let regex = match compile_pattern(source) {
            Ok(re) => Some(re),
            Err(e) => {
                pattern_errors.push(format!("{name}: {source}: {e}"));
                None
            }
        };
        Pattern {
            source: source.to_owned(),
            regex,
        }
    });
    Shape {
        kind: Kind::parse(text("type").unwrap_or("")),
        min: def.get("min").and_then(Value::as_i64),
        max: def.get("max").and_then(Value::as_i64),
        pattern,
        enum_values: strings("enum"),
        sensitive: def
            .get("sensitive")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        exception: def
            .get("exception")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        members,
        required: strings("required"),
        member: target("member"),
        key: target("key"),
        value: target("value"),
    }
}

/// Compiles a model pattern (Java regex syntax) for a full match, as Java's
/// `Matcher.matches()` does.
pub(crate) fn compile_pattern(java: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{})$", java_to_rust(java)))
}

/// Java's `\w`, `\d` and `\s` are ASCII-only by default; the `regex` crate's are
/// Unicode-aware. Rewrite them as the equivalent ASCII classes. Everything else in
/// the KMS patterns (`\uXXXX`, classes, anchors, escaped punctuation) means the same
/// in both dialects.
fn java_to_rust(java: &str) -> String {
    let mut out = String::with_capacity(java.len() + 16);
    let mut in_class = false;
    let mut chars = java.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let ascii = match next.to_ascii_lowercase() {
                    'w' => Some("word"),
                    'd' => Some("digit"),
                    's' => Some("space"),
                    _ => None,
                };
                match (ascii, next.is_ascii_uppercase(), in_class) {
                    (Some(class), false, true) => out.push_str(&format!("[:{class}:]")),
                    (Some(class), true, true) => out.push_str(&format!("[:^{class}:]")),
                    (Some(class), false, false) => out.push_str(&format!("[[:{class}:]]")),
                    (Some(class), true, false) => out.push_str(&format!("[^[:{class}:]]")),
                    (None, _, _) => {
                        out.push('\\');
                        out.push(next);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_loads_with_operations_and_shapes() {
        assert!(MODEL.operations.len() >= 50, "{}", MODEL.operations.len());
        assert!(MODEL.shapes.len() >= 200, "{}", MODEL.shapes.len());
    }

    #[test]
    fn every_pattern_in_the_model_compiles() {
        let count = MODEL
            .shapes
            .values()
            .filter(|s| s.pattern.is_some())
            .count();
        assert!(
            count >= 10,
            "expected the model's patterns to be loaded, found {count}"
        );
        assert!(
            MODEL.pattern_errors.is_empty(),
            "{:#?}",
            MODEL.pattern_errors
        );
        for shape in MODEL.shapes.values() {
            if let Some(p) = &shape.pattern {
                assert!(p.regex.is_some(), "{}", p.source);
            }
        }
    }

    #[test]
    fn every_operation_input_shape_resolves_transitively() {
        for (name, op) in &MODEL.operations {
            let input = op
                .input
                .as_deref()
                .unwrap_or_else(|| panic!("{name} has no input"));
            let mut stack = vec![input.to_owned()];
            let mut seen = std::collections::HashSet::new();
            while let Some(shape_name) = stack.pop() {
                if !seen.insert(shape_name.clone()) {
                    continue;
                }
                let shape = MODEL
                    .shape(&shape_name)
                    .unwrap_or_else(|| panic!("{name}: shape {shape_name} is missing"));
                assert_ne!(
                    shape.kind,
                    Kind::Other,
                    "{name}: {shape_name} has an unknown type"
                );
                for req in &shape.required {
                    assert!(
                        shape.members.iter().any(|m| &m.name == req),
                        "{shape_name}: required {req} is not a member"
                    );
                }
                stack.extend(shape.members.iter().map(|m| m.shape.clone()));
                stack.extend(
                    shape
                        .member
                        .iter()
                        .chain(&shape.key)
                        .chain(&shape.value)
                        .cloned(),
                );
            }
        }
    }

    #[test]
    fn patterns_match_whole_values_only() {
        let alias = compile_pattern("^[a-zA-Z0-9:/_-]+$").unwrap();
        assert!(alias.is_match("alias/my-key_1"));
        assert!(!alias.is_match("alias/my key"));
        let unanchored = compile_pattern("[0-9]{12}").unwrap();
        assert!(unanchored.is_match("123456789012"));
        assert!(!unanchored.is_match("x123456789012"));
        let escapes = compile_pattern("[\\u0020-\\u00FF]*").unwrap();
        assert!(escapes.is_match("abc ÿ"));
        assert!(!escapes.is_match("snow\u{2603}"));
        // Java reads the '-' after a range as a literal, so must we (XksKeyIdType).
        let xks = compile_pattern("^[a-zA-Z0-9-_.]+$").unwrap();
        assert!(xks.is_match("key-1_a.b"));
        assert!(!xks.is_match("key/1"));
    }

    #[test]
    fn java_shorthand_classes_are_ascii_only() {
        let word = compile_pattern("[\\w]+").unwrap();
        assert!(word.is_match("Policy_1"));
        assert!(!word.is_match("caf\u{e9}"), "Java's \\w does not match é");
        let principal = compile_pattern("^[\\w+=,.@:/-]+$").unwrap();
        assert!(principal.is_match("arn:aws:iam::111122223333:role/x+y=z,a.b@c-d"));
        let digits = compile_pattern("\\d+").unwrap();
        assert!(
            !digits.is_match("\u{0663}"),
            "Java's \\d does not match Arabic-Indic digits"
        );
        assert_eq!(
            java_to_rust("\\s\\S[\\W]"),
            "[[:space:]][^[:space:]][[:^word:]]"
        );
    }
}
