//! Request shape validation from the AWS KMS model.
//!
//! Where this sits on the request path: HTTP -> **protocol: request shape validation
//! from the AWS model** -> authentication -> dispatch to the operation -> crypto and
//! storage. The server hands this crate the operation name (from `X-Amz-Target:
//! TrentService.<Operation>`) and the raw body; this crate answers with the parsed JSON
//! or with the exact error AWS KMS would give. The model is the contract: the botocore
//! `service-2.json` for KMS in `model/` is embedded at build time, and every operation,
//! member, type, `required` list, `min`/`max`, `pattern`, `enum` and `sensitive` flag
//! comes from it, so every operation gets AWS's input validation without hand-written
//! checks, and updating the model updates the validation.
//!
//! What is checked, in AWS's order:
//! 1. The body must be JSON (an empty body counts as `{}`) and its top level an object.
//!    Otherwise: SerializationException. AWS answers a body that is not JSON with
//!    `{"__type":"com.amazon.coral.service#SerializationException"}` and no message at
//!    all (recorded against DynamoDB, which runs on the same Coral framework as KMS;
//!    the dynalite test suite checks it byte for byte). Trent sends the same type with
//!    a message ([`NOT_JSON`]): clients read only the type, people read the message.
//! 2. Every value must have its shape's JSON type: structure = object, list = array,
//!    map = object, string = string, integer/long = integral number, boolean = boolean,
//!    blob = padded standard base64 string, timestamp = number (epoch seconds).
//!    Otherwise: SerializationException with Coral's wording, e.g. `STRING_VALUE cannot
//!    be converted to Integer`. JSON `null` counts as absent; unknown members are ignored.
//! 3. Constraints: `required`, `min`/`max` (string length, blob bytes, list items, map
//!    entries, integer value), `pattern` (whole value, Java regex semantics), `enum`.
//!    All violations are reported together as one ValidationException:
//!    `2 validation errors detected: Value 'x' at 'keyId' failed to satisfy
//!    constraint: ...; Value ...`. Values of `sensitive` shapes and of blobs are never
//!    printed.
//!
//! The body `validate_input` returns holds only the members of the operation's input
//! shape, at every depth: anything else a client sends (a member of another operation,
//! `keyId` for `KeyId`, an extra member inside `Constraints`) is dropped, so no later
//! step can read it. [`Request::parse`] then reads the body into the typed input of
//! its [`Operation`] (module [`input`], generated from the model by [`codegen`]).

#![forbid(unsafe_code)]

mod blob;
#[doc(hidden)]
pub mod codegen;
#[rustfmt::skip]
mod generated;
mod message;
mod shapes;
mod validate;

use serde::Deserialize;
use serde_json::Value;

use shapes::MODEL;

pub use blob::{Blob, SecretBlob, SecretString};
pub use generated::{input, Operation, Request};

/// Why a request body was rejected. Both answer HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The body is not JSON, its top level is not a JSON object, or a value has the
    /// wrong JSON type for its shape (string where integer, invalid base64, ...).
    /// AWS answers SerializationException (HTTP 400).
    #[error("SerializationException: {0}")]
    Serialization(String),
    /// Constraint violations: required member missing, length or range (min/max),
    /// pattern, enum. AWS answers ValidationException (HTTP 400).
    #[error("ValidationException: {0}")]
    Validation(String),
}

impl InputError {
    /// The AWS error code (`__type`): `SerializationException` or `ValidationException`.
    pub fn aws_error_code(&self) -> &'static str {
        match self {
            InputError::Serialization(_) => "SerializationException",
            InputError::Validation(_) => "ValidationException",
        }
    }

    /// The message AWS sends with the error (empty when AWS sends none).
    pub fn message(&self) -> &str {
        match self {
            InputError::Serialization(m) | InputError::Validation(m) => m,
        }
    }

    /// The HTTP status AWS answers with: always 400 for input errors.
    pub fn http_status(&self) -> u16 {
        400
    }
}

