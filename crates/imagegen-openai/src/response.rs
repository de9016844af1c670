//! Parsing OpenAI's images response into a finished task.
//!
//! OpenAI answers a generation with the images themselves (`b64_json`), so
//! the result is a [`TaskState::Succeeded`] status with
//! [`ImageOutput::Inline`] outputs. There is no task on OpenAI's side:
//! **decision:** the task id is synthesized as `openai-<created>-<16 hex>`
//! so results, sidecars and journals can name it like any other task.
//! A `url` instead of `b64_json` (some gateways speaking this API) becomes an
//! [`ImageOutput::Url`]. OpenAI bills by token: `usage` is reported, credits
//! are `None`.

use std::hash::{BuildHasher, Hasher};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use imagegen_core::{Error, ImageOutput, TaskState, TaskStatus, TokenUsage};

use crate::generated::{OpenAiImagesResponse, OpenAiImagesUsage};

/// The media type of `output_format` (`png` when absent).
pub fn media_type(output_format: Option<&str>) -> &'static str {
    match output_format.map(str::to_ascii_lowercase).as_deref() {
        Some("jpeg") | Some("jpg") => "image/jpeg",
        Some("webp") => "image/webp",
        _ => "image/png",
    }
}

fn synthesized_task_id(created: i64) -> String {
    // Random per call without a dependency: std's hasher keys are random.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_i64(created);
    format!("openai-{created}-{:016x}", hasher.finish())
}

/// Usage when both the input and output counts are there (a partial object
/// is not worth failing a paid-for response over); the total defaults to
/// their sum.
fn token_usage(usage: OpenAiImagesUsage) -> Option<TokenUsage> {
    let count = |n: i64| n.max(0) as u64;
    let input_tokens = count(usage.input_tokens?);
    let output_tokens = count(usage.output_tokens?);
    Some(TokenUsage {
        input_tokens,
        output_tokens,
        total_tokens: usage
            .total_tokens
            .map_or(input_tokens + output_tokens, count),
    })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn decode_error(message: String, body: &[u8]) -> Error {
    Error::decode("OpenAI images response", body, message)
        .with_provider(crate::NAME)
        .with_retryable(false)
        .with_may_have_reached_server(true)
}

/// Parses a successful (2xx) images response body.
pub fn parse_images_response(body: &[u8]) -> Result<TaskStatus, Error> {
    let response: OpenAiImagesResponse = serde_json::from_slice(body).map_err(|e| {
        Error::decode("OpenAI images response", body, e)
            .with_provider(crate::NAME)
            .with_retryable(false)
            .with_may_have_reached_server(true)
    })?;
    let media_type = media_type(response.output_format.as_deref());
    let mut outputs = Vec::with_capacity(response.data.len());
    for (index, image) in response.data.into_iter().enumerate() {
        let output = match (image.b64_json, image.url) {
            (Some(b64), _) => {
                let data = STANDARD.decode(b64.as_bytes()).map_err(|e| {
                    decode_error(format!("image {index}: invalid base64: {e}"), body)
                })?;
                ImageOutput::Inline {
                    data: Bytes::from(data),
                    media_type: media_type.to_owned(),
                    revised_prompt: image.revised_prompt,
                }
            }
            (None, Some(url)) => ImageOutput::Url { url },
            (None, None) => {
                return Err(decode_error(
                    format!("image {index} has neither b64_json nor url"),
                    body,
                ));
            }
        };
        outputs.push(output);
    }
    if outputs.is_empty() {
        return Err(decode_error("the response holds no image".into(), body));
    }
    let usage = response.usage.and_then(token_usage);
    // OpenAI always sends `created`; a gateway that drops it still gets an id.
    let created = response.created.unwrap_or_else(unix_now);
    Ok(
        TaskStatus::new(synthesized_task_id(created), TaskState::Succeeded)
            .with_outputs(outputs)
            .with_usage(usage)
            .with_raw_status("completed"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_B64: &str = "iVBORw0KGgo="; // the PNG signature

    #[test]
    fn b64_images_decode_with_media_type_usage_and_revised_prompt() {
        let body = format!(
            r#"{{"created":1713833628,"output_format":"webp","data":[{{"b64_json":"{PNG_B64}","revised_prompt":"a lamp"}}],
               "usage":{{"input_tokens":50,"output_tokens":4160,"total_tokens":4210,"input_tokens_details":{{"text_tokens":50,"image_tokens":0}}}},"extra":1}}"#
        );
        let status = parse_images_response(body.as_bytes()).unwrap();
        assert_eq!(status.state, TaskState::Succeeded);
        assert!(status.task_id.starts_with("openai-1713833628-"));
        match &status.outputs[0] {
            ImageOutput::Inline {
                data,
                media_type,
                revised_prompt,
            } => {
                assert_eq!(&data[..4], b"\x89PNG");
                assert_eq!(media_type, "image/webp");
                assert_eq!(revised_prompt.as_deref(), Some("a lamp"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(status.usage.unwrap().total_tokens, 4210);
        assert_eq!(status.credits, None);
    }

    #[test]
    fn urls_from_gateways_are_kept() {
        let status =
            parse_images_response(br#"{"created":1,"data":[{"url":"https://cdn/x.png"}]}"#)
                .unwrap();
        assert_eq!(
            status.outputs,
            vec![ImageOutput::Url {
                url: "https://cdn/x.png".into()
            }]
        );
    }

    #[test]
    fn empty_or_broken_answers_are_decode_errors_that_may_have_been_charged() {
        for body in [
            &br#"{"created":1,"data":[]}"#[..],
            b"{\"created\":1,\"data\":[{\"b64_json\":\"%%%\"}]}",
            b"<html>",
        ] {
            let err = parse_images_response(body).unwrap_err();
            assert_eq!(err.kind(), imagegen_core::ErrorKind::Decode);
            assert!(err.may_have_reached_server());
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn missing_created_and_partial_usage_still_return_the_paid_for_image() {
        let status = parse_images_response(
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

        let status = parse_images_response(
            br#"{"created":1,"data":[{"url":"https://cdn/x.png"}],"usage":{"total_tokens":9}}"#,
        )
        .expect("a usage object without counts is not an error");
        assert_eq!(status.usage, None, "no guessed input/output split");
    }

    #[test]
    fn task_ids_are_unique() {
        assert_ne!(synthesized_task_id(5), synthesized_task_id(5));
    }
}
