//! The provider (`HttpProvider` over the codec) over real HTTP against
//! `imagegen-sim` on loopback: every aspect and quality, formats, counts,
//! edits, every error the sim can provoke, and fault bodies.

use std::time::Duration;

use imagegen_core::{
    Aspect, Codec, ErrorKind, Fidelity, HttpProvider, ImageProvider, ImageRequest, Quality,
    ReferenceImage, SubmitOptions, TaskRef,
};
use imagegen_openai::{OpenAi, OpenAiCodec};
use imagegen_sim::{FaultConfig, Sim, SimConfig, SimHandle, magic};
use imagegen_test_support::{assert_key_hidden, fast_client, loopback_config, provider_from};

use super::common::{inline, inline_reference, openai, png_size, succeeded, tiny_png};

async fn sim() -> SimHandle {
    Sim::start(SimConfig::fast())
        .await
        .expect("the simulator starts")
}

#[tokio::test]
async fn every_aspect_renders_at_its_size() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    let cases = [
        // Nothing sent: OpenAI's `auto` (the sim answers square).
        (None, (1024, 1024)),
        (Some(Aspect::Square), (1024, 1024)),
        (Some(Aspect::Portrait), (1024, 1536)),
        (Some(Aspect::Landscape), (1536, 1024)),
    ];
    for (aspect, size) in cases {
        let mut request = ImageRequest::new("A ceramic lamp").quality(Quality::Low);
        request.aspect = aspect;
        let status = provider
            .submit(&request, &SubmitOptions::new())
            .await
            .unwrap();
        succeeded(&status);
        assert_eq!(status.outputs.len(), 1);
        let (data, media_type) = inline(&status.outputs[0]);
        assert_eq!(media_type, "image/png");
        assert_eq!(png_size(data), size, "{aspect:?}");
    }
    let totals = sim.ledger().totals("openai");
    assert_eq!(totals.creates_accepted, 4);
    assert_eq!(totals.duplicate_creates, 0);
}

#[tokio::test]
async fn every_quality_is_sent_and_reported_in_usage() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    // Output tokens of one square image by quality (OpenAI's published
    // figures, which the sim reports); `auto` and unset answer `medium`.
    let cases = [
        (None, 1056),
        (Some(Quality::Low), 272),
        (Some(Quality::Medium), 1056),
        (Some(Quality::High), 4160),
        (Some(Quality::Auto), 1056),
    ];
    for (quality, output_tokens) in cases {
        let mut request = ImageRequest::new("A ceramic lamp").aspect(Aspect::Square);
        request.quality = quality;
        let status = provider
            .submit(&request, &SubmitOptions::new())
            .await
            .unwrap();
        succeeded(&status);
        let usage = status.usage.expect("usage is reported");
        assert_eq!(usage.output_tokens, output_tokens, "{quality:?}");
        assert_eq!(usage.input_tokens, 4, "ceil(14 chars / 4)");
        assert_eq!(usage.total_tokens, usage.input_tokens + usage.output_tokens);
        assert_eq!(png_size(inline(&status.outputs[0]).0), (1024, 1024));
    }
}

#[tokio::test]
async fn jpeg_and_webp_through_provider_options() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    for (format, media_type, magic_ok) in [
        (
            "jpeg",
            "image/jpeg",
            (|b: &[u8]| b.starts_with(&[0xFF, 0xD8, 0xFF])) as fn(&[u8]) -> bool,
        ),
        ("webp", "image/webp", |b: &[u8]| {
            b.len() > 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP"
        }),
        ("png", "image/png", |b: &[u8]| {
            b.starts_with(b"\x89PNG\r\n\x1a\n")
        }),
    ] {
        let request = ImageRequest::new("A ceramic lamp")
            .quality(Quality::Low)
            .provider_option("openai", "output_format", serde_json::json!(format));
        let status = provider
            .submit(&request, &SubmitOptions::new())
            .await
            .unwrap();
        let (data, got) = inline(&status.outputs[0]);
        assert_eq!(got, media_type);
        assert!(magic_ok(data), "{format}: bytes do not match");
    }
    // Compression is passed through for jpeg.
    let request = ImageRequest::new("A ceramic lamp")
        .provider_option("openai", "output_format", serde_json::json!("jpeg"))
        .provider_option("openai", "output_compression", serde_json::json!(50));
    let status = provider
        .submit(&request, &SubmitOptions::new())
        .await
        .unwrap();
    assert_eq!(inline(&status.outputs[0]).1, "image/jpeg");
}

