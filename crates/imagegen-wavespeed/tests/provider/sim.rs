//! The provider (`HttpProvider` over the codec) over real HTTP against
//! `imagegen-sim` on loopback: every aspect and quality, references, base64
//! output, sync mode, both result paths, a failure inside a 200, the limits,
//! every error the sim can provoke, and its signed webhooks.

use std::time::Duration;

use imagegen_core::{
    Aspect, ErrorKind, ImageOutput, ImageProvider, ImageRequest, Quality, ReferenceImage,
    SubmitOptions, TaskLinks, TaskRef, TaskState, WebhookCall,
};
use imagegen_sim::{FaultConfig, LatencyProfile, Sim, SimConfig, SimHandle, magic};
use imagegen_test_support::{
    answer, assert_key_hidden, assert_unknown_status_then_success, fast_client, headers, png_size,
    poll_until_done, serve_once, submit_and_wait, url_png_size,
};
use serde_json::json;

use super::common::{provider, provider_with_secret};

const KEY: &str = imagegen_sim::DEFAULT_API_KEY;

/// No images-per-minute limit nor concurrency cap: for tests that make
/// many tasks (the limits have their own test).
async fn unlimited() -> SimHandle {
    let config = SimConfig::fast()
        .wavespeed_rate_limit(0, Duration::from_secs(60))
        .wavespeed_concurrency(0);
    Sim::start(config).await.expect("sim starts")
}

#[tokio::test]
async fn every_aspect_and_quality_makes_a_png_of_the_right_size() {
    let sim = unlimited().await;
    let ws = provider(&sim.wavespeed_url(), KEY);
    for aspect in Aspect::ALL {
        for quality in [Quality::Low, Quality::Medium, Quality::High] {
            let request = ImageRequest::new(format!("a lamp, {aspect} {quality}"))
                .aspect(aspect)
                .quality(quality);
            let task = ws.submit(&request, &SubmitOptions::new()).await.unwrap();
            assert_eq!(task.state, TaskState::Queued);
            assert_eq!(task.raw_status.as_deref(), Some("created"));
            let link = task.links.status.clone().expect("urls.get is kept");
            assert!(link.ends_with(&format!("/api/v3/predictions/{}/result", task.task_id)));
            let done = poll_until_done(&ws, &task.task_ref()).await.unwrap();
            assert_eq!(done.state, TaskState::Succeeded, "{aspect} {quality}");
            let size = aspect.size();
            assert_eq!(
                url_png_size(&done.outputs[0]).await,
                (size.width, size.height),
                "{aspect} {quality}"
            );
        }
    }
    let entry = sim.ledger().entry("wavespeed", KEY).cloned().unwrap();
    assert_eq!(entry.creates_charged, 9);
    assert_eq!(entry.duplicate_creates, 0);
}

#[tokio::test]
async fn prompt_only_uses_the_default_size_and_references_go_to_the_edit_endpoint() {
    let sim = unlimited().await;
    let ws = provider(&sim.wavespeed_url(), KEY);
    let done = submit_and_wait(&ws, &ImageRequest::new("lamp")).await;
    assert_eq!(url_png_size(&done.outputs[0]).await, (1024, 1024));
    let edit = ImageRequest::new("make it blue")
        .aspect(Aspect::Landscape)
        .reference(ReferenceImage::Url("https://example.com/a.png".into()))
        .reference(ReferenceImage::Url("https://example.com/b.png".into()));
    let done = submit_and_wait(&ws, &edit).await;
    assert_eq!(url_png_size(&done.outputs[0]).await, (1536, 1024));
}

#[tokio::test]
async fn both_documented_result_paths_answer_the_task() {
    let sim = unlimited().await;
    let ws = provider(&sim.wavespeed_url(), KEY);
    let task = ws
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap();
    let done = poll_until_done(&ws, &task.task_ref()).await.unwrap();
    // Without the link: the `/result` path is built.
    let bare = ws.status(&TaskRef::new(&task.task_id)).await.unwrap();
    assert_eq!(bare.outputs, done.outputs);
    // The other documented path, as a link would name it.
    let plain = format!(
        "{}/api/v3/predictions/{}",
        sim.wavespeed_url(),
        task.task_id
    );
    let linked = TaskRef::new(&task.task_id).with_links(TaskLinks::default().status(Some(plain)));
    assert_eq!(ws.status(&linked).await.unwrap().outputs, done.outputs);
}

