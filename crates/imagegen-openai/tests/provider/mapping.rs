//! The common request → OpenAI's requests: a JSON `POST /images/generations`
//! without reference images, a multipart `POST /images/edits` with them;
//! the organization and project headers; what cannot be sent.

use imagegen_core::http::PartContent;
use imagegen_core::{
    Aspect, Body, Codec, Fidelity, HttpRequest, ImageRequest, ImageSize, Quality, ReferenceImage,
    Settings,
};
use imagegen_openai::OpenAiCodec;
use imagegen_openai::generated::{OpenAiImageEditFields, OpenAiImageGenerationRequest};
use imagegen_test_support::{
    TEST_BASE_URL, assert_refused, checked_create_request, codec_with, create_request,
    create_request_with, request_summary, snapshot,
};
use serde_json::{Value, json};

use super::common::inline_reference;

/// What the client sends for `request` through the default codec.
fn sent(request: &ImageRequest) -> HttpRequest {
    checked_create_request::<OpenAiCodec>(request).unwrap_or_else(|e| panic!("{request:?}: {e}"))
}

fn body(request: &ImageRequest) -> Value {
    let http = sent(request);
    assert_eq!(
        http.url.as_str(),
        format!("{TEST_BASE_URL}/images/generations")
    );
    http.json_body()
}

#[test]
fn generation_bodies_for_representative_requests() {
    let cases = [
        ("prompt only", ImageRequest::new("A ceramic lamp")),
        (
            "square",
            ImageRequest::new("A ceramic lamp").aspect(Aspect::Square),
        ),
        (
            "portrait",
            ImageRequest::new("A ceramic lamp").aspect(Aspect::Portrait),
        ),
        (
            "landscape high",
            ImageRequest::new("A ceramic lamp")
                .aspect(Aspect::Landscape)
                .quality(Quality::High),
        ),
        (
            "low",
            ImageRequest::new("A ceramic lamp").quality(Quality::Low),
        ),
        (
            "medium",
            ImageRequest::new("A ceramic lamp").quality(Quality::Medium),
        ),
        (
            "auto",
            ImageRequest::new("A ceramic lamp").quality(Quality::Auto),
        ),
        (
            "explicit size",
            ImageRequest::new("A ceramic lamp").size(ImageSize::new(1024, 1536)),
        ),
        ("three images", ImageRequest::new("A ceramic lamp").count(3)),
        (
            "options",
            ImageRequest::new("A ceramic lamp")
                .provider_option("openai", "output_format", json!("webp"))
                .provider_option("openai", "background", json!("transparent")),
        ),
        (
            "every option",
            ImageRequest::new("A ceramic lamp")
                .count(2)
                .provider_option("openai", "output_format", json!("jpeg"))
                .provider_option("openai", "output_compression", json!(80))
                .provider_option("openai", "moderation", json!("low"))
                .provider_option("openai", "user", json!("user-42")),
        ),
        (
            "an option replaces a mapped field",
            ImageRequest::new("A ceramic lamp")
                .quality(Quality::Low)
                .provider_option("openai", "quality", json!("high")),
        ),
        (
            "other providers' options are ignored",
            ImageRequest::new("A ceramic lamp").provider_option("runbase", "seed", json!(7)),
        ),
    ];
    let table: Vec<_> = cases
        .iter()
        .map(|(name, request)| json!({ "case": name, "body": body(request) }))
        .collect();
    snapshot!("generation_bodies", table);
}