#[tokio::test]
async fn n_two_is_one_request_with_two_images() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    let status = provider
        .submit(
            &ImageRequest::new("Two lamps")
                .aspect(Aspect::Landscape)
                .count(2),
            &SubmitOptions::new(),
        )
        .await
        .unwrap();
    succeeded(&status);
    assert_eq!(status.outputs.len(), 2);
    for output in &status.outputs {
        assert_eq!(png_size(inline(output).0), (1536, 1024));
    }
    let entry = sim.ledger().entry("openai", "sim-key").cloned().unwrap();
    assert_eq!(entry.creates_accepted, 1);
    assert_eq!(entry.credits_charged, 2, "1 credit per image");
}

#[tokio::test]
async fn an_edit_uploads_two_inline_references() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    let png = tiny_png();
    let request = ImageRequest::new("Put both lamps on one table")
        .aspect(Aspect::Portrait)
        .quality(Quality::Low)
        .input_fidelity(Fidelity::High)
        .reference(inline_reference("left.png", &png))
        .reference(inline_reference("right.png", &png));
    let status = provider
        .submit(&request, &SubmitOptions::new())
        .await
        .unwrap();
    succeeded(&status);
    assert_eq!(status.outputs.len(), 1);
    assert_eq!(png_size(inline(&status.outputs[0]).0), (1024, 1536));
    // The sim counts 323 input image tokens per uploaded image: both arrived.
    let usage = status.usage.unwrap();
    assert_eq!(
        usage.input_tokens,
        2 * 323 + 7,
        "two images + ceil(27 chars / 4)"
    );
    let entry = sim.ledger().entry("openai", "sim-key").cloned().unwrap();
    assert_eq!(entry.creates_accepted, 1);
    assert_eq!(entry.errors_sent, 0);
}

