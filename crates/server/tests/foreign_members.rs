//! The property behind the review's first class of bypasses: a member
//! outside an operation's input shape changes nothing. For every operation
//! of the model, with AWS's own example requests (model/examples-1.json)
//! and one request for each operation that has none, adding any member of
//! any other operation's input shape, or a case variant of one of its own
//! members, leaves the parsed request, the condition facts of every side,
//! the grant constraint context, the grant tokens, the key member and the
//! audit event's `requestParameters` exactly as they were.

use serde_json::{json, Map, Value};
use trent::authz::supplied::{self, Side};
use trent::policy::Facts;
use trent_model::{Operation, Request};

const MODEL: &str = include_str!("../../../model/service-2.json");
const EXAMPLES: &str = include_str!("../../../model/examples-1.json");

/// Requests for the operations AWS's examples leave out.
fn own_examples(op: &str) -> Vec<Value> {
    let key = "1234abcd-12ab-34cd-56ef-1234567890ab";
    match op {
        "Decapsulate" => vec![json!({"KeyId": key, "SharedSecretCiphertextBlob": "aGk=", "EncapsulationAlgorithm": "ML_KEM", "GrantTokens": ["t"]})],
        "Encapsulate" => vec![json!({"KeyId": "alias/kem", "EncapsulationAlgorithm": "ML_KEM"})],
        "DeriveSharedSecret" => vec![json!({"KeyId": "alias/ecdh", "KeyAgreementAlgorithm": "ECDH", "PublicKey": "aGk="})],
        "GetKeyLastUsage" | "RotateKeyOnDemand" => vec![json!({"KeyId": key})],
        "ListKeyRotations" => vec![json!({"KeyId": key, "Limit": 10})],
        "UpdatePrimaryRegion" => vec![json!({"KeyId": key, "PrimaryRegion": "us-west-2"})],
        // AWS's example has a placeholder certificate, which is not base64.
        "CreateCustomKeyStore" => vec![json!({
            "CustomKeyStoreName": "ExampleKeyStore",
            "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
            "XksProxyUriEndpoint": "https://myproxy.xks.example.com",
            "XksProxyUriPath": "/kms/xks/v1",
            "XksProxyConnectivity": "PUBLIC_ENDPOINT",
            "XksProxyAuthenticationCredential": {"AccessKeyId": "ABCDE22345672EXAMPLE", "RawSecretAccessKey": "DXjSUawnel2fr6SKC7G25CNxTyWKE5PF9XX6H/u9pSo="}
        })],
        _ => vec![],
    }
}

/// Requests that exercise the members authorization reads, beyond AWS's examples.
fn attack_bases(op: &str) -> Vec<Value> {
    match op {
        "Decrypt" => vec![json!({"CiphertextBlob": "aGk=", "KeyId": "alias/app", "EncryptionContext": {"tenant": "b"}, "GrantTokens": ["t"]})],
        "ReEncrypt" => vec![json!({"CiphertextBlob": "aGk=", "SourceKeyId": "alias/s", "SourceEncryptionContext": {"side": "s"}, "DestinationKeyId": "alias/d", "DestinationEncryptionContext": {"side": "d"}})],
        "CreateGrant" => vec![json!({"KeyId": "k", "GranteePrincipal": "arn:aws:iam::111122223333:user/a", "Operations": ["Decrypt"], "Constraints": {"EncryptionContextEquals": {"tenant": "a"}}})],
        _ => vec![],
    }
}

struct Shapes(Value);

impl Shapes {
    fn shape(&self, name: &str) -> &Value {
        &self.0["shapes"][name]
    }

    fn input(&self, op: &str) -> &Value {
        self.shape(self.0["operations"][op]["input"]["shape"].as_str().unwrap())
    }

