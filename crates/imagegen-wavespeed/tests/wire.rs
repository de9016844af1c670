//! Wire types against the documented payloads. The examples are read from
//! the schema files' `examples`, so the schemas and these tests cannot
//! disagree. Snapshots: `tests/snapshots/`; review with `INSTA_UPDATE=always
//! cargo test -p imagegen-wavespeed`, then read the `.snap` diffs before
//! committing.

use imagegen_test_support::wire::{examples, rejects, round_trip, with_unknown_fields};
use imagegen_wavespeed::generated::*;
use serde_json::json;

const TEXT_TO_IMAGE: &str = include_str!("../../../schemas/wavespeed/text-to-image-request.json");
const EDIT: &str = include_str!("../../../schemas/wavespeed/edit-request.json");
const TASK_RESPONSE: &str = include_str!("../../../schemas/wavespeed/task-response.json");
const WEBHOOK: &str = include_str!("../../../schemas/wavespeed/webhook.json");

#[test]
fn text_to_image_request_examples_round_trip() {
    for (i, example) in examples(TEXT_TO_IMAGE).iter().enumerate() {
        let snap = round_trip::<WavespeedTextToImageRequest>(example);
        insta::assert_json_snapshot!(format!("text_to_image_request_{i}"), snap);
    }
}

#[test]
fn edit_request_examples_round_trip() {
    for (i, example) in examples(EDIT).iter().enumerate() {
        let snap = round_trip::<WavespeedEditRequest>(example);
        insta::assert_json_snapshot!(format!("edit_request_{i}"), snap);
    }
}

#[test]
fn task_response_examples_round_trip() {
    for (i, example) in examples(TASK_RESPONSE).iter().enumerate() {
        let snap = round_trip::<WavespeedTaskResponse>(example);
        insta::assert_json_snapshot!(format!("task_response_{i}"), snap);
    }
}

#[test]
fn webhook_examples_round_trip() {
    for (i, example) in examples(WEBHOOK).iter().enumerate() {
        let snap = round_trip::<WavespeedWebhook>(example);
        insta::assert_json_snapshot!(format!("webhook_{i}"), snap);
    }
}

/// Answers are open: a field no page documents, at any depth, parses to
/// the same value as without it.
#[test]
fn answers_are_open() {
    for example in examples(TASK_RESPONSE) {
        let plain: WavespeedTaskResponse = serde_json::from_value(example.clone()).unwrap();
        let extended: WavespeedTaskResponse =
            serde_json::from_value(with_unknown_fields(&example)).unwrap();
        assert_eq!(plain, extended);
    }
    for example in examples(WEBHOOK) {
        let plain: WavespeedWebhook = serde_json::from_value(example.clone()).unwrap();
        let extended: WavespeedWebhook =
            serde_json::from_value(with_unknown_fields(&example)).unwrap();
        assert_eq!(plain, extended);
    }
}

#[test]
fn requests_reject_undocumented_values() {
    let ok = json!({"prompt": "x".repeat(32_000), "size": "1536x1024", "quality": "low",
                    "background": "opaque", "enable_sync_mode": false, "enable_base64_output": true});
    serde_json::from_value::<WavespeedTextToImageRequest>(ok).expect("documented values parse");
    let ok = json!({"prompt": "p", "images": ["https://e.com/a.png"], "size": "1024*1536"});
    serde_json::from_value::<WavespeedEditRequest>(ok).expect("documented values parse");

    let text_to_image = [
        json!({"prompt": "p", "size": "2048*2048"}),
        json!({"prompt": "p", "size": "1024 x 1024"}),
        json!({"prompt": "p", "quality": "auto"}),
        json!({"prompt": "p", "background": "white"}),
        json!({"prompt": "p", "output_format": "png"}),
        json!({"prompt": "p", "n": 2}),
        json!({"prompt": "p", "images": ["https://e.com/a.png"]}),
        json!({"prompt": "x".repeat(32_001)}),
        json!({"size": "1024*1024"}),
    ];
    let edit = [
        json!({"prompt": "p"}),
        json!({"prompt": "p", "images": ["https://e.com/a.png"], "size": "auto"}),
        json!({"prompt": "p", "images": ["https://e.com/a.png"], "input_fidelity": "high"}),
        json!({"prompt": "p", "images": ["https://e.com/a.png"], "mask_image": "https://e.com/m.png"}),
        json!({"prompt": "p", "images": ["https://e.com/a.png"], "background": "opaque"}),
    ];
    let errors: Vec<String> = text_to_image
        .into_iter()
        .map(rejects::<WavespeedTextToImageRequest>)
        .chain(edit.into_iter().map(rejects::<WavespeedEditRequest>))
        .collect();
    insta::assert_debug_snapshot!(errors);
}
