//! The provider (`HttpProvider` over the codec) over real HTTP against
//! `imagegen-sim` on loopback: every aspect and quality, edits, counts,
//! the content filter, deployments and API versions, keys, the quota, and
//! what never reaches the server.

use std::time::Duration;

use imagegen_azure::{Azure, AzureCodec};
use imagegen_core::{
    ApiKey, Aspect, Codec, ErrorKind, Fidelity, HttpProvider, ImageOutput, ImageProvider,
    ImageRequest, ProviderConfig, Quality, SubmitOptions, TaskState,
};
use imagegen_sim::{FaultConfig, Sim, SimConfig, SimHandle, magic};
use imagegen_test_support::{answer, assert_key_hidden, fast_client, serve_once};
use serde_json::json;

use super::common::{azure, inline_reference, png_size, tiny_png};

const KEY: &str = imagegen_sim::DEFAULT_API_KEY;

/// A sim without Azure's 9-a-minute quota, for tests that make many images
/// (the quota has its own test).
async fn unlimited() -> SimHandle {
    let config = SimConfig::fast().azure_rate_limit(0, Duration::from_secs(60));
    Sim::start(config).await.expect("sim starts")
}

fn on(sim: &SimHandle) -> Azure {
    azure(&sim.azure_url(), KEY, &[])
}

async fn submit(
    provider: &Azure,
    request: &ImageRequest,
) -> Result<imagegen_core::TaskStatus, imagegen_core::Error> {
    provider.submit(request, &SubmitOptions::new()).await
}

fn inline(output: &ImageOutput) -> &[u8] {
    match output {
        ImageOutput::Inline { data, .. } => data,
        other => panic!("inline bytes expected: {other:?}"),
    }
}

#[tokio::test]
async fn every_aspect_and_quality_makes_a_png_of_the_right_size() {
    let sim = unlimited().await;
    let provider = on(&sim);
    for aspect in Aspect::ALL {
        for quality in [Quality::Low, Quality::Medium, Quality::High, Quality::Auto] {
            let request = ImageRequest::new(format!("a lamp, {aspect} {quality}"))
                .aspect(aspect)
                .quality(quality);
            let done = submit(&provider, &request).await.unwrap();
            assert_eq!(done.state, TaskState::Succeeded, "{aspect} {quality}");
            assert!(done.task_id.starts_with("azure-"), "{}", done.task_id);
            assert!(done.usage.is_some());
            let size = aspect.size();
            assert_eq!(
                png_size(inline(&done.outputs[0])),
                (size.width, size.height)
            );
        }
    }
    let entry = sim.ledger().entry("azure", KEY).cloned().unwrap();
    assert_eq!(entry.creates_charged, 12);
    assert_eq!(entry.duplicate_creates, 0);
}

#[tokio::test]
async fn a_count_is_one_request_and_references_are_an_edit() {
    let sim = unlimited().await;
    let provider = on(&sim);
    let three = ImageRequest::new("three lamps")
        .aspect(Aspect::Portrait)
        .count(3);
    let client = fast_client(on(&sim));
    let generation = client.generate(three).await.unwrap();
    assert_eq!(generation.images.len(), 3);
    assert_eq!(generation.tasks.len(), 1, "one request for up to 10 images");
    let png = tiny_png();
    let edit = ImageRequest::new("make them one")
        .aspect(Aspect::Landscape)
        .reference(inline_reference("a.png", &png))
        .reference(inline_reference("b.png", &png))
        .input_fidelity(Fidelity::High)
        .provider_option("azure", "output_format", json!("jpeg"));
    let err = submit(&provider, &edit).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidRequest,
        "no output_format on edits: {err}"
    );
    let edit = ImageRequest::new("make them one")
        .aspect(Aspect::Landscape)
        .reference(inline_reference("a.png", &png))
        .reference(inline_reference("b.png", &png))
        .input_fidelity(Fidelity::High);
    let done = submit(&provider, &edit).await.unwrap();
    assert_eq!(png_size(inline(&done.outputs[0])), (1536, 1024));
    // A JPEG generation through Azure's own option.
    let jpeg =
        ImageRequest::new("a jpeg lamp").provider_option("azure", "output_format", json!("jpeg"));
    let done = submit(&provider, &jpeg).await.unwrap();
    let ImageOutput::Inline { media_type, .. } = &done.outputs[0] else {
        panic!()
    };
    assert_eq!(media_type, "image/jpeg");
    let totals = sim.ledger().totals("azure");
    assert_eq!(totals.creates_charged, 3);
}

#[tokio::test]
async fn the_content_filter_refuses_with_its_category_and_charges_nothing() {
    let sim = unlimited().await;
    let client = fast_client(on(&sim));
    let request = ImageRequest::new(format!("a lamp {}", magic::CONTENT_POLICY_PROMPT));
    let err = client.generate(request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GenerationFailed, "{err}");
    assert_eq!(err.code(), Some("contentFilter"));
    assert_eq!(
        err.message(),
        "Your task failed as a result of our safety system. (content filter: sexual)"
    );
    assert!(!err.is_retryable());
    assert!(!err.may_have_reached_server());
    assert_eq!(sim.ledger().totals("azure").creates_charged, 0);
    // A server error after the generation time: possibly charged, sent once.
    let request = ImageRequest::new(format!("a lamp {}", magic::SERVER_ERROR_PROMPT));
    let err = client.generate(request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.may_have_reached_server());
    assert_eq!(sim.ledger().totals("azure").errors_sent, 2, "sent once");
}