/// The client reads a local file reference (and downloads a URL one)
/// before the codec, which takes only bytes, sees the request.
#[tokio::test]
async fn a_local_file_reference_is_read_by_the_client() {
    let sim = sim().await;
    let client = fast_client(openai(&sim, "sim-key"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lamp.png");
    std::fs::write(&path, tiny_png()).unwrap();
    let generation = client
        .generate(ImageRequest::new("Make it blue").reference(ReferenceImage::File(path)))
        .await
        .unwrap();
    assert_eq!(generation.images.len(), 1);
    let usage = generation.tasks[0].usage.expect("usage");
    assert_eq!(usage.input_tokens, 323 + 3, "the image arrived");

    let missing = dir.path().join("missing.png");
    let err = client
        .generate(ImageRequest::new("x").reference(ReferenceImage::File(missing)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("missing.png"), "{err}");
    assert!(!err.may_have_reached_server());
    assert_eq!(sim.ledger().totals("openai").creates_accepted, 1);
}

/// A reference the client did not load never reaches the API through the
/// provider itself.
#[tokio::test]
async fn an_unloaded_reference_is_refused_before_sending() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    for reference in [
        ReferenceImage::Url("https://images.invalid/a.png".into()),
        ReferenceImage::parse("./lamp.png"),
    ] {
        let err = provider
            .submit(
                &ImageRequest::new("x").reference(reference),
                &SubmitOptions::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(!err.may_have_reached_server());
        assert_eq!(err.provider(), Some("openai"));
        assert!(err.to_string().contains("was not loaded"), "{err}");
    }
    assert!(sim.ledger().entries.is_empty(), "no request was sent");
}

#[tokio::test]
async fn a_bad_key_is_unauthorized_and_never_shown() {
    let sim = sim().await;
    let key = "sk-proj-not-a-real-key-1234567890";
    let provider = openai(&sim, key);
    assert!(!format!("{provider:?}").contains(key));
    let err = provider
        .submit(&ImageRequest::new("A ceramic lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(err.http_status(), Some(401));
    assert_eq!(err.code(), Some("invalid_api_key"));
    assert!(!err.is_retryable());
    assert!(!err.may_have_reached_server());
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("OPENAI_API_KEY"), "{shown}");
    assert!(!shown.contains(key), "{shown}");
}

#[tokio::test]
async fn an_empty_account_is_quota_exhausted() {
    let sim = sim().await;
    let provider = openai(&sim, magic::NO_CREDITS);
    let err = provider
        .submit(&ImageRequest::new("A ceramic lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExhausted);
    assert_eq!(err.code(), Some("insufficient_quota"));
    assert!(!err.is_retryable());
    assert!(err.hint().unwrap().contains("billing"));
    let entry = sim.ledger().entry("openai", magic::NO_CREDITS).cloned();
    assert_eq!(entry.map(|e| e.credits_charged), Some(0));
}

#[tokio::test]
async fn an_unknown_parameter_is_an_invalid_request_naming_it() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    let request = ImageRequest::new("A ceramic lamp").provider_option(
        "openai",
        "response_format",
        serde_json::json!("b64_json"),
    );
    let err = provider
        .submit(&request, &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(err.http_status(), Some(400));
    assert_eq!(err.code(), Some("unknown_parameter"));
    assert!(err.message().contains("'response_format'"), "{err}");
    assert!(!err.is_retryable());
    assert!(!err.may_have_reached_server());
    // The same through an edit's text fields.
    let request = request.reference(ReferenceImage::Inline {
        file_name: "a.png".into(),
        data: tiny_png().into(),
    });
    let err = provider
        .submit(&request, &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.message().contains("response_format"), "{err}");
    assert_eq!(sim.ledger().totals("openai").creates_accepted, 0);
}

#[tokio::test]
async fn a_bad_option_value_names_the_parameter() {
    let sim = sim().await;
    let provider = openai(&sim, "sim-key");
    let err = provider
        .submit(
            &ImageRequest::new("A ceramic lamp").provider_option(
                "openai",
                "output_format",
                serde_json::json!("gif"),
            ),
            &SubmitOptions::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.to_string().contains("output_format"), "{err}");
}

#[tokio::test]
async fn a_429_burst_is_rate_limited_with_retry_after() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        burst_429: 1.0,
        ..FaultConfig::default()
    });
    let provider = openai(&sim, "sim-key");
    let err = provider
        .submit(&ImageRequest::new("A ceramic lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.code(), Some("rate_limit_exceeded"));
    assert!(err.is_retryable());
    assert!(!err.may_have_reached_server());
    assert_eq!(err.retry_after(), Some(Duration::from_millis(1000)));
    let totals = sim.ledger().totals("openai");
    assert_eq!(totals.rate_limited, 1);
    assert_eq!(totals.creates_accepted, 0);
}

#[tokio::test]
async fn a_500_is_retryable_but_may_have_been_billed() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        create_500: 1.0,
        ..FaultConfig::default()
    });
    let err = openai(&sim, "sim-key")
        .submit(&ImageRequest::new("A ceramic lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.is_retryable());
    assert!(err.may_have_reached_server());
}

#[tokio::test]
async fn a_moderation_block_is_a_failed_generation() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        generation_failure: 1.0,
        ..FaultConfig::default()
    });
    let err = openai(&sim, "sim-key")
        .submit(&ImageRequest::new("A ceramic lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GenerationFailed);
    assert_eq!(err.code(), Some("moderation_blocked"));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_garbled_answer_is_a_decode_error_that_may_have_been_billed() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        malformed_json: 1.0,
        ..FaultConfig::default()
    });
    let err = openai(&sim, "sim-key")
        .submit(
            &ImageRequest::new("A ceramic lamp").quality(Quality::Low),
            &SubmitOptions::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    // Billed: so the client never sends it again unless the caller opted in.
    assert!(err.may_have_reached_server());
    assert_eq!(sim.ledger().totals("openai").credits_charged, 1);
}

#[tokio::test]
async fn a_dropped_connection_after_acceptance_is_ambiguous() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        drop_after_accept: 1.0,
        ..FaultConfig::default()
    });
    let err = openai(&sim, "sim-key")
        .submit(
            &ImageRequest::new("A ceramic lamp").quality(Quality::Low),
            &SubmitOptions::new(),
        )
        .await
        .unwrap_err();
    assert!(err.may_have_reached_server(), "{err:?}");
    assert_eq!(sim.ledger().totals("openai").creates_charged, 1);
}

