//! The common request → the `POST /generate` body, as a snapshot table, and
//! the requests gptimage15.ai cannot take.

use imagegen_core::{Aspect, Fidelity, ImageRequest, ImageSize, Quality, ReferenceImage};
use imagegen_gptimage15::generated::{Gptimage15Quality, Gptimage15Size};
use imagegen_gptimage15::wire::{build_create_request, create_body, create_body_json};
use imagegen_test_support::{aspect_requests, assert_refused, create_bodies, snapshot};
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
    let bodies = create_bodies(table(), create_body_json, create_body);
    snapshot!("create_bodies", bodies);
}

#[test]
fn typed_request_carries_the_mapped_values() {
    let typed = build_create_request(
        &ImageRequest::new("x")
            .aspect(Aspect::Portrait)
            .quality(Quality::Low),
    )
    .unwrap();
    assert_eq!(typed.size, Some(Gptimage15Size::X10241536));
    assert_eq!(typed.quality, Some(Gptimage15Quality::Low));
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
        (base().count(3), "one image per task"),
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
        assert_refused(
            &build_create_request(&request).unwrap_err(),
            "gptimage15",
            expected,
        );
    }
    // Exactly 2000 characters (not bytes) is fine.
    assert!(build_create_request(&ImageRequest::new("é".repeat(2000))).is_ok());
}