#[test]
fn the_typed_bodies_carry_the_mapped_values() {
    let request = ImageRequest::new("x")
        .aspect(Aspect::Landscape)
        .quality(Quality::High)
        .count(10);
    // What is sent is a valid typed body (the generated types are strict).
    let typed: OpenAiImageGenerationRequest = serde_json::from_value(body(&request)).unwrap();
    assert_eq!(typed.size.unwrap().to_string(), "1536x1024");
    assert_eq!(typed.quality.unwrap().to_string(), "high");
    assert_eq!(typed.n.map(|n| n.get()), Some(10));
    assert_eq!(typed.model.to_string(), "gpt-image-1.5");
    let edit = request
        .input_fidelity(Fidelity::High)
        .reference(inline_reference("a.png", PNG));
    let fields: serde_json::Map<String, Value> = text_fields(&sent(&edit))
        .into_iter()
        .map(|(name, value)| {
            let value = serde_json::from_str(&value).unwrap_or(Value::String(value));
            (name, value)
        })
        .collect();
    let typed: OpenAiImageEditFields = serde_json::from_value(Value::Object(fields)).unwrap();
    assert_eq!(typed.input_fidelity.unwrap().to_string(), "high");
    assert_eq!(typed.n.map(|n| n.get()), Some(10));
}

#[test]
fn what_cannot_be_sent_is_refused_before_sending() {
    // More than 32000 characters: the client's check says so...
    let long = ImageRequest::new("x".repeat(32_001));
    let err = checked_create_request::<OpenAiCodec>(&long).unwrap_err();
    assert_refused(&err, "32001 characters long; openai accepts at most 32000");
    // ...and the codec's typed body cannot hold it either.
    let err = create_request::<OpenAiCodec>(&long).unwrap_err();
    assert_refused(&err, "longer than 32000 characters");
    // A model the API does not list is refused when the codec is made.
    let mut settings = Settings::default();
    settings.set("model", "dall-e-2");
    let err = OpenAiCodec::new(&settings).unwrap_err();
    assert_refused(&err, "unknown model `dall-e-2`; allowed: gpt-image-1.5");
    // Up to 10 images go in one request; the client fans a larger count
    // out over requests of at most 10 (see `sim::more_than_ten_images`).
    assert_eq!(OpenAiCodec::capabilities().max_images_per_request, 10);
}

