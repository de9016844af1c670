//! The common request → the `POST /runs` request, as a snapshot table of
//! bodies, the status request, and the requests Runbase cannot take.

use imagegen_core::{
    Aspect, Codec, Fidelity, ImageRequest, ImageSize, Quality, ReferenceImage, TaskRef,
};
use imagegen_core::{BaseUrl, Target};
use imagegen_runbase::RunbaseCodec;
use imagegen_runbase::generated::{RunbaseAspectRatio, RunbaseCreateRunRequest, RunbaseQuality};
use imagegen_test_support::{
    TEST_BASE_URL, aspect_requests, assert_refused, checked_create_request, codec, create_bodies,
    create_request, request_summary, snapshot,
};
use serde_json::json;

const PROMPT: &str = "A cinematic product photo of a ceramic lamp";

fn url(s: &str) -> ReferenceImage {
    ReferenceImage::Url(s.to_owned())
}

/// Representative requests, in the order of the snapshot.
fn table() -> Vec<(&'static str, ImageRequest)> {
    let base = || ImageRequest::new(PROMPT);
    let mut table = aspect_requests(PROMPT);
    table.extend([
        (
            "explicit size 1536x1024 is aspect 3:2",
            base().size(ImageSize::new(1536, 1024)),
        ),
        ("quality medium", base().quality(Quality::Medium)),
        ("quality high", base().quality(Quality::High)),
        (
            "two reference URLs",
            base()
                .reference(url("https://example.com/a.png"))
                .reference(url("https://example.com/b.jpg")),
        ),
        (
            "everything Runbase offers",
            base()
                .aspect(Aspect::Portrait)
                .quality(Quality::High)
                .reference(url("https://example.com/a.png")),
        ),
        (
            "provider options merged into input, replacing a mapped field",
            base()
                .quality(Quality::Medium)
                .provider_option("runbase", "seed", json!(7))
                .provider_option("runbase", "quality", json!("high"))
                .provider_option("gptimage15", "ignored", json!(true)),
        ),
    ]);
    table
}

#[test]
fn create_bodies_snapshot() {
    let bodies = create_bodies::<RunbaseCodec>(table());
    snapshot!("create_bodies", bodies);
}

#[test]
fn the_create_is_a_json_post_to_runs() {
    let http = create_request::<RunbaseCodec>(&ImageRequest::new("lamp")).unwrap();
    let summary = request_summary(&http);
    assert_eq!(summary["method"], "POST");
    assert_eq!(summary["url"], format!("{TEST_BASE_URL}/runs"));
    assert_eq!(
        summary["body"],
        json!({"model": "openai/gpt-image-1.5", "input": {"prompt": "lamp"}})
    );
    // The key is the core's to add, never the codec's.
    assert!(http.headers.get("authorization").is_none());
}

#[test]
fn the_status_is_a_get_of_the_run_with_the_id_as_one_segment() {
    let base = BaseUrl::parse(TEST_BASE_URL).unwrap();
    let codec = codec::<RunbaseCodec>();
    let http = codec
        .status(&TaskRef::new("run_123"), &Target::new(&base))
        .unwrap();
    assert_eq!(http.method.as_str(), "GET");
    assert_eq!(http.url.as_str(), format!("{TEST_BASE_URL}/runs/run_123"));
    let http = codec
        .status(&TaskRef::new("a/b c?d#e"), &Target::new(&base))
        .unwrap();
    assert_eq!(
        http.url.as_str(),
        format!("{TEST_BASE_URL}/runs/a%2Fb%20c%3Fd%23e")
    );
}

#[test]
fn typed_request_carries_the_mapped_values() {
    let http = create_request::<RunbaseCodec>(
        &ImageRequest::new("x")
            .aspect(Aspect::Portrait)
            .quality(Quality::High),
    )
    .unwrap();
    // What is sent is a valid typed body (the generated type is strict).
    let typed: RunbaseCreateRunRequest = serde_json::from_value(http.json_body()).unwrap();
    assert_eq!(typed.input.aspect_ratio, Some(RunbaseAspectRatio::X23));
    assert_eq!(typed.input.quality, Some(RunbaseQuality::High));
    assert_eq!(typed.model.to_string(), "openai/gpt-image-1.5");
}

#[test]
fn what_runbase_does_not_offer_is_refused_before_sending() {
    let base = || ImageRequest::new(PROMPT);
    let cases = [
        (
            base().quality(Quality::Low),
            "quality low; allowed: medium, high",
        ),
        (
            base().quality(Quality::Auto),
            "quality auto; allowed: medium, high",
        ),
        (base().input_fidelity(Fidelity::High), "input fidelity"),
        (base().callback_url("http://127.0.0.1:1/cb"), "webhooks"),
        (
            base().reference(ReferenceImage::parse("./ref.png")),
            "not local files (./ref.png)",
        ),
        (base().size(ImageSize::new(512, 512)), "size 512x512"),
        (
            base()
                .aspect(Aspect::Square)
                .size(ImageSize::new(1536, 1024)),
            "size 1536x1024 is aspect 3:2, but aspect 1:1",
        ),
    ];
    for (request, expected) in cases {
        let err = checked_create_request::<RunbaseCodec>(&request).unwrap_err();
        assert_refused(&err, expected);
        assert_eq!(err.provider(), Some("runbase"), "{err}");
    }
    // A count is not refused: the client fans it out over runs of one image
    // (see `sim::a_count_is_fanned_out_over_runs`).
    assert_eq!(RunbaseCodec::capabilities().max_images_per_request, 1);
}

#[test]
fn the_codec_itself_refuses_a_quality_its_wire_type_lacks() {
    for quality in [Quality::Low, Quality::Auto] {
        let err =
            create_request::<RunbaseCodec>(&ImageRequest::new("x").quality(quality)).unwrap_err();
        assert_refused(&err, &format!("`{quality}` is not a value"));
    }
}

#[test]
fn runbase_has_no_webhooks() {
    use imagegen_core::{ErrorKind, ImageProvider, WebhookCall};
    assert!(!RunbaseCodec::capabilities().webhooks);
    let runbase = super::common::provider("http://127.0.0.1:9/runbase/api/v1", "k");
    let call = WebhookCall::new(Default::default(), r#"{"id":"run_1"}"#, None);
    let err = runbase.webhook_task(&call).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotImplemented);
    assert_eq!(err.provider(), Some("runbase"));
}
