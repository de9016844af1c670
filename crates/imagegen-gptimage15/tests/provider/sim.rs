//! The provider (`HttpProvider` over the codec) over real HTTP against
//! `imagegen-sim` on loopback: every aspect and quality, references with
//! fidelity, the webhook, every error the sim can provoke, and fault bodies.

use std::time::Duration;

use imagegen_core::{
    Aspect, ErrorKind, Fidelity, ImageOutput, ImageProvider, ImageRequest, Quality, ReferenceImage,
    SubmitOptions, TaskRef, TaskState, WebhookCall,
};
use imagegen_sim::{FaultConfig, Sim, SimConfig, SimHandle, magic};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// As `summary`: the stored snapshot names its expression `summary(&err)`.
use imagegen_test_support::error_summary as summary;
use imagegen_test_support::{
    assert_key_hidden, assert_unknown_status_then_success, download, fast_client, png_size,
    poll_until_done, snapshot, submit_and_wait, url_png_size,
};

use super::common::provider;

const KEY: &str = imagegen_sim::DEFAULT_API_KEY;

async fn sim() -> SimHandle {
    Sim::start(SimConfig::fast()).await.expect("sim starts")
}

fn with_faults(sim: &SimHandle, faults: FaultConfig) {
    sim.set_faults(faults);
}

#[tokio::test]
async fn every_aspect_and_quality_makes_a_png_of_the_right_size() {
    let sim = sim().await;
    let g15 = provider(&sim.gptimage15_url(), KEY);
    for aspect in [Aspect::Square, Aspect::Portrait, Aspect::Landscape] {
        for quality in [Quality::Low, Quality::Medium, Quality::High] {
            let request = ImageRequest::new(format!("a mountain, {aspect} {quality}"))
                .aspect(aspect)
                .quality(quality);
            let task = g15.submit(&request, &SubmitOptions::new()).await.unwrap();
            assert_eq!(task.state, TaskState::Running);
            assert_eq!(task.raw_status.as_deref(), Some("IN_PROGRESS"));
            let done = poll_until_done(&g15, &task.task_ref()).await.unwrap();
            assert_eq!(done.state, TaskState::Succeeded, "{aspect} {quality}");
            assert_eq!(done.credits, Some(10.0));
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
    let entry = sim.ledger().entry("gptimage15", KEY).cloned().unwrap();
    assert_eq!(entry.creates_charged, 9);
    assert_eq!(entry.credits_charged, 90);
    assert_eq!(entry.duplicate_creates, 0);
}

#[tokio::test]
async fn prompt_only_uses_the_documented_default_size() {
    let sim = sim().await;
    let g15 = provider(&sim.gptimage15_url(), KEY);
    let done = submit_and_wait(&g15, &ImageRequest::new("lamp")).await;
    assert_eq!(url_png_size(&done.outputs[0]).await, (1024, 1024));
}

#[tokio::test]
async fn references_with_fidelity_are_accepted() {
    let sim = sim().await;
    let g15 = provider(&sim.gptimage15_url(), KEY);
    for fidelity in [Fidelity::Low, Fidelity::High] {
        let request = ImageRequest::new("Add a rainbow in the sky")
            .reference(ReferenceImage::Url(
                "https://example.com/landscape.jpg".into(),
            ))
            .input_fidelity(fidelity)
            .quality(Quality::Medium);
        let done = submit_and_wait(&g15, &request).await;
        assert_eq!(done.state, TaskState::Succeeded);
    }
}

/// Accepts one HTTP request on loopback, answers 200, and hands back its body.
async fn one_callback() -> (String, tokio::sync::oneshot::Receiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/gptimage15", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // Read headers and a body up to the closing brace of the JSON.
        while !seen.ends_with(b"}") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&seen).to_string();
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
        let _ = tx.send(body);
    });
    (url, rx)
}

#[tokio::test]
async fn the_callback_url_is_called_when_the_task_ends() {
    let sim = sim().await;
    let g15 = provider(&sim.gptimage15_url(), KEY);
    let (url, called) = one_callback().await;
    let task = g15
        .submit(
            &ImageRequest::new("lamp").callback_url(url),
            &SubmitOptions::new(),
        )
        .await
        .unwrap();
    let body = tokio::time::timeout(Duration::from_secs(10), called)
        .await
        .expect("the callback came")
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["task_id"], task.task_id.as_str());
    // The codec takes the task id from the call, and nothing else...
    let call = WebhookCall::new(Default::default(), body, None);
    assert_eq!(g15.webhook_task(&call).unwrap(), task.task_id);
    // ...which is only a hint: the authenticated status confirms it.
    let done = g15.status(&task.task_ref()).await.unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
}