#[tokio::test]
async fn status_sends_nothing_because_the_api_is_synchronous() {
    let sim = sim().await;
    let err = openai(&sim, "sim-key")
        .status(&TaskRef::new("openai-1700000000-0123456789abcdef"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotImplemented);
    assert_eq!(err.task_id(), Some("openai-1700000000-0123456789abcdef"));
    assert_eq!(err.provider(), Some("openai"));
    assert!(
        err.to_string().contains("status is not implemented"),
        "{err}"
    );
    assert!(!err.may_have_reached_server());
    assert!(sim.ledger().entries.is_empty(), "no request was sent");
}

#[tokio::test]
async fn other_models_are_sent_and_unknown_ones_refused_before_sending() {
    let sim = sim().await;
    let config = loopback_config(&sim.openai_url(), "sim-key").setting("model", "gpt-image-1-mini");
    let provider: OpenAi = provider_from(config);
    assert_eq!(provider.codec().model(), "gpt-image-1-mini");
    let status = provider
        .submit(
            &ImageRequest::new("A ceramic lamp").quality(Quality::Low),
            &SubmitOptions::new(),
        )
        .await
        .unwrap();
    succeeded(&status);
    // An unknown model is refused when the provider is made.
    let config = loopback_config(&sim.openai_url(), "sim-key").setting("model", "dall-e-3");
    let err = HttpProvider::<OpenAiCodec>::from_config(config).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(err.provider(), Some("openai"));
    assert!(err.to_string().contains("gpt-image-1.5"), "{err}");
    assert_eq!(sim.ledger().totals("openai").creates_accepted, 1);
}

/// More images than one request makes are fanned out by the client over
/// requests of at most 10 (`n`).
#[tokio::test]
async fn more_than_ten_images_are_fanned_out_by_the_client() {
    let sim = sim().await;
    let client = fast_client(openai(&sim, "sim-key"));
    let generation = client
        .generate(ImageRequest::new("lamps").quality(Quality::Low).count(12))
        .await
        .unwrap();
    assert_eq!(generation.images.len(), 12);
    assert_eq!(generation.tasks.len(), 2, "n=10, then n=2");
    let entry = sim.ledger().entry("openai", "sim-key").cloned().unwrap();
    assert_eq!(entry.creates_accepted, 2);
    assert_eq!(entry.credits_charged, 12);
}

#[test]
fn capabilities_and_constructors() {
    let caps = OpenAiCodec::capabilities();
    assert_eq!(caps.mode, imagegen_core::Mode::Sync);
    assert_eq!(caps.reference_input, imagegen_core::ReferenceInput::Uploads);
    assert_eq!(caps.max_reference_images, 16);
    assert_eq!(caps.max_images_per_request, 10);
    assert_eq!(caps.max_prompt_chars, 32_000);
    assert!(caps.input_fidelity && !caps.webhooks);
    assert_eq!(caps.rate_limit, None);
    assert_eq!(caps.request_timeout, Duration::from_secs(600));

    let provider: OpenAi =
        provider_from(loopback_config("http://127.0.0.1:9/v1/", "sk-secret-value"));
    assert_eq!(provider.base_url(), "http://127.0.0.1:9/v1");
    assert_eq!(provider.name(), "openai");
    assert_eq!(provider.capabilities(), &caps);
    assert_eq!(provider.codec().model(), imagegen_openai::DEFAULT_MODEL);
    let debug = assert_key_hidden(&provider, "sk-secret-value");
    assert!(debug.contains("127.0.0.1:9"), "{debug}");
}
