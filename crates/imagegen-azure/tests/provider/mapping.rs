//! The common request → Azure's requests: OpenAI's JSON generation or
//! multipart edit, sent to `{endpoint}/openai/deployments/{deployment}/...`
//! with `?api-version=`, `provider_options["azure"]` merged in and checked
//! against Azure's strict schemas; what cannot be sent.

use imagegen_azure::AzureCodec;
use imagegen_core::{
    Aspect, Codec, Fidelity, HttpRequest, ImageRequest, ImageSize, Quality, ReferenceImage,
    Settings,
};
use imagegen_test_support::{
    TEST_BASE_URL, aspect_requests, assert_refused, checked_create_request, codec_with,
    create_request, create_request_with, request_summary, snapshot,
};
use serde_json::{Value, json};

use super::common::inline_reference;

const PROMPT: &str = "A cinematic product photo of a ceramic lamp";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n0000";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0JFIF";
const GENERATIONS: &str =
    "/openai/deployments/gpt-image-1.5/images/generations?api-version=2025-04-01-preview";

/// What the client sends for `request` through the default codec.
fn sent(request: &ImageRequest) -> HttpRequest {
    checked_create_request::<AzureCodec>(request).unwrap_or_else(|e| panic!("{request:?}: {e}"))
}

/// Representative generations: every aspect and quality, a count, options.
fn table() -> Vec<(&'static str, ImageRequest)> {
    let base = || ImageRequest::new(PROMPT);
    let mut table = aspect_requests(PROMPT);
    table.extend([
        (
            "explicit size 1024x1536 is aspect 2:3",
            base().size(ImageSize::new(1024, 1536)),
        ),
        ("quality low", base().quality(Quality::Low)),
        ("quality medium", base().quality(Quality::Medium)),
        ("quality high", base().quality(Quality::High)),
        ("quality auto", base().quality(Quality::Auto)),
        ("three images in one request", base().count(3)),
        (
            "azure's options merged in, replacing a mapped field",
            base()
                .quality(Quality::Low)
                .provider_option("azure", "quality", json!("high"))
                .provider_option("azure", "output_format", json!("jpeg"))
                .provider_option("azure", "output_compression", json!(80))
                .provider_option("azure", "background", json!("opaque"))
                .provider_option("azure", "user", json!("user-42")),
        ),
        (
            "openai's options are not azure's",
            base().provider_option("openai", "output_format", json!("webp")),
        ),
    ]);
    table
}

#[test]
fn generation_requests_snapshot() {
    let mut requests = serde_json::Map::new();
    for (case, request) in table() {
        let http = sent(&request);
        assert_eq!(
            http.url.as_str(),
            format!("{TEST_BASE_URL}{GENERATIONS}"),
            "{case}"
        );
        requests.insert(case.to_owned(), json!({"body": http.json_body()}));
    }
    snapshot!("generation_bodies", requests);
}

#[test]
fn a_generation_is_a_json_post_to_the_deployment_with_the_api_version() {
    let summary = request_summary(&sent(&ImageRequest::new("lamp")));
    assert_eq!(summary["method"], "POST");
    assert_eq!(summary["url"], format!("{TEST_BASE_URL}{GENERATIONS}"));
    assert_eq!(
        summary["body"],
        json!({"model": "gpt-image-1.5", "prompt": "lamp"})
    );
    // The key is the core's to add (as `api-key`), never the codec's.
    assert_eq!(summary["headers"], json!({}));
}