/// The names of all operations in the model, sorted.
pub fn operation_names() -> impl Iterator<Item = &'static str> {
    MODEL.operations.keys().map(String::as_str)
}

/// Whether the model has an operation of exactly this name (case-sensitive).
pub fn has_operation(name: &str) -> bool {
    MODEL.operations.contains_key(name)
}

/// Whether `name` is an error shape of the model (`"exception": true`), such as
/// `NotFoundException`.
pub fn is_exception(name: &str) -> bool {
    MODEL.shape(name).is_some_and(|s| s.exception)
}

/// Whether `value` is one of the values of the model's enum shape `shape`
/// (false for a shape that is not an enum, or not in the model). For
/// answers whose members are typed by an enum narrower than the value
/// Trent holds, e.g. the deprecated `CustomerMasterKeySpec`.
pub fn enum_has(shape: &str, value: &str) -> bool {
    MODEL
        .shape(shape)
        .is_some_and(|s| s.enum_values.iter().any(|v| v == value))
}

/// The member names of an operation's output shape, sorted; empty for an unknown
/// operation or one without output members.
pub fn output_member_names(operation: &str) -> Vec<&'static str> {
    let shape = MODEL
        .operations
        .get(operation)
        .and_then(|op| op.output.as_deref())
        .and_then(|name| MODEL.shape(name));
    shape
        .map(|s| s.members.iter().map(|m| m.name.as_str()).collect())
        .unwrap_or_default()
}

impl Request {
    /// Reads the typed input of `operation` from a body [`validate_input`] accepted.
    /// A body it accepted always reads; anything else is a SerializationException.
    pub fn parse(operation: Operation, input: Value) -> Result<Request, InputError> {
        Request::parse_ref(operation, &input)
    }
}

/// One operation's input, read from JSON (see [`Request::parse_ref`]).
fn read_input<'v, T: Deserialize<'v>>(
    operation: Operation,
    input: &'v Value,
) -> Result<T, InputError> {
    T::deserialize(input).map_err(|e| {
        InputError::Serialization(format!("Cannot read the {} request: {e}", operation.name()))
    })
}

/// The message for a body that is not a JSON object.
pub const NOT_JSON: &str = "The request body is not a valid JSON object.";

/// Parses body bytes (an empty body counts as `{}`) and validates them against the
/// operation's input shape. Returns the parsed JSON for the caller to deserialize
/// into typed structs ([`Request::parse`]). It holds only members of the input shape,
/// at every depth of structures (members of no shape are removed; map entries are data
/// and stay), and members that were JSON `null` are removed, so they read as absent.
///
/// An operation the model does not have is not this function's concern (the server
/// answers UnknownOperationException before calling it); for one, only step 1 (JSON
/// object) is checked.
pub fn validate_input(operation: &str, body: &[u8]) -> Result<Value, InputError> {
    let mut value = if body.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        // AWS sends no message at all for a body that is not JSON (see crate
        // docs); we say what is wrong, since clients read only the type.
        serde_json::from_slice(body).map_err(|_| InputError::Serialization(NOT_JSON.to_owned()))?
    };
    match &value {
        Value::Object(_) => {}
        // Coral treats an array where a structure belongs like any other misplaced list.
        Value::Array(_) => {
            return Err(InputError::Serialization(message::wrong_type(
                shapes::Kind::Structure,
                &value,
            )))
        }
        // A scalar or null body is answered like a body that is not JSON.
        _ => return Err(InputError::Serialization(NOT_JSON.to_owned())),
    }
    match MODEL.input_of(operation) {
        // Also removes foreign and null members (no null survives validation elsewhere).
        Some(input) => validate::check_input(&MODEL, input, &mut value)?,
        None => drop_null_members(&mut value),
    }
    Ok(value)
}

/// Removes object members whose value is `null`, at every depth.
fn drop_null_members(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_null_members);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_members),
        _ => {}
    }
}
