//! Answers → `TaskStatus`, as the client sees them (the codec's reading,
//! settled by the core): OpenAI's images response, read by
//! `imagegen_openai::read_images`, as a finished task named `azure-...`.

use imagegen_azure::AzureCodec;
use imagegen_core::{ErrorKind, ImageOutput, TaskState, TokenUsage};
use imagegen_test_support::wire::{examples, with_unknown_fields};
use imagegen_test_support::{answer, read_create};
use serde_json::json;

use super::common::{png_size, tiny_png};

const OPENAI_RESPONSE: &str = include_str!("../../../../schemas/openai/images-response.json");

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn the_documented_answer_is_a_finished_task_with_its_usage() {
    // Azure's answer is OpenAI's: `{"created", "data": [{"b64_json"}], "usage"}`.
    let body = json!({
        "created": 1698116662,
        "data": [{"b64_json": b64(&tiny_png()), "revised_prompt": "A lamp, cinematic"}],
        "usage": {"input_tokens": 50, "input_tokens_details": {"image_tokens": 40, "text_tokens": 10},
                  "output_tokens": 50, "total_tokens": 100}
    });
    let status = read_create::<AzureCodec>(&answer(200, &[], body.to_string().as_bytes())).unwrap();
    assert_eq!(status.state, TaskState::Succeeded);
    assert!(
        status.task_id.starts_with("azure-1698116662-"),
        "{}",
        status.task_id
    );
    assert_eq!(status.task_id.len(), "azure-1698116662-".len() + 16);
    assert_eq!(status.credits, None, "Azure bills tokens");
    assert_eq!(
        status.usage,
        Some(TokenUsage {
            input_tokens: 50,
            output_tokens: 50,
            total_tokens: 100
        })
    );
    let [
        ImageOutput::Inline {
            data,
            media_type,
            revised_prompt,
        },
    ] = status.outputs.as_slice()
    else {
        panic!("one inline image expected: {:?}", status.outputs)
    };
    assert_eq!(png_size(data), (4, 4));
    assert_eq!(media_type, "image/png");
    assert_eq!(revised_prompt.as_deref(), Some("A lamp, cinematic"));
}

#[test]
fn openai_s_examples_and_unknown_fields_parse_as_azure_tasks() {
    for example in examples(OPENAI_RESPONSE) {
        for body in [example.clone(), with_unknown_fields(&example)] {
            let status = read_create::<AzureCodec>(&answer(200, &[], body.to_string().as_bytes()))
                .unwrap_or_else(|e| panic!("{body}: {e}"));
            assert!(status.task_id.starts_with("azure-"), "{}", status.task_id);
            assert_eq!(status.outputs.len(), 1);
        }
    }
    // DALL-E's content-filter annotations (GPT-image models send none) are ignored.
    let annotated = json!({
        "created": 1, "data": [{"b64_json": b64(&tiny_png()),
            "content_filter_results": {"sexual": {"filtered": false, "severity": "safe"}}}],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]
    });
    let status = read_create::<AzureCodec>(&answer(200, &[], annotated.to_string().as_bytes()));
    assert_eq!(status.unwrap().outputs.len(), 1);
}

#[test]
fn an_unreadable_or_empty_answer_is_reported_as_possibly_charged() {
    for body in [
        &b"{\"created\": 1, \"data\": [{\"b64_json\": \"iVBOR"[..],
        b"<html>ok</html>",
    ] {
        let err = read_create::<AzureCodec>(&answer(200, &[], body)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(err.may_have_reached_server(), "{err:?}");
    }
    let err = read_create::<AzureCodec>(&answer(200, &[], br#"{"created": 1, "data": []}"#));
    let err = err.unwrap_err();
    assert!(err.message().contains("holds no image"), "{err}");
    assert!(err.may_have_reached_server());
}
