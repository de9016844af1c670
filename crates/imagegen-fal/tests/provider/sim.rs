//! The provider (`HttpProvider` over the codec) over real HTTP against
//! `imagegen-sim` on loopback: every aspect and quality, an edit polled
//! without its subpath, counts, `data:` URIs, the model's errors as the
//! task's outcome, cancel, a signed webhook, and every error and fault the
//! sim can provoke.

use std::time::Duration;

use imagegen_core::{
    Aspect, ErrorKind, Fidelity, ImageOutput, ImageProvider, ImageRequest, Quality, ReferenceImage,
    SubmitOptions, TaskRef, TaskState, WebhookCall,
};
use imagegen_sim::{FaultConfig, LatencyProfile, Sim, SimConfig, SimHandle, magic};
use serde_json::json;

use imagegen_test_support::{
    assert_key_hidden, assert_unknown_status_then_success, download, headers, png_size,
    poll_until_done, serve_once, submit_and_wait, url_png_size,
};

use super::common::{provider, provider_with_keys};

const KEY: &str = imagegen_sim::DEFAULT_API_KEY;

/// A fast sim with no concurrency limit (tested on its own).
async fn sim() -> SimHandle {
    Sim::start(SimConfig::fast().fal_concurrency(0))
        .await
        .expect("sim starts")
}

fn only_url(outputs: &[ImageOutput]) -> &str {
    let [ImageOutput::Url { url }] = outputs else {
        panic!("one URL expected: {outputs:?}");
    };
    url
}

#[tokio::test]
async fn every_aspect_and_quality_makes_a_png_of_the_right_size() {
    let sim = sim().await;
    let fal = provider(&sim.fal_url(), KEY);
    for aspect in Aspect::ALL {
        for quality in [Quality::Low, Quality::Medium, Quality::High] {
            let request = ImageRequest::new(format!("a lamp, {aspect} {quality}"))
                .aspect(aspect)
                .quality(quality);
            let task = fal.submit(&request, &SubmitOptions::new()).await.unwrap();
            assert_eq!(task.state, TaskState::Queued);
            let done = poll_until_done(&fal, &task.task_ref()).await.unwrap();
            assert_eq!(done.state, TaskState::Succeeded, "{aspect} {quality}");
            let size = aspect.size();
            assert_eq!(
                png_size(&download(only_url(&done.outputs)).await),
                (size.width, size.height),
                "{aspect} {quality}"
            );
        }
    }
    let entry = sim.ledger().entry("fal", KEY).cloned().unwrap();
    assert_eq!((entry.creates_charged, entry.credits_charged), (9, 9));
    assert_eq!(entry.duplicate_creates, 0);
}

/// fal's subpath rule: an edit is submitted to `.../edit` and polled at the
/// status URL the submit answer gives, which has no `/edit` (the sim
/// answers 404 there).
#[tokio::test]
async fn an_edit_is_polled_at_the_status_url_without_the_subpath() {
    let sim = sim().await;
    let fal = provider(&sim.fal_url(), KEY);
    let request = ImageRequest::new("make the lamp blue")
        .aspect(Aspect::Portrait)
        .reference(ReferenceImage::Url(
            "https://v3.fal.media/files/lamp.png".into(),
        ))
        .input_fidelity(Fidelity::Low);
    let task = fal.submit(&request, &SubmitOptions::new()).await.unwrap();
    let at = format!(
        "{}/fal-ai/gpt-image-1.5/requests/{}",
        sim.fal_url(),
        task.task_id
    );
    assert_eq!(
        task.links.status.as_deref(),
        Some(format!("{at}/status").as_str())
    );
    assert_eq!(task.links.result.as_deref(), Some(at.as_str()));
    assert_eq!(
        task.links.cancel.as_deref(),
        Some(format!("{at}/cancel").as_str())
    );
    let done = poll_until_done(&fal, &task.task_ref()).await.unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
    assert_eq!(url_png_size(&done.outputs[0]).await, (1024, 1536));
    // Known by its id alone, the task is found at the same place.
    let again = poll_until_done(&fal, &TaskRef::new(&task.task_id))
        .await
        .unwrap();
    assert_eq!(again.outputs, done.outputs);
}

