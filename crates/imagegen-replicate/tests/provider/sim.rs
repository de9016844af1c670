//! The provider (`HttpProvider` over the codec) over real HTTP against
//! `imagegen-sim` on loopback: every aspect and quality, creates held open
//! (`Prefer: wait`) or polled, a prediction still `starting` after the hold
//! polled to its end, `Cancel-After`, cancel, counts, failures, a signed
//! webhook, and every error and fault the sim can provoke.

use std::time::{Duration, Instant};

use imagegen_core::{
    Aspect, ErrorKind, Fidelity, ImageOutput, ImageProvider, ImageRequest, Quality, ReferenceImage,
    SubmitOptions, TaskRef, TaskState, WaitOptions, WebhookCall,
};
use imagegen_sim::{FaultConfig, LatencyProfile, Sim, SimConfig, SimHandle, magic};

use imagegen_test_support::{
    assert_key_hidden, assert_unknown_status_then_success, download, fast_client, headers,
    png_size, poll_until_done, serve_once, submit_and_wait, url_png_size,
};

use super::common::{provider, provider_with_secret};

const KEY: &str = imagegen_sim::DEFAULT_API_KEY;

async fn sim() -> SimHandle {
    Sim::start(SimConfig::fast()).await.expect("sim starts")
}

/// A sim whose predictions wait `queue_ms` to start and hold a create at
/// most 150 ms.
async fn slow_sim(queue_ms: u64, generate_ms: u64) -> SimHandle {
    let latency = LatencyProfile::Fixed {
        queue_ms,
        generate_ms,
    };
    let config = SimConfig::fast()
        .latency(latency)
        .replicate_max_wait(Duration::from_millis(150));
    Sim::start(config).await.expect("sim starts")
}

fn held() -> SubmitOptions {
    SubmitOptions::new()
        .hold(Duration::from_secs(60))
        .deadline(Duration::from_secs(600))
}

#[tokio::test]
async fn every_aspect_and_quality_makes_a_png_of_the_right_size() {
    let sim = sim().await;
    let replicate = provider(&sim.replicate_url(), KEY);
    for aspect in Aspect::ALL {
        for quality in Quality::ALL {
            let request = ImageRequest::new(format!("a lamp, {aspect} {quality}"))
                .aspect(aspect)
                .quality(quality);
            // Held open: the create answers the finished prediction.
            let done = replicate.submit(&request, &held()).await.unwrap();
            assert_eq!(done.state, TaskState::Succeeded, "{aspect} {quality}");
            let [ImageOutput::Url { url }] = done.outputs.as_slice() else {
                panic!("one URL expected: {:?}", done.outputs);
            };
            assert!(url.ends_with(".png"), "{url}");
            let size = aspect.size();
            assert_eq!(png_size(&download(url).await), (size.width, size.height));
        }
    }
    let entry = sim.ledger().entry("replicate", KEY).cloned().unwrap();
    assert_eq!(
        (entry.creates_charged, entry.polls),
        (12, 0),
        "nothing polled"
    );
    assert_eq!(entry.duplicate_creates, 0);
}

#[tokio::test]
async fn a_submit_without_waiting_is_polled() {
    let sim = sim().await;
    let replicate = provider(&sim.replicate_url(), KEY);
    let request = ImageRequest::new("a lamp").aspect(Aspect::Portrait);
    let task = replicate
        .submit(&request, &SubmitOptions::new())
        .await
        .unwrap();
    assert_eq!(task.state, TaskState::Queued);
    assert_eq!(task.raw_status.as_deref(), Some("starting"));
    let get = format!("{}/predictions/{}", sim.replicate_url(), task.task_id);
    assert_eq!(task.links.status.as_deref(), Some(get.as_str()));
    let done = poll_until_done(&replicate, &task.task_ref()).await.unwrap();
    assert_eq!(url_png_size(&done.outputs[0]).await, (1024, 1536));
}

/// After a `Prefer: wait` that ran out, the prediction comes back
/// `starting`; the client polls it at `urls.get` until it ends.
#[tokio::test]
async fn a_prediction_still_starting_after_the_hold_is_polled_to_the_end() {
    let sim = slow_sim(400, 100).await;
    let replicate = provider(&sim.replicate_url(), KEY);
    let started = Instant::now();
    let task = replicate
        .submit(&ImageRequest::new("a slow lamp"), &held())
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(140), "held: {waited:?}");
    assert_eq!(
        (task.state.clone(), task.raw_status.as_deref()),
        (TaskState::Queued, Some("starting"))
    );
    // Through the client, which holds the create and then polls.
    let client = fast_client(provider(&sim.replicate_url(), KEY));
    let generation = client
        .generate(ImageRequest::new("another slow lamp"))
        .await
        .unwrap();
    assert_eq!(generation.images().len(), 1);
    assert!(generation.polls > 0, "polled after the hold");
    let entry = sim.ledger().entry("replicate", KEY).cloned().unwrap();
    assert_eq!(entry.creates_charged, 2);
}

/// The caller's deadline goes in `Cancel-After`: a prediction that cannot
/// start in time is aborted at Replicate (and not charged).
#[tokio::test]
async fn the_caller_s_deadline_aborts_a_prediction_that_cannot_start() {
    let sim = slow_sim(3000, 100).await;
    let client = fast_client(provider(&sim.replicate_url(), KEY));
    let wait = WaitOptions::new().deadline(Duration::from_secs(1));
    let err = client
        .generate_with(ImageRequest::new("never started"), wait)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Cancelled | ErrorKind::Timeout),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let task = err.task_id().expect("the task is named").to_owned();
    let status = provider(&sim.replicate_url(), KEY)
        .status(&TaskRef::new(task))
        .await
        .unwrap();
    assert_eq!(status.raw_status.as_deref(), Some("aborted"));
    assert_eq!(status.state, TaskState::Cancelled);
    let entry = sim.ledger().entry("replicate", KEY).cloned().unwrap();
    assert_eq!(
        entry.credits_charged, entry.credits_refunded,
        "aborted: refunded"
    );
}

