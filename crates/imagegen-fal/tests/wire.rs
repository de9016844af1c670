//! Wire types against the documented payloads. The examples are read from the
//! schema files' `examples`, so the schemas and these tests cannot disagree.
//! Snapshots: `tests/snapshots/`; review with `INSTA_UPDATE=always cargo test
//! -p imagegen-fal` then read the `.snap` diffs before committing.

use imagegen_fal::generated::*;
use imagegen_test_support::wire::{examples, rejects, round_trip};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

const GENERATE_REQUEST: &str = include_str!("../../../schemas/fal/generate-request.json");
const EDIT_REQUEST: &str = include_str!("../../../schemas/fal/edit-request.json");
const SUBMIT_RESPONSE: &str = include_str!("../../../schemas/fal/submit-response.json");
const STATUS_RESPONSE: &str = include_str!("../../../schemas/fal/status-response.json");
const RESULT_RESPONSE: &str = include_str!("../../../schemas/fal/result-response.json");
const CANCEL_RESPONSE: &str = include_str!("../../../schemas/fal/cancel-response.json");
const ERROR: &str = include_str!("../../../schemas/fal/error.json");
const WEBHOOK: &str = include_str!("../../../schemas/fal/webhook.json");

/// Round-trips every example of `schema` as a `T`, snapshotted as `{name}_{i}`.
fn round_trips<T>(schema: &str, name: &str)
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    for (i, example) in examples(schema).iter().enumerate() {
        let snap = round_trip::<T>(example);
        insta::assert_json_snapshot!(format!("{name}_{i}"), snap);
    }
}

#[test]
fn request_examples_round_trip() {
    round_trips::<FalGenerateRequest>(GENERATE_REQUEST, "generate_request");
    round_trips::<FalEditRequest>(EDIT_REQUEST, "edit_request");
}

#[test]
fn answer_examples_round_trip() {
    round_trips::<FalSubmitResponse>(SUBMIT_RESPONSE, "submit_response");
    round_trips::<FalQueueStatus>(STATUS_RESPONSE, "status_response");
    round_trips::<FalResult>(RESULT_RESPONSE, "result_response");
    round_trips::<FalCancelResponse>(CANCEL_RESPONSE, "cancel_response");
}

#[test]
fn error_and_webhook_examples_round_trip() {
    round_trips::<FalErrorBody>(ERROR, "error");
    round_trips::<FalWebhook>(WEBHOOK, "webhook");
}

#[test]
fn requests_reject_undocumented_values() {
    let ok = json!({"prompt": "p", "image_size": "1536x1024", "quality": "low", "num_images": 4,
                    "background": "transparent", "output_format": "webp", "sync_mode": true});
    serde_json::from_value::<FalGenerateRequest>(ok).expect("documented values parse");
    let ok = json!({"prompt": "p", "image_urls": ["https://a/b.png"], "image_size": "auto",
                    "input_fidelity": "low", "mask_image_url": "https://a/m.png"});
    serde_json::from_value::<FalEditRequest>(ok).expect("documented values parse");

    let generate = [
        // `auto` is the edit endpoint's size only.
        json!({"prompt": "p", "image_size": "auto"}),
        json!({"prompt": "p", "image_size": "1792x1024"}),
        json!({"prompt": "p", "quality": "auto"}),
        json!({"prompt": "p", "num_images": 5}),
        json!({"prompt": "p", "num_images": 0}),
        json!({"prompt": "p", "output_format": "gif"}),
        json!({"prompt": ""}),
        json!({"prompt": "x".repeat(32_001)}),
        // OpenAI's names, and the edit endpoint's fields, are not fal's.
        json!({"prompt": "p", "size": "1024x1024"}),
        json!({"prompt": "p", "n": 2}),
        json!({"prompt": "p", "moderation": "low"}),
        json!({"prompt": "p", "image_urls": ["https://a/b.png"]}),
        json!({"image_size": "1024x1024"}),
    ];
    let edit = [
        json!({"prompt": "p"}),
        json!({"prompt": "p", "image_urls": ["https://a/b.png"], "input_fidelity": "medium"}),
        json!({"prompt": "p", "image_urls": "https://a/b.png"}),
    ];
    let errors: Vec<String> = generate
        .into_iter()
        .map(rejects::<FalGenerateRequest>)
        .chain(edit.into_iter().map(rejects::<FalEditRequest>))
        .collect();
    insta::assert_debug_snapshot!(errors);
}

/// Every documented shape of `detail`, and answers with fields and status
/// values no page documents.
#[test]
fn answers_are_open() {
    let body: FalErrorBody =
        serde_json::from_value(json!({"detail": "Request timed out"})).unwrap();
    assert_eq!(
        body.detail,
        Some(FalErrorDetail::String("Request timed out".into()))
    );
    let body: FalErrorBody = serde_json::from_value(json!({
        "detail": [{"loc": ["body", 0], "msg": "m", "type": "t", "extra": true}],
        "request_id": "r"
    }))
    .unwrap();
    let Some(FalErrorDetail::Array(items)) = body.detail else {
        panic!("a list of items")
    };
    assert_eq!(items[0].type_.as_deref(), Some("t"));
    let status: FalQueueStatus =
        serde_json::from_value(json!({"status": "WARMING_UP", "progress": 0.5})).unwrap();
    assert_eq!(status.status, "WARMING_UP");
    let sent: FalSubmitResponse =
        serde_json::from_value(json!({"request_id": "r", "priority": "normal"})).unwrap();
    assert_eq!(sent.status_url, None);
}
