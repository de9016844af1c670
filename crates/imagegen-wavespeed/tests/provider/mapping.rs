//! The common request → WaveSpeed's submits (`text-to-image`, or `edit`
//! with reference URLs), as a snapshot table of requests; the result
//! request; and the requests WaveSpeed cannot take.

use imagegen_core::{
    Aspect, BaseUrl, Codec, Fidelity, ImageRequest, ImageSize, Quality, ReferenceImage, Target,
    TaskLinks, TaskRef,
};
use imagegen_test_support::{
    TEST_BASE_URL, aspect_requests, assert_refused, checked_create_request, codec, create_request,
    request_summary, snapshot,
};
use imagegen_wavespeed::WavespeedCodec;
use imagegen_wavespeed::generated::{
    WavespeedEditRequest, WavespeedEditSize, WavespeedQuality, WavespeedTextToImageRequest,
};
use serde_json::{Value, json};

const PROMPT: &str = "A cinematic product photo of a ceramic lamp";

fn url(s: &str) -> ReferenceImage {
    ReferenceImage::Url(s.to_owned())
}

/// Representative requests: every aspect, quality, references, a webhook,
/// a count, options.
fn table() -> Vec<(&'static str, ImageRequest)> {
    let base = || ImageRequest::new(PROMPT);
    let mut table = aspect_requests(PROMPT);
    table.extend([
        (
            "explicit size 1536x1024 is aspect 3:2",
            base().size(ImageSize::new(1536, 1024)),
        ),
        ("quality low", base().quality(Quality::Low)),
        ("quality medium", base().quality(Quality::Medium)),
        ("quality high", base().quality(Quality::High)),
        (
            "one reference URL: the edit endpoint",
            base().reference(url("https://example.com/lamp.png")),
        ),
        (
            "two references, portrait, high",
            base()
                .aspect(Aspect::Portrait)
                .quality(Quality::High)
                .reference(url("https://example.com/lamp.png"))
                .reference(url("https://example.com/table.jpg")),
        ),
        (
            "a webhook goes in the query",
            base().callback_url("https://example.com/hooks/wavespeed?job=7"),
        ),
        (
            "a count of three is one image per task (the client fans out)",
            base().count(3),
        ),
        (
            "provider options merged into the body, replacing a mapped field",
            base()
                .quality(Quality::Low)
                .provider_option("wavespeed", "quality", json!("high"))
                .provider_option("wavespeed", "enable_base64_output", json!(true))
                .provider_option("openai", "ignored", json!(true)),
        ),
    ]);
    table
}

/// What the client sends for each request: method, URL and body.
#[test]
fn create_requests_snapshot() {
    let mut requests = serde_json::Map::new();
    for (case, request) in table() {
        let http = checked_create_request::<WavespeedCodec>(&request)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        requests.insert(case.to_owned(), request_summary(&http));
    }
    snapshot!("create_requests", requests);
}

#[test]
fn a_create_is_a_json_post_to_the_model_and_never_sync() {
    let http = create_request::<WavespeedCodec>(&ImageRequest::new("lamp")).unwrap();
    let summary = request_summary(&http);
    assert_eq!(summary["method"], "POST");
    assert_eq!(
        summary["url"],
        format!("{TEST_BASE_URL}/api/v3/openai/gpt-image-1.5/text-to-image")
    );
    assert_eq!(summary["body"], json!({"prompt": "lamp"}));
    // The key is the core's to add, never the codec's.
    assert!(http.headers.get("authorization").is_none());
    // Sync mode is never asked for, whether or not the caller waits: a
    // gateway 504 would lose the id of a paid task.
    for request in table() {
        let body = create_request::<WavespeedCodec>(&request.1)
            .unwrap()
            .json_body();
        assert_ne!(body["enable_sync_mode"], json!(true), "{}", request.0);
    }
}

#[test]
fn typed_requests_carry_the_mapped_values() {
    let request = ImageRequest::new("x")
        .aspect(Aspect::Portrait)
        .quality(Quality::Low);
    let body = create_request::<WavespeedCodec>(&request)
        .unwrap()
        .json_body();
    // What is sent is a valid typed body (the generated types are strict).
    let typed: WavespeedTextToImageRequest = serde_json::from_value(body).unwrap();
    assert_eq!(typed.size.unwrap().to_string(), "1024*1536");
    assert_eq!(typed.quality, Some(WavespeedQuality::Low));
    let edit = request.reference(url("https://example.com/a.png"));
    let body = create_request::<WavespeedCodec>(&edit).unwrap().json_body();
    let typed: WavespeedEditRequest = serde_json::from_value(body).unwrap();
    assert_eq!(typed.size, Some(WavespeedEditSize::X10241536));
    assert_eq!(typed.images, ["https://example.com/a.png"]);
    assert_eq!(typed.prompt.as_str(), "x");
}