#[test]
fn deployment_and_api_version_come_from_the_settings() {
    let codec = codec_with::<AzureCodec>(&[
        ("deployment", "images/prod 1"),
        ("api_version", "2025-06-01-preview"),
    ]);
    let http = create_request_with(&codec, &ImageRequest::new("lamp")).unwrap();
    assert_eq!(
        http.url.as_str(),
        format!(
            "{TEST_BASE_URL}/openai/deployments/images%2Fprod%201/images/generations?api-version=2025-06-01-preview"
        )
    );
    // The body's model stays the docs' `gpt-image-1.5`: the deployment decides.
    assert_eq!(http.json_body()["model"], "gpt-image-1.5");
    assert_eq!(AzureCodec::SPEC.settings.len(), 2);
    // Unset, they are the documented defaults.
    let mut settings = Settings::default();
    for setting in AzureCodec::SPEC.settings {
        settings.set(setting.name, setting.default.unwrap());
    }
    let http = create_request_with(
        &AzureCodec::new(&settings).unwrap(),
        &ImageRequest::new("x"),
    )
    .unwrap();
    assert!(http.url.as_str().ends_with(GENERATIONS), "{}", http.url);
}

/// The multipart parts of a request, one line each.
fn parts(http: &HttpRequest) -> Vec<Value> {
    request_summary(http)["body"]
        .as_array()
        .expect("a multipart body")
        .clone()
}

#[test]
fn references_make_a_multipart_edit_of_the_deployment() {
    let request = ImageRequest::new("Put them together")
        .aspect(Aspect::Landscape)
        .quality(Quality::High)
        .count(2)
        .input_fidelity(Fidelity::High)
        .reference(inline_reference("lamp.png", PNG))
        .reference(inline_reference("table.jpg", JPEG))
        .provider_option("azure", "user", json!("user-42"));
    let http = sent(&request);
    assert_eq!(
        http.url.as_str(),
        format!(
            "{TEST_BASE_URL}/openai/deployments/gpt-image-1.5/images/edits?api-version=2025-04-01-preview"
        )
    );
    snapshot!(
        "edit_form",
        json!({"url": http.url.as_str(), "parts": parts(&http)})
    );
}

#[test]
fn what_azure_does_not_document_is_refused_before_sending() {
    let base = || ImageRequest::new(PROMPT);
    let edit = || base().reference(inline_reference("lamp.png", PNG));
    let cases = [
        (
            base().provider_option("azure", "output_format", json!("webp")),
            "unknown variant `webp`, expected `png` or `jpeg`",
        ),
        (
            base().provider_option("azure", "moderation", json!("low")),
            "unknown field `moderation`",
        ),
        (
            base().provider_option("azure", "response_format", json!("b64_json")),
            "unknown field `response_format`",
        ),
        (
            edit().provider_option("azure", "output_format", json!("jpeg")),
            "unknown field `output_format`",
        ),
        (
            edit().provider_option("azure", "n", json!(11)),
            "unknown variant `11`",
        ),
    ];
    for (request, expected) in cases {
        let err = create_request::<AzureCodec>(&request).unwrap_err();
        assert_refused(&err, expected);
    }
    // What the capability check refuses first.
    let long = ImageRequest::new("x".repeat(32_001));
    let err = checked_create_request::<AzureCodec>(&long).unwrap_err();
    assert_refused(&err, "32001 characters long; azure accepts at most 32000");
    let err = checked_create_request::<AzureCodec>(&base().size(ImageSize::new(512, 512)));
    assert_refused(&err.unwrap_err(), "size 512x512");
    // A reference the client did not load cannot be sent.
    let file = base().reference(ReferenceImage::parse("./lamp.png"));
    let err = create_request::<AzureCodec>(&file).unwrap_err();
    assert_refused(&err, "was not loaded");
}

#[test]
fn capabilities_say_what_azure_offers() {
    let caps = serde_json::to_value(AzureCodec::capabilities()).unwrap();
    let summary: Value = json!({
        "aspects": caps["aspects"], "qualities": caps["qualities"],
        "default_quality": caps["default_quality"], "max_prompt_chars": caps["max_prompt_chars"],
        "reference_input": caps["reference_input"],
        "max_reference_images": caps["max_reference_images"],
        "input_fidelity": caps["input_fidelity"], "webhooks": caps["webhooks"],
        "mode": caps["mode"], "max_images_per_request": caps["max_images_per_request"],
        "rate_limit": caps["rate_limit"], "request_timeout": caps["request_timeout"],
        "output_formats": caps["output_formats"], "moderation": caps["moderation"],
    });
    snapshot!("capabilities", summary);
}
