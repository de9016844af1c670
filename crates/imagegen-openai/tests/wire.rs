//! Wire types against the documented payloads. The examples are read from the
//! schema files' `examples`, so the schemas and these tests cannot disagree.
//! Snapshots: `tests/snapshots/`; review with `INSTA_UPDATE=always cargo test
//! -p imagegen-openai` then read the `.snap` diffs before committing.

use imagegen_openai::generated::*;
use imagegen_test_support::wire::{examples, rejects, round_trip};
use serde_json::json;

const GENERATION_REQUEST: &str = include_str!("../../../schemas/openai/generation-request.json");
const EDIT_REQUEST: &str = include_str!("../../../schemas/openai/edit-request.json");
const IMAGES_RESPONSE: &str = include_str!("../../../schemas/openai/images-response.json");
const ERROR: &str = include_str!("../../../schemas/openai/error.json");

#[test]
fn generation_request_examples_round_trip() {
    for (i, example) in examples(GENERATION_REQUEST).iter().enumerate() {
        let snap = round_trip::<OpenAiImageGenerationRequest>(example);
        insta::assert_json_snapshot!(format!("generation_request_{i}"), snap);
    }
}

#[test]
fn edit_request_examples_round_trip() {
    for (i, example) in examples(EDIT_REQUEST).iter().enumerate() {
        let snap = round_trip::<OpenAiImageEditFields>(example);
        insta::assert_json_snapshot!(format!("edit_request_{i}"), snap);
    }
}

#[test]
fn images_response_examples_round_trip() {
    for (i, example) in examples(IMAGES_RESPONSE).iter().enumerate() {
        let snap = round_trip::<OpenAiImagesResponse>(example);
        insta::assert_json_snapshot!(format!("images_response_{i}"), snap);
    }
}

#[test]
fn error_examples_round_trip() {
    for (i, example) in examples(ERROR).iter().enumerate() {
        let snap = round_trip::<OpenAiErrorBody>(example);
        insta::assert_json_snapshot!(format!("error_{i}"), snap);
    }
}

#[test]
fn error_members_other_than_message_are_optional() {
    let body: OpenAiErrorBody =
        serde_json::from_value(json!({"error": {"message": "Bad gateway"}})).expect("lenient");
    assert_eq!(body.error.message, "Bad gateway");
    assert_eq!(body.error.code, None);
}

#[test]
fn response_is_open() {
    let response: OpenAiImagesResponse = serde_json::from_value(json!({
        "created": 1,
        "data": [{"b64_json": "AAAA", "extra": true}],
        "quality": "ultra",
        "size": "2048x2048",
        "usage": {
            "input_tokens": 1, "output_tokens": 2, "total_tokens": 3,
            "output_tokens_details": {"image_tokens": 2}
        },
        "new_field": {}
    }))
    .expect("unknown values and fields are accepted");
    insta::assert_json_snapshot!(response);
}

#[test]
fn request_rejects_undocumented_values() {
    let ok = json!({
        "model": "gpt-image-1.5", "prompt": "p", "n": 10, "size": "auto", "quality": "low",
        "background": "transparent", "output_format": "webp", "output_compression": 0,
        "moderation": "low", "user": "u", "stream": false, "partial_images": 3
    });
    serde_json::from_value::<OpenAiImageGenerationRequest>(ok).expect("documented values parse");

    let cases = [
        json!({"model": "gpt-image-1.5", "prompt": "p", "size": "512x512"}),
        json!({"model": "gpt-image-1.5", "prompt": "p", "quality": "hd"}),
        json!({"model": "gpt-image-1.5", "prompt": "p", "n": 0}),
        json!({"model": "gpt-image-1.5", "prompt": "p", "n": 11}),
        json!({"model": "gpt-image-1.5", "prompt": "p", "output_compression": 101}),
        json!({"model": "gpt-image-1.5", "prompt": "p", "output_format": "gif"}),
        json!({"model": "gpt-image-1.5", "prompt": "p", "background": "white"}),
        json!({"model": "gpt-image-1.5", "prompt": "p", "moderation": "high"}),
        json!({"model": "gpt-image-1.5", "prompt": "p", "partial_images": 4}),
        json!({"model": "gpt-image-1.5", "prompt": "p", "response_format": "b64_json"}),
        json!({"model": "dall-e-3", "prompt": "p"}),
        json!({"prompt": "p"}),
    ];
    let errors: Vec<String> = cases
        .into_iter()
        .map(rejects::<OpenAiImageGenerationRequest>)
        .collect();
    insta::assert_debug_snapshot!(errors);

    let edit_cases = [
        json!({"model": "gpt-image-1.5", "prompt": "p", "input_fidelity": "medium"}),
        json!({"model": "gpt-image-1.5", "prompt": "p", "stream": true}),
        json!({"model": "gpt-image-1.5", "prompt": "x".repeat(32001)}),
    ];
    let edit_errors: Vec<String> = edit_cases
        .into_iter()
        .map(rejects::<OpenAiImageEditFields>)
        .collect();
    insta::assert_debug_snapshot!("edit_request_rejects_undocumented_values", edit_errors);
}
