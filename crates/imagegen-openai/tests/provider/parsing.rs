//! OpenAI's images response → a finished task, as the client sees it (the
//! codec's reading, settled by the core), and the schema's examples with
//! fields no page documents.

use imagegen_core::{Error, ErrorKind, ImageOutput, TaskState, TaskStatus};
use imagegen_openai::generated::{OpenAiErrorBody, OpenAiImagesResponse};
use imagegen_openai::{OpenAiCodec, read_images};
use imagegen_test_support::wire::{UNKNOWN_FIELD, examples, with_unknown_fields};
use imagegen_test_support::{answer, error_summary, read_create};
use serde_json::json;

const IMAGES_RESPONSE: &str = include_str!("../../../../schemas/openai/images-response.json");
const ERROR: &str = include_str!("../../../../schemas/openai/error.json");

const PNG_B64: &str = "iVBORw0KGgo="; // the PNG signature

/// An HTTP 200 answer to a create, as the client sees it.
fn parse(body: &[u8]) -> Result<TaskStatus, Error> {
    read_create::<OpenAiCodec>(&answer(200, &[], body))
}

#[test]
fn b64_images_decode_with_usage_and_revised_prompt() {
    let body = format!(
        r#"{{"created":1713833628,"output_format":"png","data":[{{"b64_json":"{PNG_B64}","revised_prompt":"a lamp"}}],
           "usage":{{"input_tokens":50,"output_tokens":4160,"total_tokens":4210,"input_tokens_details":{{"text_tokens":50,"image_tokens":0}}}},"extra":1}}"#
    );
    let status = parse(body.as_bytes()).unwrap();
    assert_eq!(status.state, TaskState::Succeeded);
    assert!(status.task_id.starts_with("openai-1713833628-"));
    assert_eq!(status.raw_status.as_deref(), Some("completed"));
    match &status.outputs[..] {
        [
            ImageOutput::Inline {
                data,
                media_type,
                revised_prompt,
            },
        ] => {
            assert_eq!(&data[..4], b"\x89PNG");
            assert_eq!(media_type, "image/png");
            assert_eq!(revised_prompt.as_deref(), Some("a lamp"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(status.usage.unwrap().total_tokens, 4210);
    assert_eq!(status.credits, None);
}

/// `output_format` names the media type of bytes that do not say what they
/// are; recognisable bytes decide for themselves.
#[test]
fn the_media_type_follows_output_format_unless_the_bytes_say_otherwise() {
    let media = |b64: &str, format: Option<&str>| {
        let body = json!({"created": 1, "output_format": format, "data": [{"b64_json": b64}]});
        match &parse(body.to_string().as_bytes()).unwrap().outputs[0] {
            ImageOutput::Inline { media_type, .. } => media_type.clone(),
            other => panic!("{other:?}"),
        }
    };
    let opaque = "AAECAwQF"; // bytes 0..=5: no image signature
    assert_eq!(media(opaque, Some("webp")), "image/webp");
    assert_eq!(media(opaque, Some("jpeg")), "image/jpeg");
    assert_eq!(media(opaque, Some("png")), "image/png");
    assert_eq!(media(opaque, None), "image/png", "OpenAI's default");
    assert_eq!(
        media(PNG_B64, Some("webp")),
        "image/png",
        "the bytes decide"
    );
}

#[test]
fn urls_from_gateways_are_kept() {
    let status = parse(br#"{"created":1,"data":[{"url":"https://cdn/x.png"}]}"#).unwrap();
    assert_eq!(
        status.outputs,
        vec![ImageOutput::Url {
            url: "https://cdn/x.png".into()
        }]
    );
}

#[test]
fn empty_or_broken_answers_are_decode_errors_that_may_have_been_charged() {
    for (body, retryable) in [
        (&br#"{"created":1,"data":[]}"#[..], false),
        (b"{\"created\":1,\"data\":[{}]}", false),
        // An answer that could not be read at all (base64 is decoded as the
        // answer is parsed) may read next time; the create that got it is
        // still never resent (it may have been billed) unless the caller
        // opted in.
        (b"{\"created\":1,\"data\":[{\"b64_json\":\"%%%\"}]}", true),
        (b"<html>", true),
    ] {
        let text = String::from_utf8_lossy(body);
        let err = parse(body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{text}");
        assert!(err.may_have_reached_server(), "{text}");
        assert_eq!(err.is_retryable(), retryable, "{text}");
        assert_eq!(err.http_status(), Some(200));
        assert_eq!(err.provider(), Some("openai"));
    }
}

#[test]
fn missing_created_and_partial_usage_still_return_the_paid_for_image() {
    let status = parse(
        br#"{"data":[{"url":"https://cdn/x.png"}],"usage":{"input_tokens":5,"output_tokens":7}}"#,
    )
    .expect("created is optional");
    assert!(status.task_id.starts_with("openai-"), "{}", status.task_id);
    assert_eq!(status.outputs.len(), 1);
    let usage = status.usage.expect("input and output counts are enough");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.total_tokens),
        (5, 7, 12)
    );

    let status =
        parse(br#"{"created":1,"data":[{"url":"https://cdn/x.png"}],"usage":{"total_tokens":9}}"#)
            .expect("a usage object without counts is not an error");
    assert_eq!(status.usage, None, "no guessed input/output split");
}

#[test]
fn task_ids_are_unique() {
    let body = answer(
        200,
        &[],
        br#"{"created":5,"data":[{"url":"https://cdn/x.png"}]}"#,
    );
    let first = read_images(&body).unwrap().task_id;
    let second = read_images(&body).unwrap().task_id;
    assert!(first.starts_with("openai-5-"), "{first}");
    assert_ne!(first, second);
}

/// Every documented answer with a field no page documents added to every
/// object reads as it does without: answers are open.
#[test]
fn documented_answers_with_unknown_fields_read_the_same() {
    // Task ids are random: compare everything else.
    let summary = |read: Result<TaskStatus, Error>| match read {
        Ok(mut status) => {
            assert!(status.task_id.starts_with("openai-"));
            status.task_id.clear();
            serde_json::to_value(status).unwrap()
        }
        Err(err) => json!({"error": error_summary(&err)}),
    };
    for example in examples(IMAGES_RESPONSE) {
        let extended = with_unknown_fields(&example);
        assert!(extended[UNKNOWN_FIELD].is_object());
        serde_json::from_value::<OpenAiImagesResponse>(extended.clone())
            .unwrap_or_else(|e| panic!("{e}: {extended}"));
        assert_eq!(
            summary(parse(example.to_string().as_bytes())),
            summary(parse(extended.to_string().as_bytes())),
            "{extended}"
        );
    }
    for example in examples(ERROR) {
        let extended = with_unknown_fields(&example);
        serde_json::from_value::<OpenAiErrorBody>(extended.clone())
            .unwrap_or_else(|e| panic!("{e}: {extended}"));
        for status in [400, 401, 403, 404, 429, 500] {
            let read = |body: &serde_json::Value| {
                summary(read_create::<OpenAiCodec>(&answer(
                    status,
                    &[],
                    body.to_string().as_bytes(),
                )))
            };
            assert_eq!(read(&example), read(&extended), "HTTP {status}: {extended}");
        }
    }
}
