//! The provider (`HttpProvider` over the codec) over real HTTP against
//! `imagegen-sim` on loopback: every aspect and quality, references, every
//! error the sim can provoke, and fault bodies.

use std::time::Duration;

use imagegen_core::{
    Aspect, ErrorKind, ImageOutput, ImageProvider, ImageRequest, Quality, ReferenceImage,
    SubmitOptions, TaskRef, TaskState,
};
use imagegen_sim::{FaultConfig, Sim, SimConfig, SimHandle, magic};
use serde_json::json;

// As `summary`: the stored snapshot names its expression `summary(&err)`.
use imagegen_test_support::error_summary as summary;
use imagegen_test_support::{
    assert_key_hidden, assert_unknown_status_then_success, download, fast_client, png_size,
    poll_until_done, snapshot, submit_and_wait, url_png_size,
};

use super::common::provider;

const KEY: &str = imagegen_sim::DEFAULT_API_KEY;

/// A fast sim without Runbase's rate limit (tested on its own), so that
/// tight test poll loops are never throttled.
async fn sim() -> SimHandle {
    Sim::start(SimConfig::fast().runbase_rate_limit(0, Duration::from_secs(10)))
        .await
        .expect("sim starts")
}

#[tokio::test]
async fn every_aspect_and_quality_makes_a_png_of_the_right_size() {
    let sim = sim().await;
    let runbase = provider(&sim.runbase_url(), KEY);
    let mut created = 0;
    for aspect in [Aspect::Square, Aspect::Portrait, Aspect::Landscape] {
        for quality in [Quality::Medium, Quality::High] {
            let request = ImageRequest::new(format!("a lamp, {aspect} {quality}"))
                .aspect(aspect)
                .quality(quality);
            let task = runbase
                .submit(&request, &SubmitOptions::new())
                .await
                .unwrap();
            created += 1;
            assert_eq!(task.state, TaskState::Queued);
            assert_eq!(task.raw_status.as_deref(), Some("queued"));
            let done = poll_until_done(&runbase, &task.task_ref()).await.unwrap();
            assert_eq!(done.state, TaskState::Succeeded, "{aspect} {quality}");
            assert_eq!(done.credits, None);
            let [ImageOutput::Url { url }] = done.outputs.as_slice() else {
                panic!("one URL expected: {:?}", done.outputs);
            };
            let size = aspect.size();
            assert_eq!(
                png_size(&download(url).await),
                (size.width, size.height),
                "{aspect} {quality}"
            );
        }
    }
    let ledger = sim.ledger();
    let entry = ledger.entry("runbase", KEY).unwrap();
    assert_eq!(entry.creates_charged, created);
    assert_eq!(entry.duplicate_creates, 0);
}

#[tokio::test]
async fn prompt_only_uses_runbase_defaults() {
    let sim = sim().await;
    let runbase = provider(&sim.runbase_url(), KEY);
    let done = submit_and_wait(&runbase, &ImageRequest::new("lamp")).await;
    assert_eq!(url_png_size(&done.outputs[0]).await, (1024, 1024));
}

#[tokio::test]
async fn references_and_provider_options_are_accepted() {
    let sim = sim().await;
    let runbase = provider(&sim.runbase_url(), KEY);
    let request = ImageRequest::new("edit this lamp")
        .reference(ReferenceImage::Url("https://example.com/lamp.png".into()))
        .reference(ReferenceImage::Url("https://example.com/room.jpg".into()))
        .provider_option("runbase", "seed", json!(42));
    let done = submit_and_wait(&runbase, &request).await;
    assert_eq!(done.state, TaskState::Succeeded);
}