    /// AWS's example input (none: `{}`) with its placeholder blobs
    /// (`<binary data>`, plain text) replaced by base64.
    fn fix_blobs(&self, op: &str, input: &Value) -> Value {
        let mut body = input.as_object().cloned().unwrap_or_default();
        for (member, v) in self.input(op)["members"].as_object().unwrap() {
            let is_blob = self.shape(v["shape"].as_str().unwrap())["type"] == "blob";
            let valid = body.get(member).and_then(Value::as_str).is_some_and(|b| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b).is_ok());
            if is_blob && body.contains_key(member) && !valid {
                body.insert(member.clone(), json!("aGk="));
            }
        }
        Value::Object(body)
    }

    /// A value of shape `name`, of the kind authorization would read.
    fn value(&self, name: &str, depth: usize) -> Value {
        let s = self.shape(name);
        match s["type"].as_str().unwrap() {
            "structure" if depth < 3 => Value::Object(s["members"].as_object().unwrap().iter().map(|(m, v)| (m.clone(), self.value(v["shape"].as_str().unwrap(), depth + 1))).collect()),
            "structure" => json!({}),
            "list" => json!([self.value(s["member"]["shape"].as_str().unwrap(), depth + 1)]),
            "map" => json!({"tenant": "a", "Tenant": "evil"}),
            "string" => match s["enum"].as_array() {
                Some(values) => values[0].clone(),
                None => json!("alias/evil"),
            },
            "integer" | "long" => json!(7),
            "boolean" => json!(true),
            "blob" => json!("aGk="),
            "timestamp" => json!(1_700_000_000),
            other => panic!("shape type {other}"),
        }
    }
}

fn facts(request: &Request, side: Side) -> Vec<(String, Vec<String>)> {
    let mut f = Facts::default();
    supplied::add_facts(request, side, &mut f);
    let mut out: Vec<_> = f.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.push(("(ambiguous)".into(), vec![f.has_ambiguous().to_string()]));
    out
}

/// Everything authorization and the audit log read from a request.
fn seen(op: Operation, body: &Value) -> Option<(Value, String)> {
    let value = trent_model::validate_input(op.name(), body.to_string().as_bytes()).ok()?;
    let request = Request::parse(op, value.clone()).expect("a valid request parses");
    let mut seen = String::new();
    for side in [Side::Key, Side::Source, Side::Destination] {
        seen += &format!("{side:?}: {:?} grant context {:?}\n", facts(&request, side), supplied::grant_context(&request, side));
    }
    seen += &format!("tokens {:?} key {:?}\n", supplied::grant_tokens(&request), supplied::key_member(&request));
    seen += &format!("audit {}\n", trent::audit::params::request(&value));
    Some((value, seen))
}

fn case_variants(member: &str) -> Vec<String> {
    let mut lower_first = member.to_owned();
    lower_first[..1].make_ascii_lowercase();
    let mut out = vec![lower_first, member.to_lowercase(), member.to_uppercase(), format!("{member} "), format!("{member}\u{200b}")];
    out.retain(|v| v != member);
    out.dedup();
    out
}

#[test]
fn members_outside_the_input_shape_change_nothing() {
    let model = Shapes(serde_json::from_str(MODEL).unwrap());
    let examples: Value = serde_json::from_str(EXAMPLES).unwrap();
    let ops: Vec<Operation> = Operation::ALL.to_vec();
    // Every member of every input shape, with its shape.
    let mut all_members: Vec<(String, String)> = Vec::new();
    for op in &ops {
        for (m, v) in model.input(op.name())["members"].as_object().unwrap() {
            all_members.push((m.clone(), v["shape"].as_str().unwrap().to_owned()));
        }
    }
    all_members.sort();
    all_members.dedup();
    let mut checked = 0;
    let mut without_example = Vec::new();
    for op in ops {
        let own = model.input(op.name())["members"].as_object().unwrap().clone();
        let mut bases: Vec<Value> = examples["examples"][op.name()].as_array().map(|list| list.iter().map(|e| model.fix_blobs(op.name(), &e["input"])).collect()).unwrap_or_default();
        bases.extend(own_examples(op.name()));
        bases.extend(attack_bases(op.name()));
        let mut any_valid = false;
        for base in bases {
            let Some((_, before)) = seen(op, &base) else { continue };
            any_valid = true;
            let mut extras: Vec<(String, Value)> = all_members.iter().filter(|(m, _)| !own.contains_key(m)).map(|(m, shape)| (m.clone(), model.value(shape, 0))).collect();
            for (m, v) in &own {
                for variant in case_variants(m) {
                    extras.push((variant, model.value(v["shape"].as_str().unwrap(), 0)));
                }
            }
            for (name, value) in &extras {
                let mut body: Map<String, Value> = base.as_object().unwrap().clone();
                body.insert(name.clone(), value.clone());
                let (_, after) = seen(op, &Value::Object(body)).unwrap_or_else(|| panic!("{}: adding {name} made a valid request invalid", op.name()));
                assert_eq!(before, after, "{}: adding the foreign member {name} changed what authorization or the audit log sees", op.name());
                checked += 1;
            }
            // All of them at once.
            let mut body: Map<String, Value> = base.as_object().unwrap().clone();
            body.extend(extras.iter().cloned());
            assert_eq!(Some(before), seen(op, &Value::Object(body)).map(|(_, s)| s), "{}: all foreign members at once", op.name());
        }
        if !any_valid {
            without_example.push(op.name());
        }
    }
    assert!(without_example.is_empty(), "operations without a valid example request: {without_example:?}");
    assert!(checked > 5_000, "only {checked} cases");
}

