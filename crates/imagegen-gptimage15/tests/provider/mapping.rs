//! The common request → the `POST /generate` request, as a snapshot table
//! of bodies, the status request, and the requests gptimage15.ai cannot
//! take.

use imagegen_core::{
    Aspect, BaseUrl, Codec, Fidelity, ImageRequest, ImageSize, Quality, ReferenceImage, Target,
    TaskRef,
};
use imagegen_gptimage15::Gptimage15Codec;
use imagegen_gptimage15::generated::{
    Gptimage15GenerateRequest, Gptimage15InputFidelity, Gptimage15Quality, Gptimage15Size,
};
use imagegen_test_support::{
    TEST_BASE_URL, aspect_requests, assert_refused, checked_create_request, codec, create_bodies,
    create_request, request_summary, snapshot,
};
use serde_json::json;

const PROMPT: &str = "A serene mountain landscape";

fn url(s: &str) -> ReferenceImage {
    ReferenceImage::Url(s.to_owned())
}

/// Representative requests.
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
        (
            "two reference URLs",
            base()
                .reference(url("https://example.com/landscape.jpg"))
                .reference(url("https://example.com/sky.png")),
        ),
        (
            "references with fidelity low",
            base()
                .reference(url("https://example.com/landscape.jpg"))
                .input_fidelity(Fidelity::Low),
        ),
        (
            "references with fidelity high",
            base()
                .reference(url("https://example.com/landscape.jpg"))
                .input_fidelity(Fidelity::High),
        ),
        (
            "callback",
            base().callback_url("https://example.com/hooks/gptimage15"),
        ),
        (
            "everything",
            base()
                .aspect(Aspect::Landscape)
                .quality(Quality::High)
                .reference(url("https://example.com/landscape.jpg"))
                .input_fidelity(Fidelity::High)
                .callback_url("https://example.com/hooks/gptimage15"),
        ),
        (
            "provider options merged into the body, replacing a mapped field",
            base()
                .quality(Quality::Low)
                .provider_option("gptimage15", "quality", json!("high"))
                .provider_option("gptimage15", "type", json!("text-to-image"))
                .provider_option("runbase", "ignored", json!(true)),
        ),
    ]);
    table
}

#[test]
fn create_bodies_snapshot() {
    let bodies = create_bodies::<Gptimage15Codec>(table());
    snapshot!("create_bodies", bodies);
}

#[test]
fn the_create_is_a_json_post_to_generate() {
    let http = create_request::<Gptimage15Codec>(&ImageRequest::new("lamp")).unwrap();
    let summary = request_summary(&http);
    assert_eq!(summary["method"], "POST");
    assert_eq!(summary["url"], format!("{TEST_BASE_URL}/generate"));
    assert_eq!(summary["body"], json!({"prompt": "lamp"}));
    // The key is the core's to add, never the codec's.
    assert!(http.headers.get("authorization").is_none());
}

#[test]
fn the_status_is_a_get_with_the_id_query_encoded() {
    let base = BaseUrl::parse(TEST_BASE_URL).unwrap();
    let codec = codec::<Gptimage15Codec>();
    let http = codec
        .status(&TaskRef::new("n36abc"), &Target::new(&base))
        .unwrap();
    assert_eq!(http.method.as_str(), "GET");
    assert_eq!(
        http.url.as_str(),
        format!("{TEST_BASE_URL}/status?task_id=n36abc")
    );
    let http = codec
        .status(&TaskRef::new("a&b=c d#e"), &Target::new(&base))
        .unwrap();
    assert_eq!(
        http.url.as_str(),
        format!("{TEST_BASE_URL}/status?task_id=a%26b%3Dc+d%23e")
    );
    assert_eq!(
        http.url.query_pairs().collect::<Vec<_>>(),
        [("task_id".into(), "a&b=c d#e".into())]
    );
}

#[test]
fn typed_request_carries_the_mapped_values() {
    let request = ImageRequest::new("x")
        .aspect(Aspect::Portrait)
        .quality(Quality::Low)
        .reference(url("https://example.com/a.png"))
        .input_fidelity(Fidelity::High);
    let http = create_request::<Gptimage15Codec>(&request).unwrap();
    // What is sent is a valid typed body (the generated type is strict).
    let typed: Gptimage15GenerateRequest = serde_json::from_value(http.json_body()).unwrap();
    assert_eq!(typed.size, Some(Gptimage15Size::X10241536));
    assert_eq!(typed.quality, Some(Gptimage15Quality::Low));
    assert_eq!(typed.input_fidelity, Some(Gptimage15InputFidelity::High));
    assert_eq!(typed.images, ["https://example.com/a.png"]);
    assert_eq!(typed.prompt.as_str(), "x");
}

#[test]
fn what_gptimage15_does_not_take_is_refused_before_sending() {
    let base = || ImageRequest::new(PROMPT);
    let cases = [
        (
            base().quality(Quality::Auto),
            "quality auto; allowed: low, medium, high",
        ),
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
        (
            ImageRequest::new("é".repeat(2001)),
            "2001 characters long; gptimage15 accepts at most 2000",
        ),
    ];
    for (request, expected) in cases {
        let err = checked_create_request::<Gptimage15Codec>(&request).unwrap_err();
        assert_refused(&err, expected);
        assert_eq!(err.provider(), Some("gptimage15"), "{err}");
    }
    // Exactly 2000 characters (not bytes) is fine.
    let body = checked_create_request::<Gptimage15Codec>(&ImageRequest::new("é".repeat(2000)))
        .unwrap()
        .json_body();
    assert_eq!(body["prompt"].as_str().unwrap().chars().count(), 2000);
    // A count is not refused: the client fans it out over tasks of one
    // image (see `sim::a_count_is_fanned_out_over_tasks_by_the_client`).
    assert_eq!(Gptimage15Codec::capabilities().max_images_per_request, 1);
}

#[test]
fn the_codec_itself_refuses_what_its_wire_types_cannot_hold() {
    let err = create_request::<Gptimage15Codec>(&ImageRequest::new("x").quality(Quality::Auto))
        .unwrap_err();
    assert_refused(&err, "`auto` is not a value");
    let err = create_request::<Gptimage15Codec>(&ImageRequest::new("é".repeat(2001))).unwrap_err();
    assert_refused(&err, "longer than 2000 characters");
    assert!(create_request::<Gptimage15Codec>(&ImageRequest::new("é".repeat(2000))).is_ok());
}
