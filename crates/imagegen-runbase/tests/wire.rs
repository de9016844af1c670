//! Wire types against the documented payloads. The examples are read from the
//! schema files' `examples`, so the schemas and these tests cannot disagree.
//! Snapshots: `tests/snapshots/`; review with `INSTA_UPDATE=always cargo test
//! -p imagegen-runbase` then read the `.snap` diffs before committing.

use imagegen_runbase::generated::*;
use imagegen_test_support::wire::{examples, rejects, round_trip};
use serde_json::json;

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
    let input = RunbaseRunInput::builder()
        .prompt("A cinematic product photo of a ceramic lamp")
        .aspect_ratio(Some(RunbaseAspectRatio::X32))
        .quality(Some(RunbaseQuality::High))
        .image_urls(vec!["https://example.com/ref.png".to_owned()]);
    let request: RunbaseCreateRunRequest = RunbaseCreateRunRequest::builder()
        .model(RunbaseModel::OpenaiGptImage15)
        .input(input)
        .try_into()
        .unwrap();
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
    // JSON, not Debug: a field a later schema adds (absent here) must not
    // change the snapshot.
    insta::assert_json_snapshot!(run);
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
