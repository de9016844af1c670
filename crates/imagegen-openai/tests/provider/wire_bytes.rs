//! The exact request on the wire: the provider over real HTTP against a
//! one-shot loopback listener that captures what arrived (method, path,
//! authentication, organization and project headers, JSON or multipart
//! body).

use imagegen_core::{
    Aspect, Fidelity, ImageOutput, ImageProvider, ImageRequest, Quality, SubmitOptions,
};
use imagegen_openai::OpenAi;
use imagegen_test_support::{answer, loopback_config, provider_from, serve_once};

use super::common::{inline_reference, tiny_png};

/// A one-shot listener that answers `ONE_IMAGE`, and its base URL.
async fn capture_one(
    response_body: &'static str,
) -> (
    String,
    tokio::task::JoinHandle<imagegen_test_support::Captured>,
) {
    let (url, server) = serve_once(answer(
        200,
        &[("content-type", "application/json")],
        response_body.as_bytes(),
    ))
    .await;
    (format!("{url}/v1"), server)
}

const ONE_IMAGE: &str = r#"{"created":1700000000,"data":[{"b64_json":"iVBORw0KGgo=","revised_prompt":"a lamp, revised"}],"output_format":"png"}"#;

fn wire_provider(url: String) -> OpenAi {
    provider_from(
        loopback_config(&url, "sk-wire-test")
            .setting("organization", "org-123")
            .setting("project", "proj_456"),
    )
}

#[tokio::test]
async fn a_generation_is_one_json_post_with_auth_and_org_headers() {
    let (url, server) = capture_one(ONE_IMAGE).await;
    let status = wire_provider(url)
        .submit(
            &ImageRequest::new("A ceramic lamp")
                .aspect(Aspect::Landscape)
                .quality(Quality::High)
                .count(3),
            &SubmitOptions::new(),
        )
        .await
        .unwrap();
    let seen = server.await.unwrap();
    assert!(
        seen.head
            .starts_with("POST /v1/images/generations HTTP/1.1\r\n"),
        "{}",
        seen.head
    );
    assert_eq!(seen.header("authorization"), Some("Bearer sk-wire-test"));
    assert_eq!(seen.header("openai-organization"), Some("org-123"));
    assert_eq!(seen.header("openai-project"), Some("proj_456"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "model": "gpt-image-1.5",
            "prompt": "A ceramic lamp",
            "n": 3,
            "size": "1536x1024",
            "quality": "high",
        })
    );
    match &status.outputs[..] {
        [
            ImageOutput::Inline {
                data,
                media_type,
                revised_prompt,
            },
        ] => {
            assert_eq!(&data[..], b"\x89PNG\r\n\x1a\n");
            assert_eq!(media_type, "image/png");
            assert_eq!(revised_prompt.as_deref(), Some("a lamp, revised"));
        }
        other => panic!("{other:?}"),
    }
    assert!(status.task_id.starts_with("openai-1700000000-"));
}

#[tokio::test]
async fn an_edit_is_one_multipart_post_with_image_parts() {
    let (url, server) = capture_one(ONE_IMAGE).await;
    let png = tiny_png();
    let jpeg = b"\xff\xd8\xff\xe0 not really a jpeg".to_vec();
    wire_provider(url)
        .submit(
            &ImageRequest::new("Add a rainbow")
                .aspect(Aspect::Square)
                .input_fidelity(Fidelity::Low)
                .provider_option("openai", "output_compression", serde_json::json!(70))
                .reference(inline_reference("sky.png", &png))
                .reference(inline_reference("hill.jpg", &jpeg)),
            &SubmitOptions::new(),
        )
        .await
        .unwrap();
    let seen = server.await.unwrap();
    assert!(
        seen.head.starts_with("POST /v1/images/edits HTTP/1.1\r\n"),
        "{}",
        seen.head
    );
    assert_eq!(seen.header("authorization"), Some("Bearer sk-wire-test"));
    assert_eq!(seen.header("openai-organization"), Some("org-123"));
    assert_eq!(seen.header("openai-project"), Some("proj_456"));
    let content_type = seen.header("content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("{content_type}"));
    // Split the body into parts, each (part headers, content as text).
    let delimiter = format!("--{boundary}");
    let text = String::from_utf8_lossy(&seen.body).into_owned();
    let parts: Vec<(&str, &str)> = text
        .split(delimiter.as_str())
        .filter_map(|part| part.split_once("\r\n\r\n"))
        .map(|(headers, content)| (headers.trim(), content.trim_end_matches("\r\n")))
        .collect();
    let text_fields: Vec<String> = parts
        .iter()
        .filter(|(headers, _)| !headers.contains("filename="))
        .map(|(headers, content)| {
            let name = headers
                .split("name=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("a named part: {headers}"));
            format!("{name}={content}")
        })
        .collect();
    assert_eq!(
        text_fields,
        [
            "input_fidelity=low",
            "model=gpt-image-1.5",
            "output_compression=70",
            "prompt=Add a rainbow",
            "size=1024x1024",
        ]
    );
    let files: Vec<&str> = parts
        .iter()
        .map(|(headers, _)| *headers)
        .filter(|headers| headers.contains("filename="))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files[0].contains(r#"name="image[]"; filename="sky.png""#),
        "{}",
        files[0]
    );
    assert!(files[0].contains("Content-Type: image/png"), "{}", files[0]);
    assert!(
        files[1].contains(r#"name="image[]"; filename="hill.jpg""#),
        "{}",
        files[1]
    );
    assert!(
        files[1].contains("Content-Type: image/jpeg"),
        "{}",
        files[1]
    );
    // The file bytes arrived whole.
    let body = &seen.body[..];
    assert!(
        body.windows(png.len()).any(|w| w == &png[..]),
        "the PNG bytes"
    );
    assert!(
        body.windows(jpeg.len()).any(|w| w == &jpeg[..]),
        "the JPEG bytes"
    );
}