#[tokio::test]
async fn a_rejected_option_is_an_invalid_request_with_the_envelope_code() {
    let sim = sim().await;
    let g15 = provider(&sim.gptimage15_url(), KEY);
    let request = ImageRequest::new("lamp").provider_option("gptimage15", "size", json!("999*999"));
    let err = g15
        .submit(&request, &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert_eq!(err.code(), Some("400"));
    assert!(err.message().contains("invalid size '999*999'"), "{err}");
    assert!(!err.is_retryable());
    assert!(!err.may_have_reached_server());
    assert_eq!(sim.ledger().totals("gptimage15").creates_charged, 0);
}

#[tokio::test]
async fn a_bad_key_is_unauthorized_naming_the_variable() {
    let sim = sim().await;
    let g15 = provider(&sim.gptimage15_url(), "not-a-key");
    for err in [
        g15.submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
            .await
            .unwrap_err(),
        g15.status(&TaskRef::new("any")).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
        assert_eq!(err.code(), Some("401"));
        assert!(err.hint().unwrap().contains("GPTIMAGE15_API_KEY"));
        assert!(!format!("{err} {err:?}").contains("not-a-key"));
    }
}

#[tokio::test]
async fn no_credits_is_insufficient_credits() {
    let sim = sim().await;
    let g15 = provider(&sim.gptimage15_url(), magic::NO_CREDITS);
    let err = g15
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsufficientCredits, "{err}");
    assert_eq!(err.code(), Some("402"));
    assert!(!err.is_retryable());
    assert!(!err.may_have_reached_server());
    assert!(err.hint().unwrap().contains("top up"));
}

#[tokio::test]
async fn an_unknown_task_is_not_found_with_its_id() {
    let sim = sim().await;
    let g15 = provider(&sim.gptimage15_url(), KEY);
    let err = g15.status(&TaskRef::new("no_such_task")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.code(), Some("404"));
    assert_eq!(err.task_id(), Some("no_such_task"));
    // The id is query-encoded.
    let err = g15.status(&TaskRef::new("a&b=c d#e")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.message().contains("'a&b=c d#e'"), "{err}");
}

