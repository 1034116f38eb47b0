//! A record's fields by wire name: the one shape in which the records, the outbox, the
//! mirror, the merge and the push and pull carry a record's values. JSON is only the form
//! they take on the wire and inside sealed rows (`to_json`, `from_json`).

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A record's fields: wire name → value (`None` = null or cleared).
pub(crate) type FieldMap = BTreeMap<String, Option<String>>;

/// The field map of `(name, value)` pairs.
pub(crate) fn fields<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<String>)>) -> FieldMap {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
}

/// The field `name`; absent and null are both `None`.
pub(crate) fn field(fields: &FieldMap, name: &str) -> Option<String> {
    fields.get(name).cloned().flatten()
}

/// The fields of `after` whose value differs from `before` (all of them when `before` is
/// `None`; a field `before` lacks counts as changed).
pub(crate) fn changed(before: Option<&FieldMap>, after: &FieldMap) -> FieldMap {
    after
        .iter()
        .filter(|(name, value)| before.map_or(true, |b| b.get(*name) != Some(*value)))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// The fields as a JSON object (null for `None`).
pub(crate) fn to_json(fields: &FieldMap) -> Map<String, Value> {
    fields
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
        .collect()
}

/// A field's value from JSON: `Some(None)` for null, `Some(Some(s))` for a string, `None`
/// for any other value.
pub(crate) fn from_json_value(value: &Value) -> Option<Option<String>> {
    match value {
        Value::Null => Some(None),
        Value::String(s) => Some(Some(s.clone())),
        _ => None,
    }
}

/// The fields of a JSON object whose values are strings or nulls; `None` if any is not.
pub(crate) fn from_json(object: &Map<String, Value>) -> Option<FieldMap> {
    object
        .iter()
        .map(|(k, v)| Some((k.clone(), from_json_value(v)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_changed_fields_are_kept() {
        let before = fields([
            ("plate", Some("123ABC02".into())),
            ("nickname", Some("a".into())),
            ("make", None),
        ]);
        let after = fields([
            ("plate", Some("123ABC02".into())),
            ("nickname", None),
            ("make", Some("Kia".into())),
        ]);
        let diff = changed(Some(&before), &after);
        assert_eq!(
            Value::Object(to_json(&diff)),
            json!({"nickname": null, "make": "Kia"})
        );
        assert_eq!(changed(None, &after).len(), 3);
        assert!(changed(Some(&after), &after).is_empty());
        let fewer = fields([("plate", Some("123ABC02".into()))]);
        assert_eq!(changed(Some(&fewer), &after).len(), 2);
    }

    #[test]
    fn json_round_trips_strings_and_nulls_and_refuses_other_values() {
        let f = fields([("make", Some("Kia".into())), ("model", None)]);
        let object = to_json(&f);
        assert_eq!(
            Value::Object(object.clone()),
            json!({"make": "Kia", "model": null})
        );
        assert_eq!(from_json(&object), Some(f));
        for bad in [
            json!({"make": 1}),
            json!({"make": ["Kia"]}),
            json!({"make": {}}),
        ] {
            assert_eq!(from_json(bad.as_object().unwrap()), None, "{bad}");
        }
        assert_eq!(field(&from_json(&object).unwrap(), "model"), None);
        assert_eq!(
            field(&from_json(&object).unwrap(), "make").as_deref(),
            Some("Kia")
        );
    }
}