#[tokio::test]
async fn deployments_api_versions_and_keys() {
    let sim = unlimited().await;
    let lamp = ImageRequest::new("lamp");
    let cases = [
        (
            KEY,
            ("deployment", "dall-e-3"),
            ErrorKind::NotFound,
            "AZURE_OPENAI_DEPLOYMENT",
        ),
        (
            KEY,
            ("api_version", "2024-10-21"),
            ErrorKind::InvalidRequest,
            "2025-04-01-preview and later",
        ),
        (
            KEY,
            ("api_version", "2025-06-01"),
            ErrorKind::InvalidRequest,
            "API version not supported",
        ),
        (
            KEY,
            ("api_version", "2024-12-01-preview"),
            ErrorKind::InvalidRequest,
            "2025-04-01-preview and later",
        ),
        (
            "wrong-key",
            ("deployment", "gpt-image-1.5"),
            ErrorKind::Unauthorized,
            "AZURE_OPENAI_API_KEY",
        ),
        (
            magic::IP_NOT_ALLOWED,
            ("deployment", "gpt-image-1.5"),
            ErrorKind::Forbidden,
            "Firewall",
        ),
        (
            magic::NO_CREDITS,
            ("deployment", "gpt-image-1.5"),
            ErrorKind::Forbidden,
            "quota",
        ),
    ];
    for (key, setting, kind, said) in cases {
        let provider = azure(&sim.azure_url(), key, &[setting]);
        let err = submit(&provider, &lamp).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{setting:?} {key}: {err}");
        assert!(
            format!("{err} {:?}", err.hint()).contains(said),
            "{err} {:?}",
            err.hint()
        );
        assert!(!err.may_have_reached_server(), "{err:?}");
    }
    // Another deployment the resource has.
    let sim = Sim::start(SimConfig::fast().azure_deployment("images-prod"))
        .await
        .unwrap();
    let provider = azure(
        &sim.azure_url(),
        KEY,
        &[
            ("deployment", "images-prod"),
            ("api_version", "2025-06-01-preview"),
        ],
    );
    assert!(submit(&provider, &lamp).await.is_ok());
}

#[tokio::test]
async fn the_key_goes_in_the_api_key_header_only() {
    let body = json!({"created": 1, "data": [{"b64_json": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR4nGNgAAIAAAUAAXpeqz8AAAAASUVORK5CYII="}]});
    let (url, captured) = serve_once(answer(200, &[], body.to_string().as_bytes())).await;
    let provider = azure(&url, "azure-key-123", &[]);
    submit(&provider, &ImageRequest::new("lamp")).await.unwrap();
    let captured = captured.await.unwrap();
    assert_eq!(
        captured.request_line(),
        "POST /openai/deployments/gpt-image-1.5/images/generations?api-version=2025-04-01-preview HTTP/1.1"
    );
    assert_eq!(captured.header("api-key"), Some("azure-key-123"));
    assert_eq!(captured.header("authorization"), None);
}

#[tokio::test]
async fn the_quota_answers_429_with_its_wait() {
    // A quota of 2 a minute, per key and deployment (the default is 9).
    let sim = Sim::start(SimConfig::fast().azure_rate_limit(2, Duration::from_secs(60)))
        .await
        .unwrap();
    let provider = on(&sim);
    for prompt in ["one", "two"] {
        submit(&provider, &ImageRequest::new(prompt)).await.unwrap();
    }
    let err = submit(&provider, &ImageRequest::new("three"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    let wait = err.retry_after().expect("retry-after-ms");
    assert!(
        wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert!(err.is_retryable());
    assert!(!err.may_have_reached_server());
    assert!(AzureCodec::capabilities().rate_limit.is_some());
}

#[tokio::test]
async fn what_azure_does_not_take_never_reaches_it() {
    let sim = unlimited().await;
    let provider = on(&sim);
    for request in [
        ImageRequest::new("lamp").provider_option("azure", "output_format", json!("webp")),
        ImageRequest::new("lamp").provider_option("azure", "moderation", json!("low")),
        ImageRequest::new("x".repeat(32_001)),
    ] {
        let err = submit(&provider, &request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
        assert!(!err.may_have_reached_server());
    }
    assert!(sim.ledger().entries.is_empty(), "no request was sent");
}

#[tokio::test]
async fn faults_never_pay_twice() {
    let sim = Sim::start(SimConfig::fast().azure_rate_limit(0, Duration::from_secs(60)))
        .await
        .unwrap();
    sim.set_faults(FaultConfig {
        drop_after_accept: 1.0,
        ..Default::default()
    });
    let client = fast_client(on(&sim));
    let err = client
        .generate(ImageRequest::new("lamp"))
        .await
        .unwrap_err();
    assert!(err.may_have_reached_server(), "{err:?}");
    let totals = sim.ledger().totals("azure");
    assert_eq!(totals.creates_charged, 1);
    assert_eq!(totals.duplicate_creates, 0);
}

#[tokio::test]
async fn without_an_endpoint_the_variable_is_named_and_the_key_never_shows() {
    let err =
        HttpProvider::<AzureCodec>::from_config(ProviderConfig::new().api_key(ApiKey::new("k")))
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(
        err.hint().unwrap().contains("AZURE_OPENAI_ENDPOINT"),
        "{err:?}"
    );
    let provider = azure("http://127.0.0.1:9/azure", "azure-super-secret-key", &[]);
    assert_key_hidden(&provider, "super-secret");
}
