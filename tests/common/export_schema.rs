//! Validation of exports against `docs/export.schema.json`.
//!
//! No JSON Schema crate is among the project's dependencies, so this is a small validator
//! of the JSON Schema 2020-12 keywords the schema uses (`type`, `const`, `enum`,
//! `properties`, `required`, `additionalProperties: false`, `items`, `anyOf`, `$ref` to
//! `#/$defs/...`, `minLength`, `maxLength`, `minimum`, and the `date-time` and `date`
//! formats), with the standard's semantics (a keyword applies only to instances of its
//! type). A keyword it does not know in the schema is an error, so the schema cannot use
//! one that would silently go unchecked.

use aparking_core::Store;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// Annotation keywords: they describe, they do not constrain.
const ANNOTATIONS: [&str; 4] = ["$schema", "$id", "title", "description"];

/// The schema in docs/, parsed once.
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/export.schema.json");
        let text = std::fs::read_to_string(path).expect("docs/export.schema.json");
        serde_json::from_str(&text).expect("docs/export.schema.json is JSON")
    })
}

/// The violations of `instance` against `schema` (rooted at `root` for `$ref`), one line
/// each with the JSON pointer of the value; empty when it is valid.
pub fn violations(root: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(root, schema, instance, "", &mut out);
    out
}

/// `store.export_user_data()`, parsed and checked against the schema; panics with every
/// violation.
pub fn validated_export(store: &Store) -> Value {
    let json: Value = serde_json::from_str(&store.export_user_data().unwrap()).unwrap();
    assert_valid(&json);
    json
}

/// Panics unless `export` is valid against docs/export.schema.json.
pub fn assert_valid(export: &Value) {
    let errors = violations(schema(), schema(), export);
    assert!(
        errors.is_empty(),
        "the export does not match docs/export.schema.json:\n{}",
        errors.join("\n")
    );
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(v: &Value, name: &str) -> bool {
    let actual = type_name(v);
    actual == name || (name == "number" && actual == "integer")
}

fn resolve<'a>(root: &'a Value, reference: &str) -> &'a Value {
    let name = reference
        .strip_prefix("#/$defs/")
        .unwrap_or_else(|| panic!("only #/$defs/ references are supported: {reference}"));
    root["$defs"]
        .get(name)
        .unwrap_or_else(|| panic!("no definition {reference}"))
}

fn check(root: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    let schema: &Map<String, Value> = schema
        .as_object()
        .unwrap_or_else(|| panic!("a schema is an object (at {at:?})"));
    let mut fail =
        |what: String| out.push(format!("{}: {what}", if at.is_empty() { "/" } else { at }));
    let mut nested = Vec::new();
    for (keyword, value) in schema {
        match keyword.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "$defs" => {}
            "$ref" => nested.extend(violations_at(
                root,
                resolve(root, value.as_str().unwrap()),
                v,
                at,
            )),
            "type" => {
                let names: Vec<&str> = match value {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().map(|t| t.as_str().unwrap()).collect(),
                    _ => panic!("type must be a string or an array"),
                };
                if !names.iter().any(|n| has_type(v, n)) {
                    fail(format!(
                        "is {}, expected {}",
                        type_name(v),
                        names.join(" or ")
                    ));
                }
            }
            "const" => {
                if v != value {
                    fail(format!("is {v}, expected {value}"));
                }
            }
            "enum" => {
                if !value.as_array().unwrap().contains(v) {
                    fail(format!("{v} is not one of {value}"));
                }
            }
            "anyOf" => {
                let branches = value.as_array().unwrap();
                if !branches
                    .iter()
                    .any(|b| violations_at(root, b, v, at).is_empty())
                {
                    fail(format!(
                        "matches none of the {} alternatives",
                        branches.len()
                    ));
                }
            }
            "required" => {
                if let Value::Object(o) = v {
                    for name in value.as_array().unwrap() {
                        let name = name.as_str().unwrap();
                        if !o.contains_key(name) {
                            fail(format!("lacks the required field {name:?}"));
                        }
                    }
                }
            }
            "properties" => {
                if let Value::Object(o) = v {
                    for (name, sub) in value.as_object().unwrap() {
                        if let Some(field) = o.get(name) {
                            nested.extend(violations_at(root, sub, field, &format!("{at}/{name}")));
                        }
                    }
                }
            }
            "additionalProperties" => {
                assert_eq!(
                    value,
                    &Value::Bool(false),
                    "only additionalProperties: false"
                );
                if let Value::Object(o) = v {
                    let declared = schema.get("properties").and_then(Value::as_object);
                    for name in o.keys() {
                        if !declared.is_some_and(|d| d.contains_key(name)) {
                            fail(format!("has the undeclared field {name:?}"));
                        }
                    }
                }
            }
            "items" => {
                if let Value::Array(items) = v {
                    for (i, item) in items.iter().enumerate() {
                        nested.extend(violations_at(root, value, item, &format!("{at}/{i}")));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let Value::String(s) = v {
                    let len = s.chars().count() as u64;
                    let limit = value.as_u64().unwrap();
                    let ok = if keyword == "minLength" {
                        len >= limit
                    } else {
                        len <= limit
                    };
                    if !ok {
                        fail(format!("has {len} characters, {keyword} {limit}"));
                    }
                }
            }
            "minimum" => {
                if let Value::Number(n) = v {
                    if n.as_f64().unwrap() < value.as_f64().unwrap() {
                        fail(format!("{n} is below the minimum {value}"));
                    }
                }
            }
            "format" => {
                if let Value::String(s) = v {
                    let format = value.as_str().unwrap();
                    let ok = match format {
                        "date-time" => time::OffsetDateTime::parse(
                            s,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .is_ok(),
                        "date" => time::Date::parse(
                            s,
                            time::macros::format_description!("[year]-[month]-[day]"),
                        )
                        .is_ok(),
                        other => panic!("format {other:?} is not supported"),
                    };
                    if !ok {
                        fail(format!("{s:?} is not a {format}"));
                    }
                }
            }
            other => panic!("the validator does not know the keyword {other:?} (at {at:?})"),
        }
    }
    out.extend(nested);
}

fn violations_at(root: &Value, schema: &Value, v: &Value, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    check(root, schema, v, at, &mut out);
    out
}