fn status_url(task: &TaskRef) -> String {
    let base = BaseUrl::parse(TEST_BASE_URL).unwrap();
    let http = codec::<WavespeedCodec>()
        .status(task, &Target::new(&base))
        .unwrap();
    assert_eq!(http.method.as_str(), "GET");
    http.url.to_string()
}

#[test]
fn the_status_follows_the_result_link_on_this_host_else_builds_the_result_path() {
    let id = "8b7f1f2e5c3a4d6e9f0a1b2c3d4e5f60";
    let built = format!("{TEST_BASE_URL}/api/v3/predictions/{id}/result");
    assert_eq!(status_url(&TaskRef::new(id)), built);
    // The id is one path segment, whatever it holds.
    assert_eq!(
        status_url(&TaskRef::new("a/b?c")),
        format!("{TEST_BASE_URL}/api/v3/predictions/a%2Fb%3Fc/result")
    );
    // `urls.get` as handed out, either documented path.
    for link in [
        format!("https://api.example.test/api/v3/predictions/{id}/result"),
        format!("https://api.example.test/api/v3/predictions/{id}"),
    ] {
        let task = TaskRef::new(id).with_links(TaskLinks::default().status(Some(link.clone())));
        assert_eq!(status_url(&task), link);
    }
    // A link to another host never gets the key: the path is built instead.
    let elsewhere = TaskLinks::default().status(Some("https://evil.example/steal".into()));
    assert_eq!(status_url(&TaskRef::new(id).with_links(elsewhere)), built);
}

#[test]
fn what_wavespeed_does_not_take_is_refused_before_sending() {
    let base = || ImageRequest::new(PROMPT);
    let seventeen = (0..17).fold(base(), |r, i| {
        r.reference(url(&format!("https://example.com/{i}.png")))
    });
    let cases = [
        (
            base().quality(Quality::Auto),
            "quality auto; allowed: low, medium, high",
        ),
        (
            base().reference(ReferenceImage::parse("./ref.png")),
            "not local files (./ref.png)",
        ),
        (
            base()
                .reference(url("https://example.com/a.png"))
                .input_fidelity(Fidelity::High),
            "does not offer input fidelity",
        ),
        (seventeen, "at most 16 reference images, 17 were given"),
        (base().size(ImageSize::new(512, 512)), "size 512x512"),
        (
            ImageRequest::new("é".repeat(32_001)),
            "32001 characters long; wavespeed accepts at most 32000",
        ),
    ];
    for (request, expected) in cases {
        let err = checked_create_request::<WavespeedCodec>(&request).unwrap_err();
        assert_refused(&err, expected);
        assert_eq!(err.provider(), Some("wavespeed"), "{err}");
    }
    // One image per task: the client fans a count out.
    assert_eq!(WavespeedCodec::capabilities().max_images_per_request, 1);
    // The codec's typed bodies cannot hold what the schemas do not document.
    let err = create_request::<WavespeedCodec>(&base().quality(Quality::Auto)).unwrap_err();
    assert_refused(&err, "`auto` is not a value");
    let err = create_request::<WavespeedCodec>(&ImageRequest::new("é".repeat(32_001)));
    assert_refused(&err.unwrap_err(), "longer than 32000 characters");
}

#[test]
fn capabilities_say_what_wavespeed_offers() {
    let caps = serde_json::to_value(WavespeedCodec::capabilities()).unwrap();
    let summary: Value = json!({
        "aspects": caps["aspects"], "qualities": caps["qualities"],
        "default_quality": caps["default_quality"], "reference_input": caps["reference_input"],
        "max_reference_images": caps["max_reference_images"],
        "input_fidelity": caps["input_fidelity"], "webhooks": caps["webhooks"],
        "mode": caps["mode"], "max_images_per_request": caps["max_images_per_request"],
        "poll_interval": caps["poll_interval"], "rate_limit": caps["rate_limit"],
        "output_formats": caps["output_formats"], "moderation": caps["moderation"],
    });
    snapshot!("capabilities", summary);
}