#[tokio::test]
async fn an_invalid_option_is_runbase_s_invalid_input() {
    let sim = sim().await;
    let runbase = provider(&sim.runbase_url(), KEY);
    let request = ImageRequest::new("lamp").provider_option("runbase", "quality", json!("ultra"));
    let err = runbase
        .submit(&request, &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert_eq!(err.code(), Some("invalid_input"));
    assert_eq!(err.http_status(), Some(400));
    assert!(!err.may_have_reached_server());
    assert!(err.message().contains("quality"), "{err}");
}

#[tokio::test]
async fn keys_the_sim_refuses_map_to_their_kinds() {
    let sim = sim().await;
    let cases = [
        (
            "not-a-key",
            ErrorKind::Unauthorized,
            "invalid_api_key",
            "RUNBASE_API_KEY",
        ),
        (
            magic::NO_CREDITS,
            ErrorKind::InsufficientCredits,
            "insufficient_balance",
            "top up",
        ),
        (
            magic::SPEND_LIMIT,
            ErrorKind::QuotaExhausted,
            "api_key_spend_limit_exceeded",
            "spend limit",
        ),
        (
            magic::IP_NOT_ALLOWED,
            ErrorKind::Forbidden,
            "ip_not_allowed",
            "IP",
        ),
        (
            magic::USAGE_EXCEEDED,
            ErrorKind::QuotaExhausted,
            "USAGE_EXCEEDED",
            "quota",
        ),
    ];
    for (key, kind, code, hint) in cases {
        let runbase = provider(&sim.runbase_url(), key);
        let err = runbase
            .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{key}: {err}");
        assert_eq!(err.code(), Some(code), "{key}");
        assert!(!err.is_retryable(), "{key}");
        assert!(!err.may_have_reached_server(), "{key}");
        assert!(
            err.hint().unwrap_or_default().contains(hint),
            "{key}: {err}"
        );
        assert!(
            !format!("{err} {err:?}").contains(key),
            "the key leaked: {err}"
        );
    }
    assert_eq!(sim.ledger().totals("runbase").creates_charged, 0);
}

#[tokio::test]
async fn an_unknown_run_is_not_found_with_its_id() {
    let sim = sim().await;
    let runbase = provider(&sim.runbase_url(), KEY);
    let err = runbase
        .status(&TaskRef::new("run_does_not_exist"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.code(), Some("run_not_found"));
    assert_eq!(err.task_id(), Some("run_does_not_exist"));
    // The id travels as one percent-encoded path segment.
    let err = runbase.status(&TaskRef::new("a/b c?d")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("'a/b c?d'"), "{err}");
    // Another key's run is not found either.
    let task = runbase
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap();
    let other = provider(&sim.runbase_url(), magic::NO_CREDITS);
    let err = other.status(&task.task_ref()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn the_rate_limit_is_rate_limited_with_retry_after_and_not_charged() {
    let sim = Sim::start(SimConfig::fast().runbase_rate_limit(2, Duration::from_secs(10)))
        .await
        .unwrap();
    let runbase = provider(&sim.runbase_url(), KEY);
    runbase
        .submit(&ImageRequest::new("one"), &SubmitOptions::new())
        .await
        .unwrap();
    runbase
        .submit(&ImageRequest::new("two"), &SubmitOptions::new())
        .await
        .unwrap();
    let err = runbase
        .submit(&ImageRequest::new("three"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert_eq!(err.code(), Some("RATE_LIMITED"));
    assert!(err.is_retryable());
    assert!(!err.may_have_reached_server());
    let wait = err.retry_after().expect("retry-after");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(10),
        "{wait:?}"
    );
    // Polls count against the same budget.
    let err = runbase.status(&TaskRef::new("whatever")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(sim.ledger().totals("runbase").creates_charged, 2);
}

#[tokio::test]
async fn a_usage_quota_is_quota_exhausted() {
    let sim = Sim::start(SimConfig::fast().runbase_usage_quota(1))
        .await
        .unwrap();
    let runbase = provider(&sim.runbase_url(), KEY);
    runbase
        .submit(&ImageRequest::new("one"), &SubmitOptions::new())
        .await
        .unwrap();
    let err = runbase
        .submit(&ImageRequest::new("two"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExhausted, "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn burst_429_is_rate_limited_with_retry_after() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        burst_429: 1.0,
        ..Default::default()
    });
    let runbase = provider(&sim.runbase_url(), KEY);
    let err = runbase
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert!(!err.may_have_reached_server());
    snapshot!("sim_burst_429", summary(&err));
}

#[tokio::test]
async fn server_faults_are_retryable_server_errors() {
    let sim = sim().await;
    let runbase = provider(&sim.runbase_url(), KEY);
    let task = runbase
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap();
    sim.set_faults(FaultConfig {
        create_500: 1.0,
        status_500: 1.0,
        ..Default::default()
    });
    let err = runbase
        .submit(&ImageRequest::new("lamp 2"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    assert!(err.is_retryable());
    assert!(err.may_have_reached_server());
    assert_eq!(err.message(), "Internal server error");
    let err = runbase.status(&task.task_ref()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(err.task_id(), Some(task.task_id.as_str()));
}

#[tokio::test]
async fn malformed_json_is_a_decode_error_and_a_create_may_be_charged() {
    let sim = sim().await;
    let runbase = provider(&sim.runbase_url(), KEY);
    let task = runbase
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap();
    sim.set_faults(FaultConfig {
        malformed_json: 1.0,
        ..Default::default()
    });
    let err = runbase
        .submit(&ImageRequest::new("lamp 2"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    // Charged: so the client never sends it again unless the caller opted in.
    assert!(err.may_have_reached_server());
    assert_eq!(err.http_status(), Some(200));
    assert!(
        err.message().contains("body was `{\""),
        "keeps an excerpt: {err}"
    );
    assert_eq!(
        sim.ledger().totals("runbase").creates_charged,
        2,
        "it was charged"
    );
    let err = runbase.status(&task.task_ref()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.is_retryable(), "a poll may simply be tried again");
}

#[tokio::test]
async fn an_unknown_status_is_reported_then_the_run_goes_on() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        unknown_status: 1.0,
        ..Default::default()
    });
    let runbase = provider(&sim.runbase_url(), KEY);
    assert_unknown_status_then_success(&runbase, "warming_up").await;
}

#[tokio::test]
async fn a_failed_generation_is_failed_with_runbase_s_message() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        generation_failure: 1.0,
        ..Default::default()
    });
    let runbase = provider(&sim.runbase_url(), KEY);
    let done = submit_and_wait(&runbase, &ImageRequest::new("lamp")).await;
    let TaskState::Failed { message, code } = &done.state else {
        panic!("{done:?}")
    };
    assert!(message.contains("Content policy"), "{message}");
    assert_eq!(code, &None);
    assert!(done.outputs.is_empty());
    assert_eq!(done.raw_status.as_deref(), Some("failed"));
}

#[tokio::test]
async fn a_dropped_connection_is_a_transport_error() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        drop_before_accept: 1.0,
        ..Default::default()
    });
    let runbase = provider(&sim.runbase_url(), KEY);
    let err = runbase
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert_eq!(sim.ledger().totals("runbase").creates_accepted, 0);
}

#[tokio::test]
async fn unsupported_settings_never_reach_the_sim() {
    let sim = sim().await;
    let runbase = provider(&sim.runbase_url(), KEY);
    let err = runbase
        .submit(
            &ImageRequest::new("lamp").quality(Quality::Low),
            &SubmitOptions::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(sim.ledger().totals("runbase").errors_sent, 0);
    assert!(sim.ledger().entries.is_empty(), "no request was sent");
}

#[tokio::test]
async fn debug_never_shows_the_key() {
    let runbase = provider("http://127.0.0.1:9/runbase/api/v1", "rb-super-secret-key");
    let shown = assert_key_hidden(&runbase, "super-secret");
    assert!(shown.contains("127.0.0.1:9"), "{shown}");
}

#[tokio::test]
async fn a_count_is_fanned_out_over_runs_by_the_client() {
    let sim = sim().await;
    let client = fast_client(provider(&sim.runbase_url(), KEY));
    let generation = client
        .generate(ImageRequest::new("lamp").aspect(Aspect::Landscape).count(2))
        .await
        .unwrap();
    assert_eq!(generation.images.len(), 2);
    assert_eq!(generation.tasks.len(), 2, "one run per image");
    assert_ne!(generation.tasks[0].task_id, generation.tasks[1].task_id);
    let entry = sim.ledger().entry("runbase", KEY).cloned().unwrap();
    assert_eq!(entry.creates_charged, 2);
}

#[tokio::test]
async fn what_runbase_does_not_offer_is_refused_by_the_client_before_sending() {
    let sim = sim().await;
    let client = fast_client(provider(&sim.runbase_url(), KEY));
    for request in [
        ImageRequest::new("lamp").quality(Quality::Low),
        ImageRequest::new("lamp").input_fidelity(imagegen_core::Fidelity::High),
        ImageRequest::new("lamp").callback_url("http://127.0.0.1:1/cb"),
        ImageRequest::new("lamp").reference(ReferenceImage::parse("./ref.png")),
    ] {
        let err = client.generate(request.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{request:?}: {err}");
        assert!(!err.may_have_reached_server());
    }
    assert!(sim.ledger().entries.is_empty(), "no request was sent");
}
