//! The common request → the submit (text-to-image, or the edit endpoint
//! with reference images), as snapshot tables of bodies and requests; the
//! status, result and cancel requests (the submit answer's links, else the
//! app's paths without the subpath); and the requests fal cannot take.

use imagegen_core::{
    Aspect, BaseUrl, Codec, Fidelity, ImageRequest, ImageSize, Quality, ReferenceImage, Target,
    TaskLinks, TaskRef,
};
use imagegen_fal::FalCodec;
use imagegen_test_support::{
    TEST_BASE_URL, aspect_requests, assert_refused, checked_create_request, codec, create_bodies,
    create_request, request_summary, snapshot,
};
use serde_json::{Map, json};

const PROMPT: &str = "A cinematic product photo of a ceramic lamp";

fn url(s: &str) -> ReferenceImage {
    ReferenceImage::Url(s.to_owned())
}

/// Representative requests: every aspect and quality, references with each
/// fidelity, counts, a webhook, and provider options.
fn table() -> Vec<(&'static str, ImageRequest)> {
    let base = || ImageRequest::new(PROMPT);
    let lamp = || url("https://v3.fal.media/files/rabbit/lamp.png");
    let mut table = aspect_requests(PROMPT);
    table.extend([
        (
            "explicit size 1024x1536 is aspect 2:3",
            base().size(ImageSize::new(1024, 1536)),
        ),
        ("quality low", base().quality(Quality::Low)),
        ("quality medium", base().quality(Quality::Medium)),
        ("quality high", base().quality(Quality::High)),
        ("count 1 is left out", base().count(1)),
        ("count 2", base().count(2)),
        ("count 4", base().count(4)),
        (
            "two reference URLs (edit)",
            base()
                .reference(lamp())
                .reference(url("https://v3.fal.media/files/rabbit/room.png")),
        ),
        (
            "edit with fidelity low",
            base().reference(lamp()).input_fidelity(Fidelity::Low),
        ),
        (
            "edit with fidelity high",
            base().reference(lamp()).input_fidelity(Fidelity::High),
        ),
        (
            "webhook (in the query, not the body)",
            base().callback_url("https://example.com/hooks/fal"),
        ),
        (
            "everything (edit)",
            base()
                .aspect(Aspect::Landscape)
                .quality(Quality::Medium)
                .count(3)
                .reference(lamp())
                .input_fidelity(Fidelity::High)
                .callback_url("https://example.com/hooks/fal"),
        ),
        (
            "provider options merged into the body, replacing a mapped field",
            base()
                .quality(Quality::Low)
                .provider_option("fal", "quality", json!("high"))
                .provider_option("fal", "output_format", json!("webp"))
                .provider_option("fal", "sync_mode", json!(true))
                .provider_option("replicate", "ignored", json!(true)),
        ),
    ]);
    table
}

#[test]
fn create_bodies_snapshot() {
    snapshot!("create_bodies", create_bodies::<FalCodec>(table()));
}

/// Where each submit goes: the edit endpoint only with references, the
/// webhook in the query.
#[test]
fn create_requests_snapshot() {
    let mut requests = Map::new();
    for (case, request) in table() {
        let http = checked_create_request::<FalCodec>(&request).unwrap();
        assert!(http.headers.get("authorization").is_none(), "the core's");
        let summary = request_summary(&http);
        requests.insert(case.to_owned(), json!([summary["method"], summary["url"]]));
    }
    snapshot!("create_requests", requests);
}

#[test]
fn the_edit_endpoint_takes_the_references_and_the_subpath() {
    let request = ImageRequest::new("make it blue")
        .reference(url("https://e.com/a.png"))
        .input_fidelity(Fidelity::Low);
    let http = create_request::<FalCodec>(&request).unwrap();
    assert_eq!(
        http.url.as_str(),
        format!("{TEST_BASE_URL}/fal-ai/gpt-image-1.5/edit")
    );
    assert_eq!(
        http.json_body(),
        json!({"prompt": "make it blue", "image_urls": ["https://e.com/a.png"], "input_fidelity": "low"})
    );
    let hooked = create_request::<FalCodec>(&request.callback_url("https://h.example/a?b=c"));
    assert_eq!(
        hooked.unwrap().url.query(),
        Some("fal_webhook=https%3A%2F%2Fh.example%2Fa%3Fb%3Dc")
    );
}

