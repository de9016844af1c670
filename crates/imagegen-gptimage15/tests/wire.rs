//! Wire types against the documented payloads. The examples are read from the
//! schema files' `examples`, so the schemas and these tests cannot disagree.
//! Snapshots: `tests/snapshots/`; review with `INSTA_UPDATE=always cargo test
//! -p imagegen-gptimage15` then read the `.snap` diffs before committing.

use imagegen_gptimage15::generated::*;
use imagegen_test_support::wire::{examples, rejects, round_trip};
use serde_json::{Value, json};

const GENERATE_REQUEST: &str = include_str!("../../../schemas/gptimage15/generate-request.json");
const GENERATE_RESPONSE: &str = include_str!("../../../schemas/gptimage15/generate-response.json");
const STATUS_RESPONSE: &str = include_str!("../../../schemas/gptimage15/status-response.json");
const ERROR: &str = include_str!("../../../schemas/gptimage15/error.json");

#[test]
fn generate_request_examples_round_trip() {
    for (i, example) in examples(GENERATE_REQUEST).iter().enumerate() {
        let snap = round_trip::<Gptimage15GenerateRequest>(example);
        insta::assert_json_snapshot!(format!("generate_request_{i}"), snap);
    }
}

#[test]
fn generate_response_examples_round_trip() {
    for (i, example) in examples(GENERATE_RESPONSE).iter().enumerate() {
        let snap = round_trip::<Gptimage15GenerateEnvelope>(example);
        insta::assert_json_snapshot!(format!("generate_response_{i}"), snap);
    }
}

#[test]
fn status_response_examples_round_trip() {
    for (i, example) in examples(STATUS_RESPONSE).iter().enumerate() {
        let snap = round_trip::<Gptimage15StatusEnvelope>(example);
        insta::assert_json_snapshot!(format!("status_response_{i}"), snap);
    }
}

#[test]
fn error_examples_round_trip() {
    for (i, example) in examples(ERROR).iter().enumerate() {
        let snap = round_trip::<Gptimage15ErrorBody>(example);
        insta::assert_json_snapshot!(format!("error_{i}"), snap);
    }
}

/// Every documented variant of a status answer, and how the generated types
/// represent it (the variant chosen for `status`, `response`, `request`).
#[test]
fn status_variants_deserialize() {
    let task = |data: Value| -> Gptimage15Task {
        let envelope: Gptimage15StatusEnvelope =
            serde_json::from_value(json!({"code": 200, "data": data})).expect("variant parses");
        envelope.data.expect("data present")
    };
    let id = "n36abc123def456gptimg";
    let variants = vec![
        (
            "string status",
            task(json!({"task_id": id, "status": "PENDING"})),
        ),
        (
            "numeric status 0",
            task(json!({"task_id": id, "status": 0})),
        ),
        (
            "numeric status 1",
            task(json!({"task_id": id, "status": 1})),
        ),
        (
            "numeric status -1",
            task(json!({"task_id": id, "status": -1})),
        ),
        (
            "unknown status string (undocumented, still accepted)",
            task(json!({"task_id": id, "status": "CANCELLED"})),
        ),
        (
            "unknown status number (undocumented, still accepted)",
            task(json!({"task_id": id, "status": 2})),
        ),
        (
            "response as an array",
            task(
                json!({"task_id": id, "status": "SUCCESS", "response": ["https://cdn.example.com/a.png"]}),
            ),
        ),
        (
            "response as a JSON string",
            task(
                json!({"task_id": id, "status": 1, "response": "[\"https://cdn.example.com/a.png\"]"}),
            ),
        ),
        (
            "response null",
            task(json!({"task_id": id, "status": "FAILED", "response": null})),
        ),
        (
            "request as an object",
            task(
                json!({"task_id": id, "status": "FAILED", "request": {"prompt": "p", "size": "1024*1024"}}),
            ),
        ),
        (
            "request as a JSON string",
            task(json!({"task_id": id, "status": -1, "request": "{\"prompt\":\"p\"}"})),
        ),
        (
            "consumed_credits spelling",
            task(json!({"task_id": id, "status": "IN_PROGRESS", "consumed_credits": 10})),
        ),
        (
            "consumed_credit spelling",
            task(json!({"task_id": id, "status": 0, "consumed_credit": 24})),
        ),
        (
            "created_at RFC 3339",
            task(
                json!({"task_id": id, "status": "IN_PROGRESS", "created_at": "2024-12-19T10:00:00Z"}),
            ),
        ),
        (
            "created_at YYYY-MM-DD HH:MM:SS",
            task(json!({"task_id": id, "status": 0, "created_at": "2024-12-19 10:00:00"})),
        ),
        (
            "unknown fields ignored",
            task(
                json!({"task_id": id, "status": 0, "type": "image-to-image", "updated_at": "2024-12-19 10:00:05", "progress": 40}),
            ),
        ),
    ];
    insta::assert_json_snapshot!(variants);
}

#[test]
fn envelope_code_and_null_data() {
    let envelope: Gptimage15StatusEnvelope =
        serde_json::from_value(json!({"code": 404, "message": "not found", "data": null}))
            .expect("error envelope parses as a status envelope");
    assert_eq!(envelope.code, 404);
    assert!(envelope.data.is_none());
    // The error body also accepts an envelope without `data`.
    let body: Gptimage15ErrorBody =
        serde_json::from_value(json!({"code": 401, "message": "Unauthorized"})).expect("lenient");
    assert_eq!(body.message.as_deref(), Some("Unauthorized"));
}

#[test]
fn request_rejects_undocumented_values() {
    let max = "x".repeat(2000);
    let ok = json!({"prompt": max, "size": "1024*1536", "quality": "low", "input_fidelity": "low"});
    serde_json::from_value::<Gptimage15GenerateRequest>(ok).expect("documented values parse");

    let cases = [
        json!({"prompt": "p", "size": "1024x1024"}),
        json!({"prompt": "p", "size": "2048*2048"}),
        json!({"prompt": "p", "quality": "auto"}),
        json!({"prompt": "p", "input_fidelity": "medium"}),
        json!({"prompt": "x".repeat(2001)}),
        json!({"prompt": "p", "n": 2}),
        json!({"size": "1024*1024"}),
    ];
    let errors: Vec<String> = cases
        .into_iter()
        .map(rejects::<Gptimage15GenerateRequest>)
        .collect();
    insta::assert_debug_snapshot!(errors);
}
