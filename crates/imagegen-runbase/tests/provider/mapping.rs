//! The common request → the `POST /runs` body, as a snapshot table, and the
//! requests Runbase cannot take.

use imagegen_core::{Aspect, Fidelity, ImageRequest, ImageSize, Quality, ReferenceImage};
use imagegen_runbase::generated::{RunbaseAspectRatio, RunbaseQuality};
use imagegen_runbase::wire::{build_create_request, create_body, create_body_json};
use imagegen_test_support::{aspect_requests, assert_refused, create_bodies, snapshot};
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
    let bodies = create_bodies(table(), create_body_json, create_body);
    snapshot!("create_bodies", bodies);
}

#[test]
fn typed_request_carries_the_mapped_values() {
    let typed = build_create_request(
        &ImageRequest::new("x")
            .aspect(Aspect::Portrait)
            .quality(Quality::High),
    )
    .unwrap();
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
        (base().count(2), "one image per run"),
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
        assert_refused(
            &build_create_request(&request).unwrap_err(),
            "runbase",
            expected,
        );
        assert!(create_body(&request).is_err());
    }
}