#[tokio::test]
async fn references_counts_and_cancel() {
    let slow = slow_sim(0, 1500).await;
    let replicate = provider(&slow.replicate_url(), KEY);
    let request = ImageRequest::new("two blue lamps")
        .aspect(Aspect::Landscape)
        .count(2)
        .reference(ReferenceImage::Url(
            "https://replicate.delivery/lamp.png".into(),
        ))
        .input_fidelity(Fidelity::High);
    let task = replicate
        .submit(&request, &SubmitOptions::new())
        .await
        .unwrap();
    replicate.cancel(&task.task_ref()).await.unwrap();
    let done = poll_until_done(&replicate, &task.task_ref()).await.unwrap();
    assert_eq!(
        (done.state, done.raw_status.as_deref()),
        (TaskState::Cancelled, Some("canceled"))
    );
    let sim = sim().await;
    let replicate = provider(&sim.replicate_url(), KEY);
    let done = submit_and_wait(&replicate, &request).await;
    assert_eq!(done.outputs.len(), 2);
    for output in &done.outputs {
        assert_eq!(url_png_size(output).await, (1536, 1024));
    }
    assert_eq!(
        sim.ledger()
            .entry("replicate", KEY)
            .unwrap()
            .credits_charged,
        2
    );
}

#[tokio::test]
async fn a_failed_prediction_is_a_generation_failure_with_its_message() {
    let sim = sim().await;
    let replicate = provider(&sim.replicate_url(), KEY);
    let done = replicate
        .submit(&ImageRequest::new(magic::CONTENT_POLICY_PROMPT), &held())
        .await
        .unwrap();
    let TaskState::Failed { message, .. } = &done.state else {
        panic!("failed expected: {done:?}");
    };
    assert!(message.contains("flagged as sensitive"), "{message}");
    let client = fast_client(provider(&sim.replicate_url(), KEY));
    let err = client
        .generate(ImageRequest::new(magic::SERVER_ERROR_PROMPT))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GenerationFailed, "{err}");
    assert!(err.message().contains("Prediction interrupted"), "{err}");
}

#[tokio::test]
async fn a_signed_webhook_names_its_prediction() {
    let sim = sim().await;
    let replicate =
        provider_with_secret(&sim.replicate_url(), KEY, &sim.replicate_webhook_secret());
    let (hook, delivered) = serve_once(imagegen_core::HttpResponse::new(200, "")).await;
    let request = ImageRequest::new("a lamp").callback_url(format!("{hook}/hooks/replicate"));
    let task = replicate
        .submit(&request, &SubmitOptions::new())
        .await
        .unwrap();
    let delivered = tokio::time::timeout(Duration::from_secs(10), delivered)
        .await
        .expect("the webhook came")
        .unwrap();
    let pairs: Vec<(&'static str, &str)> = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .iter()
        .map(|name| (*name, delivered.header(name).expect(name)))
        .collect();
    let call = WebhookCall::new(headers(&pairs), delivered.body.clone(), None);
    assert_eq!(replicate.webhook_task(&call).unwrap(), task.task_id);
    // Only `completed` was asked for: the one call is the end.
    let body: serde_json::Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(body["status"], "succeeded");
    let other = provider_with_secret(&sim.replicate_url(), KEY, "whsec_b3RoZXI=");
    assert_eq!(
        other.webhook_task(&call).unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
}

#[tokio::test]
async fn a_bad_token_no_credit_and_unknown_predictions() {
    let sim = sim().await;
    let bad = provider(&sim.replicate_url(), "not-a-token");
    let err = bad
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.hint().unwrap().contains("REPLICATE_API_TOKEN"));
    assert!(!err.may_have_reached_server());
    assert!(!format!("{err} {err:?}").contains("not-a-token"));
    let broke = provider(&sim.replicate_url(), magic::NO_CREDITS);
    let err = broke
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsufficientCredits, "{err}");
    assert!(!err.may_have_reached_server());
    let replicate = provider(&sim.replicate_url(), KEY);
    let err = replicate.status(&TaskRef::new("nope")).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.task_id()),
        (ErrorKind::NotFound, Some("nope"))
    );
    assert_eq!(sim.ledger().totals("replicate").creates_charged, 0);
}

#[tokio::test]
async fn throttling_and_faults_are_errors_of_the_right_kind() {
    let sim = Sim::start(SimConfig::fast().replicate_rate_limit(1, Duration::from_secs(5)))
        .await
        .unwrap();
    let replicate = provider(&sim.replicate_url(), KEY);
    let task = replicate
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap();
    let err = replicate
        .submit(&ImageRequest::new("lamp 2"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert!(err.message().contains("Request was throttled"), "{err}");
    assert!(err.retry_after().is_some());
    assert!(!err.may_have_reached_server());
    sim.set_faults(FaultConfig {
        status_500: 1.0,
        ..Default::default()
    });
    let err = replicate.status(&task.task_ref()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.is_retryable());
    assert_eq!(err.task_id(), Some(task.task_id.as_str()));
}

#[tokio::test]
async fn an_unknown_status_is_reported_then_the_task_goes_on() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        unknown_status: 1.0,
        ..Default::default()
    });
    assert_unknown_status_then_success(&provider(&sim.replicate_url(), KEY), "queued").await;
}

#[tokio::test]
async fn debug_never_shows_the_token() {
    let replicate = provider("http://127.0.0.1:9/replicate/v1", "r8_super-secret-token");
    assert_key_hidden(&replicate, "super-secret");
}