/// Members nested in a structure of the shape are dropped too: a foreign
/// `EncryptionContext` inside CreateGrant's `Constraints` is no constraint.
#[test]
fn nested_foreign_members_change_nothing() {
    let op = Operation::CreateGrant;
    let base = json!({"KeyId": "k", "GranteePrincipal": "arn:aws:iam::111122223333:user/a", "Operations": ["Decrypt"], "Constraints": {"EncryptionContextSubset": {"tenant": "a"}}});
    let (_, before) = seen(op, &base).unwrap();
    let mut nested = base.clone();
    nested["Constraints"]["EncryptionContext"] = json!({"tenant": "b"});
    nested["Constraints"]["encryptionContextEquals"] = json!({"tenant": "b"});
    assert_eq!(before, seen(op, &nested).unwrap().1);
    let op = Operation::TagResource;
    let base = json!({"KeyId": "k", "Tags": [{"TagKey": "team", "TagValue": "red"}]});
    let (_, before) = seen(op, &base).unwrap();
    let nested = json!({"KeyId": "k", "Tags": [{"TagKey": "team", "TagValue": "red", "tagKey": "admin", "Extra": "x"}]});
    assert_eq!(before, seen(op, &nested).unwrap().1);
}

/// The other direction: what authorization reads, it reads from every
/// operation that has the member (`supplied.rs` has `_` arms for grant
/// tokens, the grant context and the key member, so a new operation's
/// member could be missed without this).
#[test]
fn every_operation_supplies_the_members_it_has() {
    let model = Shapes(serde_json::from_str(MODEL).unwrap());
    let examples: Value = serde_json::from_str(EXAMPLES).unwrap();
    let context_ops = ["Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"];
    for op in Operation::ALL {
        let own = model.input(op.name())["members"].as_object().unwrap().clone();
        let mut bases: Vec<Value> = examples["examples"][op.name()].as_array().map(|list| list.iter().map(|e| model.fix_blobs(op.name(), &e["input"])).collect()).unwrap_or_default();
        bases.extend(own_examples(op.name()));
        for mut base in bases {
            let body = base.as_object_mut().unwrap();
            if own.contains_key("GrantTokens") {
                body.insert("GrantTokens".into(), json!(["token-1"]));
            }
            if own.contains_key("EncryptionContext") {
                body.insert("EncryptionContext".into(), json!({"tenant": "a"}));
            }
            let Ok(value) = trent_model::validate_input(op.name(), base.to_string().as_bytes()) else { continue };
            let request = Request::parse(op, value).unwrap();
            if own.contains_key("GrantTokens") {
                assert_eq!(supplied::grant_tokens(&request), ["token-1".to_owned()], "{}: grant tokens", op.name());
            }
            if context_ops.contains(&op.name()) {
                assert_eq!(supplied::grant_context(&request, Side::Key).get("tenant").map(String::as_str), Some("a"), "{}: grant context", op.name());
            }
            if matches!(trent::dispatch::table::describe(op).resource, trent::dispatch::table::Resource::Key { .. }) {
                assert_eq!(supplied::key_member(&request), base["KeyId"].as_str(), "{}: key member", op.name());
            }
        }
    }
}
