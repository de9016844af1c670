//! Generated wire types against the documented payloads.
//!
//! A provider's `tests/wire.rs` reads the `examples` of each schema file with
//! [`examples`], so the schemas and the tests cannot disagree, snapshots
//! what [`round_trip`] returns, and snapshots the errors [`rejects`] returns
//! for undocumented request values.
//!
//! ```
//! use imagegen_test_support::wire::{examples, rejects, round_trip};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Task {
//!     id: String,
//!     #[serde(skip_serializing_if = "Option::is_none")]
//!     urls: Option<Vec<String>>,
//! }
//!
//! let schema = r#"{"examples": [{"id": "t1"}, {"id": "t2", "urls": null}]}"#;
//! let snaps: Vec<_> = examples(schema).iter().map(round_trip::<Task>).collect();
//! assert_eq!(snaps[1]["dropped"], serde_json::json!({"/urls": null}));
//! assert!(rejects::<Task>(serde_json::json!({"id": "t", "seed": 1})).contains("seed"));
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// The `examples` of a schema file's text.
pub fn examples(schema: &str) -> Vec<Value> {
    let schema: Value = serde_json::from_str(schema).expect("schema is JSON");
    schema["examples"]
        .as_array()
        .expect("schema has `examples`")
        .clone()
}

/// Deserializes `example` into `T`, serializes it back, checks that the
/// result parses to the same value and only drops what the types are allowed
/// to drop (nulls of optional fields, unknown fields), and returns
/// `{"reserialized": ..., "dropped": {path: value}}` for a snapshot.
pub fn round_trip<T>(example: &Value) -> Value
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let typed: T = serde_json::from_value(example.clone())
        .unwrap_or_else(|e| panic!("example does not deserialize: {e}\n{example:#}"));
    let back = serde_json::to_value(&typed).expect("serializes");
    let again: T = serde_json::from_value(back.clone()).expect("re-serialized JSON deserializes");
    assert_eq!(again, typed, "round trip changed the value");
    let mut dropped = Map::new();
    compare(example, &back, "", &mut dropped);
    json!({ "reserialized": back, "dropped": dropped })
}

/// Asserts `back` is `original` minus some object members (recorded in
/// `dropped` by path), numbers compared by value (`10` == `10.0`).
fn compare(original: &Value, back: &Value, path: &str, dropped: &mut Map<String, Value>) {
    match (original, back) {
        (Value::Object(o), Value::Object(b)) => {
            for key in b.keys() {
                assert!(
                    o.contains_key(key),
                    "{path}/{key} appeared in the round trip"
                );
            }
            for (key, value) in o {
                let sub = format!("{path}/{key}");
                match b.get(key) {
                    Some(bv) => compare(value, bv, &sub, dropped),
                    None => {
                        dropped.insert(sub, value.clone());
                    }
                }
            }
        }
        (Value::Array(o), Value::Array(b)) => {
            assert_eq!(o.len(), b.len(), "{path}: array length changed");
            for (i, (ov, bv)) in o.iter().zip(b).enumerate() {
                compare(ov, bv, &format!("{path}/{i}"), dropped);
            }
        }
        (Value::Number(o), Value::Number(b)) => {
            assert_eq!(o.as_f64(), b.as_f64(), "{path}: number changed");
        }
        (o, b) => assert_eq!(o, b, "{path} changed"),
    }
}

/// The name of the member [`with_unknown_fields`] adds.
pub const UNKNOWN_FIELD: &str = "x_undocumented_field";

/// `value` with a member no schema documents ([`UNKNOWN_FIELD`], itself an
/// object holding an array) added to every object in it, at any depth: what
/// a provider that adds a field to its answers sends. Response types are
/// open, so this must parse as the original does.
pub fn with_unknown_fields(value: &Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut out: Map<String, Value> = object
                .iter()
                .map(|(key, value)| (key.clone(), with_unknown_fields(value)))
                .collect();
            out.insert(
                UNKNOWN_FIELD.to_owned(),
                json!({"added": [1, "two", null], "nested": {"deep": true}}),
            );
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(with_unknown_fields).collect()),
        other => other.clone(),
    }
}

/// The deserialization error for `value` as a `T`, or a panic if it parses.
pub fn rejects<T: DeserializeOwned + std::fmt::Debug>(value: Value) -> String {
    match serde_json::from_value::<T>(value.clone()) {
        Ok(t) => panic!("accepted {value}: {t:?}"),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "/b changed")]
    fn a_changed_value_fails_the_round_trip() {
        let mut dropped = Map::new();
        compare(
            &json!({"a": 1, "b": "x"}),
            &json!({"a": 1.0, "b": "y"}),
            "",
            &mut dropped,
        );
    }

    #[test]
    #[should_panic(expected = "/extra appeared")]
    fn an_added_member_fails_the_round_trip() {
        compare(&json!({}), &json!({"extra": 1}), "", &mut Map::new());
    }

    #[test]
    fn unknown_fields_go_into_every_object() {
        let added = with_unknown_fields(&json!({"a": {"b": [{"c": 1}, 2]}, "d": "x"}));
        assert!(added[UNKNOWN_FIELD].is_object());
        assert!(added["a"][UNKNOWN_FIELD].is_object());
        assert!(added["a"]["b"][0][UNKNOWN_FIELD].is_object());
        assert_eq!(added["a"]["b"][0]["c"], 1);
        assert_eq!(added["a"]["b"][1], 2);
        assert_eq!(added["d"], "x");
        assert_eq!(with_unknown_fields(&json!([1, "s"])), json!([1, "s"]));
    }

    #[test]
    #[should_panic(expected = "accepted")]
    fn rejects_panics_when_the_value_parses() {
        rejects::<u32>(json!(7));
    }
}