#[test]
fn other_models_are_sent_as_set() {
    for model in ["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5"] {
        let codec = codec_with::<OpenAiCodec>(&[("model", model)]);
        assert_eq!(codec.model(), model);
        let http = create_request_with(&codec, &ImageRequest::new("x")).unwrap();
        assert_eq!(http.json_body()["model"], model);
    }
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n0000";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0JFIF";
const WEBP: &[u8] = b"RIFF\x10\0\0\0WEBPVP8 ";

/// The text fields of a multipart request, in order.
fn text_fields(http: &HttpRequest) -> Vec<(String, String)> {
    let Body::Multipart(parts) = &http.body else {
        panic!("a multipart body expected: {:?}", http.body)
    };
    parts
        .iter()
        .filter_map(|part| match &part.content {
            PartContent::Text(text) => Some((part.name.clone(), text.clone())),
            PartContent::File { .. } => None,
        })
        .collect()
}

/// The file parts of a multipart request, one line each.
fn files(http: &HttpRequest) -> Vec<String> {
    let Body::Multipart(parts) = &http.body else {
        panic!("a multipart body expected: {:?}", http.body)
    };
    parts
        .iter()
        .filter_map(|part| match &part.content {
            PartContent::Text(_) => None,
            PartContent::File {
                file_name,
                media_type,
                data,
            } => Some(format!(
                "{} filename={file_name} content-type={media_type} {} bytes",
                part.name,
                data.len()
            )),
        })
        .collect()
}

#[test]
fn edit_form_fields_and_parts() {
    let cases = [
        (
            "two pngs, landscape, high fidelity",
            ImageRequest::new("Add a rainbow")
                .aspect(Aspect::Landscape)
                .input_fidelity(Fidelity::High)
                .reference(inline_reference("a.png", PNG))
                .reference(inline_reference("b.png", PNG)),
        ),
        (
            "jpeg and webp, n=2, quality, options",
            ImageRequest::new("Put the lamp on the table")
                .aspect(Aspect::Portrait)
                .quality(Quality::Medium)
                .input_fidelity(Fidelity::Low)
                .count(2)
                .provider_option("openai", "output_format", json!("webp"))
                .provider_option("openai", "output_compression", json!(80))
                .provider_option("openai", "background", json!("transparent"))
                .reference(inline_reference("lamp.jpg", JPEG))
                .reference(inline_reference("table.webp", WEBP)),
        ),
        (
            "prompt and one image only",
            ImageRequest::new("Make it blue").reference(inline_reference("x.png", PNG)),
        ),
    ];
    let table: Vec<_> = cases
        .iter()
        .map(|(case, request)| {
            let http = sent(request);
            assert_eq!(http.method.as_str(), "POST");
            assert_eq!(http.url.as_str(), format!("{TEST_BASE_URL}/images/edits"));
            json!({ "case": case, "fields": text_fields(&http), "files": files(&http) })
        })
        .collect();
    snapshot!("edit_form", table);
}

#[test]
fn response_format_is_never_mapped() {
    let request = ImageRequest::new("x")
        .aspect(Aspect::Square)
        .quality(Quality::High)
        .count(4);
    let body = body(&request);
    assert!(body.get("response_format").is_none(), "{body}");
    let edit = sent(&request.reference(inline_reference("a.png", PNG)));
    let fields = text_fields(&edit);
    assert!(
        fields.iter().any(|(name, _)| name == "prompt"),
        "{fields:?}"
    );
    assert!(fields.iter().all(|(name, _)| name != "response_format"));
}

#[test]
fn unloaded_references_are_refused() {
    // The client uploads files and URLs; the codec takes only bytes.
    for reference in [
        ReferenceImage::Url("https://example.com/a.png".into()),
        ReferenceImage::parse("./lamp.png"),
    ] {
        let request = ImageRequest::new("x").reference(reference.clone());
        let err = create_request::<OpenAiCodec>(&request).unwrap_err();
        assert_refused(&err, "was not loaded");
        assert!(err.to_string().contains(&reference.describe()), "{err}");
    }
    let request = ImageRequest::new("x").reference(inline_reference("a.html", b"<html>"));
    let err = create_request::<OpenAiCodec>(&request).unwrap_err();
    assert_refused(&err, "`a.html` is not an image");
}

/// The request summary of a generation and of an edit by a codec with an
/// organization and a project: method, URL, the two headers, the body.
#[test]
fn organization_and_project_headers_snapshot() {
    let codec = codec_with::<OpenAiCodec>(&[("organization", "org-123"), ("project", "proj_456")]);
    let generation = create_request_with(
        &codec,
        &ImageRequest::new("A ceramic lamp")
            .aspect(Aspect::Landscape)
            .quality(Quality::High)
            .count(3),
    )
    .unwrap();
    let edit = create_request_with(
        &codec,
        &ImageRequest::new("Add a rainbow")
            .aspect(Aspect::Square)
            .input_fidelity(Fidelity::Low)
            .provider_option("openai", "output_compression", json!(70))
            .reference(inline_reference("sky.png", PNG))
            .reference(inline_reference("hill.jpg", JPEG)),
    )
    .unwrap();
    for http in [&generation, &edit] {
        assert_eq!(http.headers["openai-organization"], "org-123");
        assert_eq!(http.headers["openai-project"], "proj_456");
        assert!(http.headers.get("authorization").is_none(), "the core's");
    }
    let plain = create_request::<OpenAiCodec>(&ImageRequest::new("x")).unwrap();
    assert!(plain.headers.is_empty(), "{:?}", plain.headers);
    snapshot!(
        "request_summaries",
        json!({"generation": request_summary(&generation), "edit": request_summary(&edit)})
    );
}

#[test]
fn openai_has_no_webhooks() {
    use imagegen_core::{ErrorKind, ImageProvider, WebhookCall};
    assert!(!OpenAiCodec::capabilities().webhooks);
    let openai = imagegen_test_support::provider::<OpenAiCodec>("http://127.0.0.1:9/v1", "k");
    let call = WebhookCall::new(Default::default(), r#"{"id":"x"}"#, None);
    let err = openai.webhook_task(&call).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotImplemented);
    assert_eq!(err.provider(), Some("openai"));
}