fn task_requests(task: &TaskRef) -> Vec<String> {
    let base = BaseUrl::parse("https://queue.fal.run").unwrap();
    let to = Target::new(&base);
    let codec = codec::<FalCodec>();
    [
        codec.status(task, &to),
        codec.result(task, &to),
        codec.cancel(task, &to),
    ]
    .into_iter()
    .map(|http| {
        let http = http.unwrap();
        format!("{} {}", http.method, http.url)
    })
    .collect()
}

#[test]
fn status_result_and_cancel_go_to_the_links_handed_out() {
    let id = "764cabcf-b745-4b3e-ae38-1200304cf45b";
    let at = format!("https://queue.fal.run/fal-ai/gpt-image-1.5/requests/{id}");
    let links = TaskLinks::new(
        Some(format!("{at}/status")),
        Some(at.clone()),
        Some(format!("{at}/cancel")),
    );
    let expected = [
        format!("GET {at}/status"),
        format!("GET {at}"),
        format!("PUT {at}/cancel"),
    ];
    assert_eq!(task_requests(&TaskRef::new(id).with_links(links)), expected);
    // Known by its id alone (a webhook, `imagegen status ID`): the app's
    // paths, without the edit subpath, as fal's clients rebuild them.
    assert_eq!(task_requests(&TaskRef::new(id)), expected);
    // An id is one path segment, whatever it holds.
    let odd = task_requests(&TaskRef::new("a/b?c"));
    assert!(odd[0].ends_with("/requests/a%2Fb%3Fc/status"), "{odd:?}");
}

#[test]
fn a_link_to_another_host_never_gets_the_key() {
    let base = BaseUrl::parse("https://queue.fal.run").unwrap();
    let links = TaskLinks::new(Some("https://evil.example/steal".into()), None, None);
    let task = TaskRef::new("r1").with_links(links);
    let err = codec::<FalCodec>()
        .status(&task, &Target::new(&base))
        .unwrap_err();
    assert!(err.to_string().contains("refusing"), "{err}");
}

#[test]
fn what_fal_does_not_take_is_refused_before_sending() {
    let base = || ImageRequest::new(PROMPT);
    let cases = [
        (
            base().quality(Quality::Auto),
            "quality auto; allowed: low, medium, high",
        ),
        (
            base().reference(ReferenceImage::parse("./lamp.png")),
            "not local files (./lamp.png)",
        ),
        (
            base().input_fidelity(Fidelity::High),
            "input fidelity only applies with reference images",
        ),
        (base().size(ImageSize::new(512, 512)), "size 512x512"),
        (
            ImageRequest::new("é".repeat(32_001)),
            "32001 characters long; fal accepts at most 32000",
        ),
    ];
    for (request, expected) in cases {
        let err = checked_create_request::<FalCodec>(&request).unwrap_err();
        assert_refused(&err, expected);
        assert_eq!(err.provider(), Some("fal"), "{err}");
    }
}

#[test]
fn the_codec_itself_refuses_what_its_wire_types_cannot_hold() {
    for (request, expected) in [
        (ImageRequest::new("x").quality(Quality::Auto), "`auto`"),
        (ImageRequest::new("x").count(5), "cannot be sent"),
        (ImageRequest::new("é".repeat(32_001)), "longer than 32000"),
    ] {
        let err = create_request::<FalCodec>(&request).unwrap_err();
        assert_refused(&err, expected);
    }
    assert!(create_request::<FalCodec>(&ImageRequest::new("é".repeat(32_000))).is_ok());
}