#[tokio::test]
async fn a_count_is_one_request_with_several_images() {
    let sim = sim().await;
    let fal = provider(&sim.fal_url(), KEY);
    let request = ImageRequest::new("three lamps")
        .aspect(Aspect::Landscape)
        .count(3);
    let done = submit_and_wait(&fal, &request).await;
    assert_eq!(done.outputs.len(), 3);
    for output in &done.outputs {
        assert_eq!(url_png_size(output).await, (1536, 1024));
    }
    let entry = sim.ledger().entry("fal", KEY).cloned().unwrap();
    assert_eq!((entry.creates_charged, entry.credits_charged), (1, 3));
    // Five is more than fal makes at once: refused before anything is sent.
    let err = fal
        .submit(&request.count(5), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert!(!err.may_have_reached_server());
    assert_eq!(sim.ledger().entry("fal", KEY).unwrap().creates_accepted, 1);
}

#[tokio::test]
async fn sync_mode_answers_data_uris_decoded_in_place() {
    let sim = sim().await;
    let fal = provider(&sim.fal_url(), KEY);
    let request = ImageRequest::new("a lamp")
        .aspect(Aspect::Landscape)
        .count(2)
        .provider_option("fal", "sync_mode", json!(true));
    let done = submit_and_wait(&fal, &request).await;
    assert_eq!(done.outputs.len(), 2);
    for output in &done.outputs {
        let ImageOutput::Inline {
            data, media_type, ..
        } = output
        else {
            panic!("inline bytes expected: {output:?}");
        };
        assert_eq!(media_type, "image/png");
        assert_eq!(png_size(data), (1536, 1024));
    }
}

#[tokio::test]
async fn the_model_s_errors_are_the_task_s_outcome() {
    let sim = sim().await;
    let fal = provider(&sim.fal_url(), KEY);
    let blocked = submit_and_wait(&fal, &ImageRequest::new(magic::CONTENT_POLICY_PROMPT)).await;
    let TaskState::Failed { message, code } = blocked.state else {
        panic!("failed expected: {blocked:?}");
    };
    assert!(
        message.contains("flagged by a content checker"),
        "{message}"
    );
    assert_eq!(code.as_deref(), Some("content_policy_violation"));
    let broken = submit_and_wait(&fal, &ImageRequest::new(magic::SERVER_ERROR_PROMPT)).await;
    assert!(
        matches!(&broken.state, TaskState::Failed { code: Some(c), .. } if c == "internal_server_error"),
        "{broken:?}"
    );
    // The refusal stays charged, the 5xx is not billed.
    let entry = sim.ledger().entry("fal", KEY).cloned().unwrap();
    assert_eq!((entry.credits_charged, entry.credits_refunded), (2, 1));
}

#[tokio::test]
async fn a_cancelled_request_ends_cancelled() {
    let sim = Sim::start(SimConfig::fast().latency(LatencyProfile::Fixed {
        queue_ms: 0,
        generate_ms: 2000,
    }))
    .await
    .unwrap();
    let fal = provider(&sim.fal_url(), KEY);
    let task = fal
        .submit(&ImageRequest::new("a lamp"), &SubmitOptions::new())
        .await
        .unwrap();
    fal.cancel(&task.task_ref()).await.unwrap();
    let done = poll_until_done(&fal, &task.task_ref()).await.unwrap();
    assert_eq!(done.state, TaskState::Cancelled);
    // Too late now.
    let err = fal.cancel(&task.task_ref()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
}

/// The sim signs its webhook as fal does; the codec verifies it with the
/// sim's public key and takes the request id from it.
#[tokio::test]
async fn a_signed_webhook_names_its_request() {
    let sim = sim().await;
    let public = hex::encode(sim.fal_webhook_public_key().to_bytes());
    let fal = provider_with_keys(&sim.fal_url(), KEY, &public);
    let (hook, delivered) = serve_once(imagegen_core::HttpResponse::new(200, "")).await;
    let request = ImageRequest::new("a lamp").callback_url(format!("{hook}/hooks/fal"));
    let task = fal.submit(&request, &SubmitOptions::new()).await.unwrap();
    let delivered = tokio::time::timeout(Duration::from_secs(10), delivered)
        .await
        .expect("the webhook came")
        .unwrap();
    let names = [
        "x-fal-webhook-request-id",
        "x-fal-webhook-user-id",
        "x-fal-webhook-timestamp",
        "x-fal-webhook-signature",
    ];
    let pairs: Vec<(&'static str, &str)> = names
        .iter()
        .map(|name| (*name, delivered.header(name).expect(name)))
        .collect();
    let call = WebhookCall::new(headers(&pairs), delivered.body.clone(), None);
    assert_eq!(fal.webhook_task(&call).unwrap(), task.task_id);
    // Nothing else in it is trusted: the authenticated result says.
    let done = poll_until_done(&fal, &task.task_ref()).await.unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
    // Altered, it is refused.
    let mut altered = call.clone();
    altered.body = delivered
        .body
        .iter()
        .chain(b" ")
        .copied()
        .collect::<Vec<u8>>()
        .into();
    assert_eq!(
        fal.webhook_task(&altered).unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
}

#[tokio::test]
async fn a_bad_key_is_unauthorized_naming_the_variable() {
    let sim = sim().await;
    let fal = provider(&sim.fal_url(), "not-a-key");
    for err in [
        fal.submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
            .await
            .unwrap_err(),
        fal.status(&TaskRef::new("any")).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
        assert!(err.hint().unwrap().contains("FAL_KEY"), "{err:?}");
        assert!(!err.may_have_reached_server());
        assert!(!format!("{err} {err:?}").contains("not-a-key"));
    }
}

#[tokio::test]
async fn an_exhausted_balance_is_insufficient_credits() {
    let sim = sim().await;
    let fal = provider(&sim.fal_url(), magic::NO_CREDITS);
    let err = fal
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsufficientCredits, "{err}");
    assert!(!err.is_retryable());
    assert!(!err.may_have_reached_server());
}

#[tokio::test]
async fn validation_and_unknown_requests_are_refusals() {
    let sim = sim().await;
    let fal = provider(&sim.fal_url(), KEY);
    let request = ImageRequest::new("lamp")
        .provider_option("fal", "background", json!("transparent"))
        .provider_option("fal", "output_format", json!("jpeg"));
    let err = fal
        .submit(&request, &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.code()),
        (ErrorKind::InvalidRequest, Some("value_error"))
    );
    assert!(!err.may_have_reached_server());
    let err = fal
        .status(&TaskRef::new("no-such-request"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.task_id(), Some("no-such-request"));
    assert_eq!(sim.ledger().entry("fal", KEY).unwrap().creates_charged, 0);
}

#[tokio::test]
async fn faults_are_errors_of_the_right_kind() {
    let sim = sim().await;
    let fal = provider(&sim.fal_url(), KEY);
    let task = fal
        .submit(&ImageRequest::new("lamp"), &SubmitOptions::new())
        .await
        .unwrap();
    sim.set_faults(FaultConfig {
        create_500: 1.0,
        status_500: 1.0,
        ..Default::default()
    });
    let err = fal
        .submit(&ImageRequest::new("lamp 2"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert!(err.may_have_reached_server());
    for err in [
        fal.status(&task.task_ref()).await.unwrap_err(),
        fal.result(&task.task_ref()).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Server, "{err}");
        assert!(err.is_retryable());
        assert_eq!(err.task_id(), Some(task.task_id.as_str()));
    }
    sim.set_faults(FaultConfig {
        malformed_json: 1.0,
        ..Default::default()
    });
    let err = fal
        .submit(&ImageRequest::new("lamp 3"), &SubmitOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.may_have_reached_server(), "charged: never resent");
    sim.set_faults(FaultConfig {
        burst_429: 1.0,
        ..Default::default()
    });
    let err = fal.status(&task.task_ref()).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.code()),
        (ErrorKind::RateLimited, Some("rate_limited"))
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
}

#[tokio::test]
async fn an_unknown_status_is_reported_then_the_task_goes_on() {
    let sim = sim().await;
    sim.set_faults(FaultConfig {
        unknown_status: 1.0,
        ..Default::default()
    });
    let fal = provider(&sim.fal_url(), KEY);
    assert_unknown_status_then_success(&fal, "STARTING").await;
}

#[tokio::test]
async fn debug_never_shows_the_key() {
    let fal = provider("http://127.0.0.1:9/fal", "fal-super-secret-key");
    assert_key_hidden(&fal, "super-secret");
    assert_eq!(fal.base_url(), "http://127.0.0.1:9/fal");
}