/// The old provider refused a blank task id before sending anything. FAILS
/// with the new codec, which sends `GET /status?task_id=+` (the sim
/// answers it; the real API would too, costing a request of the budget).
#[tokio::test]
async fn an_empty_task_id_never_leaves_the_client() {
    let sim = sim().await;
    let g15 = provider(&sim.gptimage15_url(), KEY);
    for id in ["", " "] {
        let err = g15.status(&TaskRef::new(id)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{id:?}: {err}");
        assert!(!err.may_have_reached_server());
    }
    assert!(sim.ledger().entries.is_empty(), "no request was sent");
}

#[tokio::test]
async fn burst_429_is_rate_limited_with_retry_after() {
    let sim = sim().await;
    with_faults(
        &sim,
        FaultConfig {
            burst_429: 1.0,
            ..Default::default()
        },
    );
    let g15 = provider(&sim.gptimage15_url(), KEY);
    let err = g15
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert!(!err.may_have_reached_server());
    snapshot!("sim_burst_429", summary(&err));
}

#[tokio::test]
async fn server_faults_are_retryable_server_errors() {
    let sim = sim().await;
    let g15 = provider(&sim.gptimage15_url(), KEY);
    let task = g15
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap();
    with_faults(
        &sim,
        FaultConfig {
            create_500: 1.0,
            status_500: 1.0,
            ..Default::default()
        },
    );
    let err = g15
        .submit(&ImageRequest::new("lamp 2"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    assert!(err.is_retryable());
    assert!(err.may_have_reached_server());
    assert_eq!(err.code(), Some("500"));
    let err = g15.status(&task.task_ref()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(err.task_id(), Some(task.task_id.as_str()));
}

#[tokio::test]
async fn malformed_json_is_a_decode_error_and_a_create_may_be_charged() {
    let sim = sim().await;
    let g15 = provider(&sim.gptimage15_url(), KEY);
    let task = g15
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap();
    with_faults(
        &sim,
        FaultConfig {
            malformed_json: 1.0,
            ..Default::default()
        },
    );
    let err = g15
        .submit(&ImageRequest::new("lamp 2"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    // Charged: so the client never sends it again unless the caller opted in.
    assert!(err.may_have_reached_server());
    assert!(err.message().contains("{\"code\""), "keeps the text: {err}");
    assert_eq!(sim.ledger().totals("gptimage15").creates_charged, 2);
    let err = g15.status(&task.task_ref()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.is_retryable());
    assert_eq!(err.task_id(), Some(task.task_id.as_str()));
}

#[tokio::test]
async fn numeric_statuses_are_understood() {
    let sim = sim().await;
    with_faults(
        &sim,
        FaultConfig {
            gptimage15_numeric_status: 1.0,
            ..Default::default()
        },
    );
    let g15 = provider(&sim.gptimage15_url(), KEY);
    let task = g15
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap();
    let first = g15.status(&task.task_ref()).await.unwrap();
    assert_eq!(first.state, TaskState::Running);
    assert_eq!(first.raw_status.as_deref(), Some("0"));
    let done = poll_until_done(&g15, &task.task_ref()).await.unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
    assert_eq!(done.raw_status.as_deref(), Some("1"));
    assert_eq!(done.outputs.len(), 1);
}

#[tokio::test]
async fn string_encoded_answers_are_understood() {
    let sim = sim().await;
    with_faults(
        &sim,
        FaultConfig {
            gptimage15_string_encoded: 1.0,
            ..Default::default()
        },
    );
    let g15 = provider(&sim.gptimage15_url(), KEY);
    let task = g15
        .submit(
            &ImageRequest::new("lamp").aspect(Aspect::Portrait),
            &SubmitOptions::new(),
        )
        .await
        .unwrap();
    let done = poll_until_done(&g15, &task.task_ref()).await.unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
    assert_eq!(done.credits, Some(10.0), "from `consumed_credit`");
    assert_eq!(url_png_size(&done.outputs[0]).await, (1024, 1536));
}

#[tokio::test]
async fn an_unknown_status_is_reported_then_the_task_goes_on() {
    let sim = sim().await;
    with_faults(
        &sim,
        FaultConfig {
            unknown_status: 1.0,
            ..Default::default()
        },
    );
    let g15 = provider(&sim.gptimage15_url(), KEY);
    assert_unknown_status_then_success(&g15, "RUNNING_SLOWLY").await;
}

#[tokio::test]
async fn a_failed_generation_is_failed_and_refunded() {
    let sim = sim().await;
    with_faults(
        &sim,
        FaultConfig {
            generation_failure: 1.0,
            ..Default::default()
        },
    );
    let g15 = provider(&sim.gptimage15_url(), KEY);
    let done = submit_and_wait(&g15, &ImageRequest::new("lamp")).await;
    assert_eq!(
        done.state,
        TaskState::Failed {
            message: "Content policy violation detected".into(),
            code: None
        }
    );
    assert_eq!(done.credits, Some(0.0), "refunded, and said so");
    assert!(done.outputs.is_empty());
    let entry = sim.ledger().entry("gptimage15", KEY).cloned().unwrap();
    assert_eq!(entry.credits_refunded, 10);
}

#[tokio::test]
async fn unsupported_settings_never_reach_the_sim() {
    let sim = sim().await;
    let g15 = provider(&sim.gptimage15_url(), KEY);
    let err = g15
        .submit(&ImageRequest::new("x".repeat(2001)), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(sim.ledger().entries.is_empty(), "no request was sent");
}

#[tokio::test]
async fn debug_never_shows_the_key() {
    let g15 = provider("http://127.0.0.1:9/gptimage15/api", "g15-super-secret-key");
    assert_key_hidden(&g15, "super-secret");
    assert_eq!(g15.base_url(), "http://127.0.0.1:9/gptimage15/api");
}

#[tokio::test]
async fn a_count_is_fanned_out_over_tasks_by_the_client() {
    let sim = sim().await;
    let client = fast_client(provider(&sim.gptimage15_url(), KEY));
    let generation = client
        .generate(ImageRequest::new("lamp").aspect(Aspect::Portrait).count(3))
        .await
        .unwrap();
    assert_eq!(generation.images.len(), 3);
    assert_eq!(generation.tasks.len(), 3, "one task per image");
    assert_eq!(generation.credits, Some(30.0));
    let entry = sim.ledger().entry("gptimage15", KEY).cloned().unwrap();
    assert_eq!(entry.creates_charged, 3);
}

#[tokio::test]
async fn what_gptimage15_does_not_take_is_refused_by_the_client_before_sending() {
    let sim = sim().await;
    let client = fast_client(provider(&sim.gptimage15_url(), KEY));
    for request in [
        ImageRequest::new("lamp").quality(Quality::Auto),
        ImageRequest::new("x".repeat(2001)),
        ImageRequest::new("lamp").reference(ReferenceImage::parse("./ref.png")),
    ] {
        let err = client.generate(request.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
        assert!(!err.may_have_reached_server());
    }
    assert!(sim.ledger().entries.is_empty(), "no request was sent");
}