#[tokio::test]
async fn base64_output_is_read_inline() {
    let sim = unlimited().await;
    let ws = provider(&sim.wavespeed_url(), KEY);
    let request = ImageRequest::new("lamp")
        .aspect(Aspect::Portrait)
        .provider_option("wavespeed", "enable_base64_output", json!(true));
    let done = submit_and_wait(&ws, &request).await;
    let [
        ImageOutput::Inline {
            data, media_type, ..
        },
    ] = done.outputs.as_slice()
    else {
        panic!("inline bytes expected: {:?}", done.outputs)
    };
    assert_eq!(media_type, "image/png");
    assert_eq!(png_size(data), (1024, 1536));
}

#[tokio::test]
async fn sync_mode_through_an_option_answers_the_finished_task_or_an_ambiguous_504() {
    let sim = unlimited().await;
    let ws = provider(&sim.wavespeed_url(), KEY);
    let sync = |prompt: &str| {
        ImageRequest::new(prompt).provider_option("wavespeed", "enable_sync_mode", json!(true))
    };
    let done = ws
        .submit(&sync("now"), &SubmitOptions::new())
        .await
        .unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
    assert_eq!(done.outputs.len(), 1);

    // Past the gateway's limit: a 504 without a task id, while the task goes
    // on and is charged. Reported as possibly accepted, so never resent.
    sim.set_latency(LatencyProfile::Fixed {
        queue_ms: 0,
        generate_ms: 1500,
    });
    let err = ws
        .submit(&sync("slow"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(err.http_status(), Some(504));
    assert!(err.may_have_reached_server(), "{err:?}");
    let entry = sim.ledger().entry("wavespeed", KEY).cloned().unwrap();
    assert_eq!(entry.creates_charged, 2);
}

#[tokio::test]
async fn a_failure_inside_a_200_is_reported_with_its_message() {
    let sim = unlimited().await;
    let ws = provider(&sim.wavespeed_url(), KEY);
    let request = ImageRequest::new(format!("a lamp {}", magic::CONTENT_POLICY_PROMPT));
    let done = submit_and_wait(&ws, &request).await;
    let message = "Content policy violation: the request was flagged by the safety system.";
    assert_eq!(done.state, TaskState::failed(message, None));
    // Through the client: a generation failure with the provider's message.
    let client = fast_client(provider(&sim.wavespeed_url(), KEY));
    let err = client.generate(request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GenerationFailed);
    assert_eq!(err.message(), message);
    assert_eq!(err.provider(), Some("wavespeed"));
    assert!(!err.is_retryable());
    let server = ImageRequest::new(format!("a lamp {}", magic::SERVER_ERROR_PROMPT));
    let err = client.generate(server).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::GenerationFailed);
    assert_eq!(
        err.message(),
        "Internal server error: the model run failed."
    );
    let entry = sim.ledger().entry("wavespeed", KEY).cloned().unwrap();
    assert_eq!(entry.credits_refunded, 3, "failed tasks are refunded");
}

#[tokio::test]
async fn the_images_per_minute_limit_is_waited_out_by_the_client() {
    // Bronze: 2 images a minute (a second in the fast profile), 2 running.
    let sim = Sim::start(SimConfig::fast()).await.unwrap();
    let ws = provider(&sim.wavespeed_url(), KEY);
    let mut accepted = 0;
    let err = loop {
        let request = ImageRequest::new(format!("lamp {accepted}"));
        match ws.submit(&request, &SubmitOptions::new()).await {
            Ok(_) => accepted += 1,
            Err(err) => break err,
        }
        assert!(accepted <= 4, "no 429 after {accepted} creates");
    };
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert!(err.retry_after().is_some());
    assert!(
        !err.may_have_reached_server(),
        "refused: safe to send again"
    );
    // The client waits the Retry-After out and sends it again.
    let client = fast_client(provider(&sim.wavespeed_url(), KEY));
    let generation = client
        .generate(ImageRequest::new("three").count(3))
        .await
        .unwrap();
    assert_eq!(generation.images.len(), 3);
    // Each 429 was a refusal: every image was charged once (the fan-out
    // sends the same body three times, which the ledger counts as 2 repeats).
    let totals = sim.ledger().totals("wavespeed");
    assert_eq!(totals.creates_charged, accepted + 3);
    assert_eq!(totals.duplicate_creates, 2);
    assert!(totals.rate_limited >= 1);
}

#[tokio::test]
async fn an_unknown_status_is_reported_then_the_task_goes_on() {
    let sim = unlimited().await;
    sim.set_faults(FaultConfig {
        unknown_status: 1.0,
        ..Default::default()
    });
    assert_unknown_status_then_success(&provider(&sim.wavespeed_url(), KEY), "pending").await;
}

#[tokio::test]
async fn documented_errors_from_the_sim() {
    let sim = unlimited().await;
    let submit = |key: &'static str| {
        let ws = provider(&sim.wavespeed_url(), key);
        async move {
            ws.submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
                .await
                .unwrap_err()
        }
    };
    for (key, kind) in [
        ("wrong-key", ErrorKind::Unauthorized),
        (magic::NO_CREDITS, ErrorKind::InsufficientCredits),
    ] {
        let err = submit(key).await;
        assert_eq!(err.kind(), kind, "{key}: {err}");
        assert!(!err.may_have_reached_server(), "{key}: {err:?}");
    }
    let ws = provider(&sim.wavespeed_url(), KEY);
    let err = ws.status(&TaskRef::new("no-such-task")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.task_id(), Some("no-such-task"));
    // An option WaveSpeed does not take: its 400, a refusal.
    let odd = ImageRequest::new("lamp").provider_option("wavespeed", "size", json!("2048*2048"));
    let err = ws.submit(&odd, &SubmitOptions::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.message().contains("'size'"), "{err}");
    assert!(!err.may_have_reached_server());
    // A 500 at create: possibly accepted, not sent again.
    let errors = || sim.ledger().entry("wavespeed", KEY).unwrap().errors_sent;
    let before = errors();
    sim.set_faults(FaultConfig {
        create_500: 1.0,
        ..Default::default()
    });
    let client = fast_client(provider(&sim.wavespeed_url(), KEY));
    let err = client
        .generate(ImageRequest::new("lamp"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.may_have_reached_server());
    assert_eq!(errors(), before + 1, "one create only");
}

#[tokio::test]
async fn the_sims_signed_webhook_names_the_task() {
    let sim = unlimited().await;
    let (hook_url, captured) = serve_once(answer(200, &[], b"")).await;
    let secret = sim.wavespeed_webhook_secret();
    let ws = provider_with_secret(&sim.wavespeed_url(), KEY, &secret);
    let request = ImageRequest::new("lamp").callback_url(format!("{hook_url}/hooks/wavespeed"));
    let task = ws.submit(&request, &SubmitOptions::new()).await.unwrap();
    assert!(task.state == TaskState::Queued || task.state == TaskState::Running);
    let captured = tokio::time::timeout(Duration::from_secs(10), captured)
        .await
        .expect("the webhook arrives")
        .unwrap();
    assert!(captured.request_line().starts_with("POST /hooks/wavespeed"));
    let signed = |name| captured.header(name).expect("a signature header");
    let headers = headers(&[
        ("webhook-id", signed("webhook-id")),
        ("webhook-timestamp", signed("webhook-timestamp")),
        ("webhook-signature", signed("webhook-signature")),
    ]);
    let call = WebhookCall::new(headers, captured.body.clone(), None);
    assert_eq!(ws.webhook_task(&call).unwrap(), task.task_id);
    // With another secret it is refused.
    let other = provider_with_secret(&sim.wavespeed_url(), KEY, "whsec_another");
    assert_eq!(
        other.webhook_task(&call).unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
}

#[tokio::test]
async fn a_count_is_fanned_out_and_what_wavespeed_does_not_take_never_reaches_it() {
    let sim = unlimited().await;
    let client = fast_client(provider(&sim.wavespeed_url(), KEY));
    let generation = client
        .generate(ImageRequest::new("lamp").aspect(Aspect::Portrait).count(3))
        .await
        .unwrap();
    assert_eq!(generation.images.len(), 3);
    assert_eq!(generation.tasks.len(), 3, "one task per image");
    for request in [
        ImageRequest::new("lamp").quality(Quality::Auto),
        ImageRequest::new("lamp").reference(ReferenceImage::parse("./ref.png")),
    ] {
        let err = client.generate(request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    }
    assert_eq!(sim.ledger().totals("wavespeed").creates_charged, 3);
}

#[tokio::test]
async fn debug_never_shows_the_key() {
    let ws = provider("http://127.0.0.1:9/wavespeed", "ws-super-secret-key");
    assert_key_hidden(&ws, "super-secret");
}

/// The whole webhook flow through the client: a wait whose polls are an
/// hour apart ends when the sim's signed call arrives, verified by the
/// codec, and the client fetches the task with the key.
#[tokio::test]
async fn a_signed_webhook_ends_the_clients_wait() {
    let sim = unlimited().await;
    let (hook_url, captured) = serve_once(answer(200, &[], b"")).await;
    let secret = sim.wavespeed_webhook_secret();
    let client = imagegen_core::Client::builder()
        .provider(provider_with_secret(&sim.wavespeed_url(), KEY, &secret))
        .poll_policy(
            imagegen_core::PollPolicy::default()
                .with_initial_interval(Duration::from_secs(3600))
                .with_max_interval(Duration::from_secs(3600)),
        )
        .build()
        .unwrap();
    let request = ImageRequest::new("lamp").callback_url(hook_url);
    let submission = client.submit(request).await.unwrap();
    let handle = submission.handles[0].clone();
    let waiter = client.clone();
    let wait = tokio::spawn(async move { waiter.wait(&handle).await });
    let captured = tokio::time::timeout(Duration::from_secs(10), captured)
        .await
        .expect("the webhook arrives")
        .unwrap();
    let signed = |name| captured.header(name).expect("a signature header");
    let headers = headers(&[
        ("webhook-id", signed("webhook-id")),
        ("webhook-timestamp", signed("webhook-timestamp")),
        ("webhook-signature", signed("webhook-signature")),
    ]);
    let call = WebhookCall::new(headers, captured.body.clone(), None);
    let outcome = client.on_webhook("wavespeed", &call).await.unwrap();
    assert!(
        matches!(outcome, imagegen_core::WebhookOutcome::Woken(_)),
        "{outcome:?}"
    );
    let generation = tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the webhook ends the hour-long wait")
        .unwrap()
        .unwrap();
    assert_eq!(generation.images.len(), 1);
    // A forged call is refused before any request.
    let mut forged = call.clone();
    forged.body = captured
        .body
        .iter()
        .rev()
        .copied()
        .collect::<Vec<u8>>()
        .into();
    assert!(client.on_webhook("wavespeed", &forged).await.is_err());
}

#[tokio::test]
async fn the_key_goes_as_a_bearer_token_to_the_model_path() {
    let body =
        json!({"code": 200, "message": "success", "data": {"id": "t1", "status": "created"}});
    let (url, captured) = serve_once(answer(200, &[], body.to_string().as_bytes())).await;
    let ws = provider(&url, "ws-key-123");
    let task = ws
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap();
    assert_eq!(
        (task.task_id.as_str(), task.state),
        ("t1", TaskState::Queued)
    );
    let captured = captured.await.unwrap();
    assert_eq!(
        captured.request_line(),
        "POST /api/v3/openai/gpt-image-1.5/text-to-image HTTP/1.1"
    );
    assert_eq!(captured.header("authorization"), Some("Bearer ws-key-123"));
}
