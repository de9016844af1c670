//! Wire types against the documented payloads. The examples are read from the
//! schema files' `examples`, so the schemas and these tests cannot disagree.
//! Snapshots: `tests/snapshots/`; review with `INSTA_UPDATE=always cargo test
//! -p imagegen-runbase` then read the `.snap` diffs before committing.

use imagegen_runbase::generated::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

const CREATE_RUN_REQUEST: &str = include_str!("../../../schemas/runbase/create-run-request.json");
const RUN: &str = include_str!("../../../schemas/runbase/run.json");
const ERROR: &str = include_str!("../../../schemas/runbase/error.json");

#[test]
fn create_run_request_examples_round_trip() {
    for (i, example) in examples(CREATE_RUN_REQUEST).iter().enumerate() {
        let snap = round_trip::<RunbaseCreateRunRequest>(example);
        insta::assert_json_snapshot!(format!("create_run_request_{i}"), snap);
    }
}

#[test]
fn run_examples_round_trip() {
    for (i, example) in examples(RUN).iter().enumerate() {
        let snap = round_trip::<RunbaseRun>(example);
        insta::assert_json_snapshot!(format!("run_{i}"), snap);
    }
}

#[test]
fn error_examples_round_trip() {
    for (i, example) in examples(ERROR).iter().enumerate() {
        let snap = round_trip::<RunbaseErrorBody>(example);
        insta::assert_json_snapshot!(format!("error_{i}"), snap);
    }
}

#[test]
fn full_request_serializes_with_documented_names() {
    let request = RunbaseCreateRunRequest {
        model: RunbaseModel::OpenaiGptImage15,
        input: RunbaseRunInput {
            prompt: "A cinematic product photo of a ceramic lamp".into(),
            aspect_ratio: Some(RunbaseAspectRatio::X32),
            quality: Some(RunbaseQuality::High),
            image_urls: vec!["https://example.com/ref.png".into()],
        },
    };
    insta::assert_json_snapshot!(request);
}

#[test]
fn run_accepts_unknown_status_and_fields() {
    let run: RunbaseRun = serde_json::from_value(json!({
        "id": "run_1",
        "status": "warming_up",
        "progress": 0.4,
        "output": { "urls": ["https://cdn.example.com/a.png"], "seed": 7 },
        "error": { "message": "boom", "code": "model_error", "details": [1, 2] }
    }))
    .expect("lenient");
    insta::assert_debug_snapshot!(run);
}

#[test]
fn request_rejects_undocumented_values() {
    let ok =
        json!({"model": "openai/gpt-image-1.5", "input": {"prompt": "p", "quality": "medium"}});
    serde_json::from_value::<RunbaseCreateRunRequest>(ok).expect("documented values parse");

    let cases = [
        // Runbase offers no `low` quality.
        json!({"model": "openai/gpt-image-1.5", "input": {"prompt": "p", "quality": "low"}}),
        json!({"model": "openai/gpt-image-1.5", "input": {"prompt": "p", "aspect_ratio": "16:9"}}),
        json!({"model": "openai/gpt-image-1", "input": {"prompt": "p"}}),
        json!({"model": "openai/gpt-image-1.5", "input": {"prompt": "p", "seed": 1}}),
        json!({"model": "openai/gpt-image-1.5", "input": {"prompt": "p"}, "webhook": "https://x"}),
        json!({"model": "openai/gpt-image-1.5", "input": {"aspect_ratio": "1:1"}}),
    ];
    let errors: Vec<String> = cases
        .into_iter()
        .map(rejects::<RunbaseCreateRunRequest>)
        .collect();
    insta::assert_debug_snapshot!(errors);
}
// ---- shared helpers (the same block is in each provider's tests/wire.rs) ----

/// The `examples` of a schema file's text.
fn examples(schema: &str) -> Vec<Value> {
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
fn round_trip<T>(example: &Value) -> Value
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

/// The deserialization error for `value` as a `T`, or a panic if it parses.
fn rejects<T: DeserializeOwned + std::fmt::Debug>(value: Value) -> String {
    match serde_json::from_value::<T>(value.clone()) {
        Ok(t) => panic!("accepted {value}: {t:?}"),
        Err(e) => e.to_string(),
    }
}
