//! The common request → the create (`POST .../predictions`), as a snapshot
//! table of bodies; the headers of a create held open while the caller
//! waits (`Prefer: wait`, `Cancel-After`, its own timeout); the status and
//! cancel requests (the prediction's `urls`, else its path); and the
//! requests Replicate cannot take.

use std::time::Duration;

use imagegen_core::{
    Aspect, BaseUrl, Codec, Fidelity, HttpRequest, ImageRequest, ImageSize, Quality,
    ReferenceImage, Target, TaskLinks, TaskRef,
};
use imagegen_replicate::ReplicateCodec;
use imagegen_test_support::{
    TEST_BASE_URL, aspect_requests, assert_refused, checked_create_request, codec, create_bodies,
    create_request, snapshot,
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
    let lamp = || url("https://replicate.delivery/pbxt/lamp.png");
    let mut table = aspect_requests(PROMPT);
    table.extend([
        (
            "explicit size 1536x1024 is aspect 3:2",
            base().size(ImageSize::new(1536, 1024)),
        ),
        ("quality low", base().quality(Quality::Low)),
        ("quality medium", base().quality(Quality::Medium)),
        ("quality high", base().quality(Quality::High)),
        ("quality auto", base().quality(Quality::Auto)),
        ("count 1 is left out", base().count(1)),
        ("count 10", base().count(10)),
        (
            "two reference URLs",
            base()
                .reference(lamp())
                .reference(url("https://replicate.delivery/pbxt/room.png")),
        ),
        (
            "references with fidelity low",
            base().reference(lamp()).input_fidelity(Fidelity::Low),
        ),
        (
            "references with fidelity high",
            base().reference(lamp()).input_fidelity(Fidelity::High),
        ),
        (
            "webhook, completed events only",
            base().callback_url("https://example.com/hooks/replicate"),
        ),
        (
            "everything",
            base()
                .aspect(Aspect::Portrait)
                .quality(Quality::High)
                .count(2)
                .reference(lamp())
                .input_fidelity(Fidelity::High)
                .callback_url("https://example.com/hooks/replicate"),
        ),
        (
            "provider options merged into input, replacing a mapped field",
            base()
                .quality(Quality::Low)
                .provider_option("replicate", "quality", json!("high"))
                .provider_option("replicate", "output_format", json!("webp"))
                .provider_option("replicate", "moderation", json!("low"))
                .provider_option("fal", "ignored", json!(true)),
        ),
    ]);
    table
}

#[test]
fn create_bodies_snapshot() {
    snapshot!("create_bodies", create_bodies::<ReplicateCodec>(table()));
}

fn held(hold: Option<Duration>, deadline: Option<Duration>) -> HttpRequest {
    let base = BaseUrl::parse(TEST_BASE_URL).unwrap();
    let to = Target::new(&base).with(hold, deadline);
    codec::<ReplicateCodec>()
        .create(&ImageRequest::new("lamp"), &to)
        .unwrap()
}

fn header<'a>(http: &'a HttpRequest, name: &str) -> Option<&'a str> {
    http.headers.get(name).map(|v| v.to_str().unwrap())
}

#[test]
fn a_create_is_held_open_only_while_the_caller_waits() {
    let minute = Duration::from_secs(60);
    // Submit only: answered at once, polled later, never cancelled by us.
    let http = create_request::<ReplicateCodec>(&ImageRequest::new("lamp")).unwrap();
    assert_eq!(
        http.url.as_str(),
        format!("{TEST_BASE_URL}/models/openai/gpt-image-1.5/predictions")
    );
    assert_eq!(header(&http, "prefer"), None);
    assert_eq!(header(&http, "cancel-after"), None);
    assert_eq!(http.timeout, None);
    assert!(http.headers.get("authorization").is_none(), "the core's");

    let mut out = Map::new();
    for (case, hold, deadline) in [
        (
            "the client waits ten minutes",
            Some(minute),
            Some(10 * minute),
        ),
        (
            "a 20 s wait",
            Some(Duration::from_secs(20)),
            Some(Duration::from_secs(20)),
        ),
        ("2.9 s are 2 s", Some(Duration::from_millis(2900)), None),
        (
            "more than Replicate holds",
            Some(5 * minute),
            Some(5 * minute),
        ),
        (
            "under a second: not held",
            Some(Duration::from_millis(999)),
            Some(minute),
        ),
    ] {
        let http = held(hold, deadline);
        out.insert(
            case.to_owned(),
            json!({
                "prefer": header(&http, "prefer"),
                "cancel-after": header(&http, "cancel-after"),
                "timeout_s": http.timeout.map(|t| t.as_secs()),
            }),
        );
    }
    snapshot!("held_creates", out);
}

fn task_requests(task: &TaskRef) -> Vec<String> {
    let base = BaseUrl::parse("https://api.replicate.com/v1").unwrap();
    let to = Target::new(&base);
    let codec = codec::<ReplicateCodec>();
    [codec.status(task, &to), codec.cancel(task, &to)]
        .into_iter()
        .map(|http| {
            let http = http.unwrap();
            format!("{} {}", http.method, http.url)
        })
        .collect()
}

#[test]
fn status_and_cancel_go_to_the_prediction_s_urls() {
    let id = "z3jpsevkdhrm80cv56maz0tehw";
    let get = format!("https://api.replicate.com/v1/predictions/{id}");
    let links = TaskLinks::new(Some(get.clone()), None, Some(format!("{get}/cancel")));
    let expected = [format!("GET {get}"), format!("POST {get}/cancel")];
    assert_eq!(task_requests(&TaskRef::new(id).with_links(links)), expected);
    // Known by its id alone: the same paths.
    assert_eq!(task_requests(&TaskRef::new(id)), expected);
    // A link elsewhere never gets the token.
    let links = TaskLinks::new(Some("https://evil.example/p".into()), None, None);
    let base = BaseUrl::parse("https://api.replicate.com/v1").unwrap();
    let err = codec::<ReplicateCodec>()
        .status(&TaskRef::new(id).with_links(links), &Target::new(&base))
        .unwrap_err();
    assert!(err.to_string().contains("refusing"), "{err}");
}

#[test]
fn what_replicate_does_not_take_is_refused_before_sending() {
    let base = || ImageRequest::new(PROMPT);
    let cases = [
        (
            base().reference(ReferenceImage::parse("./lamp.png")),
            "not local files (./lamp.png)",
        ),
        (
            base().input_fidelity(Fidelity::Low),
            "input fidelity only applies with reference images",
        ),
        (base().size(ImageSize::new(1792, 1024)), "size 1792x1024"),
        (
            ImageRequest::new("é".repeat(32_001)),
            "32001 characters long; replicate accepts at most 32000",
        ),
    ];
    for (request, expected) in cases {
        let err = checked_create_request::<ReplicateCodec>(&request).unwrap_err();
        assert_refused(&err, expected);
        assert_eq!(err.provider(), Some("replicate"));
    }
    // The codec itself refuses what its wire types cannot hold.
    let err = create_request::<ReplicateCodec>(&base().count(11)).unwrap_err();
    assert_refused(&err, "cannot be sent");
}
