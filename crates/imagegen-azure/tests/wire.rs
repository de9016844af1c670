//! Azure's own wire types against the documented payloads (its request
//! bodies, as checked before sending, and its error body). The examples are
//! read from the schema files' `examples`, so the schemas and these tests
//! cannot disagree. The images response is OpenAI's (see `imagegen-openai`).
//! Snapshots: `tests/snapshots/`; review with `INSTA_UPDATE=always cargo
//! test -p imagegen-azure`, then read the `.snap` diffs before committing.

use imagegen_azure::generated::*;
use imagegen_test_support::wire::{
    UNKNOWN_FIELD, examples, rejects, round_trip, with_unknown_fields,
};
use serde_json::json;

const GENERATION: &str = include_str!("../../../schemas/azure/generation-request.json");
const EDIT: &str = include_str!("../../../schemas/azure/edit-request.json");
const ERROR: &str = include_str!("../../../schemas/azure/error-response.json");

#[test]
fn generation_request_examples_round_trip() {
    for (i, example) in examples(GENERATION).iter().enumerate() {
        let snap = round_trip::<AzureImageGenerationRequest>(example);
        insta::assert_json_snapshot!(format!("generation_request_{i}"), snap);
    }
}

#[test]
fn edit_form_examples_round_trip() {
    for (i, example) in examples(EDIT).iter().enumerate() {
        let snap = round_trip::<AzureImageEditForm>(example);
        insta::assert_json_snapshot!(format!("edit_form_{i}"), snap);
    }
}

#[test]
fn error_examples_round_trip() {
    for (i, example) in examples(ERROR).iter().enumerate() {
        let snap = round_trip::<AzureErrorBody>(example);
        insta::assert_json_snapshot!(format!("error_{i}"), snap);
    }
}

/// Error bodies are open: a field no page documents, at any depth, parses
/// to the same value as without it; in `content_filter_results`, a map of
/// categories, it is read as one more category.
#[test]
fn error_bodies_are_open() {
    for example in examples(ERROR) {
        let plain: AzureErrorBody = serde_json::from_value(example.clone()).unwrap();
        let mut extended: AzureErrorBody =
            serde_json::from_value(with_unknown_fields(&example)).unwrap();
        if let Some(inner) = extended.error.as_mut().and_then(|e| e.inner_error.as_mut()) {
            let added = inner.content_filter_results.remove(UNKNOWN_FIELD);
            assert_eq!(added.and_then(|category| category.filtered), None);
        }
        assert_eq!(plain, extended);
    }
}

#[test]
fn requests_reject_undocumented_values() {
    let ok = json!({"model": "gpt-image-1.5", "prompt": "x".repeat(32_000), "n": 10,
                    "size": "1536x1024", "quality": "auto", "background": "transparent",
                    "output_format": "jpeg", "output_compression": 0, "user": "u",
                    "stream": false, "partial_images": 3});
    serde_json::from_value::<AzureImageGenerationRequest>(ok).expect("documented values parse");
    let ok = json!({"prompt": "p", "n": "10", "input_fidelity": "low", "stream": "true"});
    serde_json::from_value::<AzureImageEditForm>(ok).expect("documented values parse");

    let generation = [
        json!({"prompt": "p", "output_format": "webp"}),
        json!({"prompt": "p", "moderation": "auto"}),
        json!({"prompt": "p", "response_format": "b64_json"}),
        json!({"prompt": "p", "size": "1792x1024"}),
        json!({"prompt": "p", "quality": "hd"}),
        json!({"prompt": "p", "n": 11}),
        json!({"prompt": "p", "output_compression": 101}),
        json!({"prompt": "p", "input_fidelity": "high"}),
        json!({"prompt": "x".repeat(32_001)}),
        json!({"size": "1024x1024"}),
    ];
    let edit = [
        json!({"prompt": "p", "n": 2}),
        json!({"prompt": "p", "n": "11"}),
        json!({"prompt": "p", "output_format": "png"}),
        json!({"prompt": "p", "background": "transparent"}),
        json!({"prompt": "p", "input_fidelity": "medium"}),
        json!({"prompt": "p", "stream": "yes"}),
    ];
    let errors: Vec<String> = generation
        .into_iter()
        .map(rejects::<AzureImageGenerationRequest>)
        .chain(edit.into_iter().map(rejects::<AzureImageEditForm>))
        .collect();
    insta::assert_debug_snapshot!(errors);
}
