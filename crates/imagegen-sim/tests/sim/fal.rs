//! fal: the queue (submit, status, result, cancel), the subpath rule,
//! validation, concurrency, model failures, sync mode, webhooks, faults.

use std::time::{Duration, Instant};

use base64::Engine;
use ed25519_dalek::{Signature, Verifier};
use imagegen_sim::images::{ImageFormat, ImageSize, ImageSpec, render};
use imagegen_sim::{FaultConfig, LatencyProfile, SimConfig, SimHandle};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::common::*;

const AUTH: (&str, &str) = ("authorization", "Key sim-key");

fn submit_url(sim: &SimHandle, edit: bool) -> String {
    format!(
        "{}/fal-ai/gpt-image-1.5{}",
        sim.fal_url(),
        if edit { "/edit" } else { "" }
    )
}

async fn submit(sim: &SimHandle, edit: bool, body: &Value) -> Answer {
    send(
        Method::POST,
        &submit_url(sim, edit),
        &[AUTH],
        Some(&body.to_string()),
    )
    .await
}

async fn status(url: &str) -> Answer {
    send(Method::GET, url, &[AUTH], None).await
}

/// Polls `status_url` until COMPLETED; returns the statuses seen and the last answer.
async fn until_completed(status_url: &str) -> (Vec<String>, Answer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen: Vec<String> = Vec::new();
    loop {
        let a = status(status_url).await;
        let s = a.body["status"].as_str().unwrap_or("?").to_string();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "COMPLETED" {
            assert_eq!(a.status, StatusCode::OK);
            return (seen, a);
        }
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
        assert!(Instant::now() < deadline, "never completed: {seen:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn every_size_and_quality_gives_real_images() {
    let sim = start(SimConfig::fast().fal_concurrency(0)).await;
    let mut first = None;
    for (size, quality, dims) in [
        ("1024x1024", "low", (1024, 1024)),
        ("1536x1024", "medium", (1536, 1024)),
        ("1024x1536", "high", (1024, 1536)),
        ("1024x1024", "medium", (1024, 1024)),
        ("1536x1024", "high", (1536, 1024)),
        ("1024x1536", "low", (1024, 1536)),
    ] {
        let a = submit(
            &sim,
            false,
            &json!({"prompt": format!("a lamp {size} {quality}"), "image_size": size, "quality": quality}),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        first.get_or_insert(a.body.clone());
        let (_, done) = until_completed(a.body["status_url"].as_str().unwrap()).await;
        assert!(done.body.get("error").is_none(), "{}", done.body);
        let result = status(a.body["response_url"].as_str().unwrap()).await;
        assert_eq!(result.status, StatusCode::OK);
        assert_eq!(
            result.header("x-fal-request-id"),
            a.body["request_id"].as_str()
        );
        let img = &result.body["images"][0];
        assert_eq!(
            (img["width"].as_u64(), img["height"].as_u64()),
            (Some(dims.0 as u64), Some(dims.1 as u64))
        );
        let (ct, bytes) = download(img["url"].as_str().unwrap()).await;
        assert_eq!(ct, "image/png");
        assert_eq!(img["file_size"].as_u64(), Some(bytes.len() as u64));
        assert_eq!(png_size(&bytes), dims, "{size}");
    }
    insta::assert_json_snapshot!("fal_submit", first.unwrap(), {
        ".request_id" => "[id]",
        ".response_url" => "[url]", ".status_url" => "[url]", ".cancel_url" => "[url]"
    });
    let e = sim.ledger().entry("fal", KEY).cloned().unwrap();
    assert_eq!(
        (e.creates_charged, e.credits_charged, e.duplicate_creates),
        (6, 6, 0)
    );
}

#[tokio::test]
async fn an_edit_is_polled_without_its_subpath() {
    let sim = start(SimConfig::fast().latency(LatencyProfile::Fixed {
        queue_ms: 400,
        generate_ms: 300,
    }))
    .await;
    let a = submit(
        &sim,
        true,
        &json!({"prompt": "make it blue", "image_urls": ["https://example.com/lamp.png"],
                "image_size": "auto", "input_fidelity": "low", "num_images": 2}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let id = a.body["request_id"].as_str().unwrap();
    let base = format!("{}/fal-ai/gpt-image-1.5/requests/{id}", sim.fal_url());
    assert_eq!(a.body["response_url"], base);
    assert_eq!(a.body["status_url"], format!("{base}/status"));
    assert_eq!(a.body["cancel_url"], format!("{base}/cancel"));
    assert_eq!(a.body["queue_position"], 0);
    // The subpath is not part of the status URL.
    let with_edit = status(&format!(
        "{}/fal-ai/gpt-image-1.5/edit/requests/{id}/status",
        sim.fal_url()
    ))
    .await;
    assert_eq!(with_edit.status, StatusCode::NOT_FOUND);
    assert_eq!(with_edit.body, json!({"detail": "Not Found"}));
    // Too early for the result.
    let early = status(&base).await;
    assert_eq!(early.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        early.body,
        json!({"detail": "Request is still in progress"})
    );
    let queued = status(&format!("{base}/status?logs=1")).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED);
    insta::assert_json_snapshot!("fal_status_in_queue", queued.body, {
        ".request_id" => "[id]",
        ".response_url" => "[url]", ".status_url" => "[url]", ".cancel_url" => "[url]"
    });
    let (seen, done) = until_completed(&format!("{base}/status")).await;
    assert!(
        seen.ends_with(&["IN_PROGRESS".to_string(), "COMPLETED".to_string()]),
        "{seen:?}"
    );
    let t = done.body["metrics"]["inference_time"].as_f64().unwrap();
    assert!((0.29..0.5).contains(&t), "{t}");
    insta::assert_json_snapshot!("fal_status_completed", done.body, {
        ".request_id" => "[id]", ".metrics.inference_time" => "[secs]",
        ".response_url" => "[url]", ".status_url" => "[url]", ".cancel_url" => "[url]"
    });
    let result = status(&base).await;
    assert_eq!(result.body["images"].as_array().unwrap().len(), 2);
    insta::assert_json_snapshot!("fal_result", result.body, {
        ".images[].url" => "[url]", ".images[].file_size" => "[bytes]"
    });
    assert_eq!(sim.ledger().entry("fal", KEY).unwrap().credits_charged, 2);
}

#[tokio::test]
async fn requests_over_the_concurrency_wait_in_the_queue() {
    let sim = start(SimConfig::fast().latency(LatencyProfile::Fixed {
        queue_ms: 0,
        generate_ms: 600,
    }))
    .await;
    let mut subs = Vec::new();
    for i in 0..4 {
        let a = submit(&sim, false, &json!({"prompt": format!("lamp {i}")})).await;
        assert_eq!(a.status, StatusCode::OK, "never rejected: {}", a.body);
        subs.push(a.body);
    }
    // Two run, two wait: the third has nobody ahead, the fourth one.
    assert_eq!(subs[2]["queue_position"], 0);
    assert_eq!(subs[3]["queue_position"], 1);
    let s0 = status(subs[0]["status_url"].as_str().unwrap()).await;
    let s2 = status(subs[2]["status_url"].as_str().unwrap()).await;
    let s3 = status(subs[3]["status_url"].as_str().unwrap()).await;
    assert_eq!(s0.body["status"], "IN_PROGRESS");
    assert_eq!(
        (&s2.body["status"], &s2.body["queue_position"]),
        (&json!("IN_QUEUE"), &json!(0))
    );
    assert_eq!(s3.body["queue_position"], 1);
    let t0 = Instant::now();
    until_completed(subs[3]["status_url"].as_str().unwrap()).await;
    // The fourth started when a slot freed, about 600 ms after the submit.
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    for s in &subs {
        until_completed(s["status_url"].as_str().unwrap()).await;
    }
}

async fn case(name: &str, a: Answer) -> Value {
    json!({ "case": name, "status": a.status.as_u16(), "body": a.body })
}

#[tokio::test]
async fn every_documented_error() {
    let sim = fast().await;
    let t2i = submit_url(&sim, false);
    let edit = submit_url(&sim, true);
    let post = |url: String, auth: Option<&'static str>, body: String| async move {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        send(Method::POST, &url, &headers, Some(&body)).await
    };
    let ok = json!({"prompt": "a lamp"}).to_string();
    let mut cases = Vec::new();
    cases.push(case("no key", post(t2i.clone(), None, ok.clone()).await).await);
    cases.push(
        case(
            "bearer scheme",
            post(t2i.clone(), Some("Bearer sim-key"), ok.clone()).await,
        )
        .await,
    );
    cases.push(
        case(
            "wrong key",
            post(t2i.clone(), Some("Key nope:nope"), ok.clone()).await,
        )
        .await,
    );
    cases.push(
        case(
            "invalid json",
            post(t2i.clone(), Some("Key sim-key"), "{nope".into()).await,
        )
        .await,
    );
    cases.push(
        case(
            "not an object",
            post(t2i.clone(), Some("Key sim-key"), "[1]".into()).await,
        )
        .await,
    );
    cases.push(
        case(
            "every field wrong",
            post(
                t2i.clone(),
                Some("Key sim-key"),
                json!({"image_size": "800x600", "quality": "ultra", "background": 1,
                       "num_images": 5, "output_format": "gif", "sync_mode": "yes",
                       "size": "1024x1024", "n": 2})
                .to_string(),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "empty prompt, zero images, auto size on text-to-image",
            post(
                t2i.clone(),
                Some("Key sim-key"),
                json!({"prompt": "", "num_images": 0, "image_size": "auto"}).to_string(),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "transparent jpeg",
            post(
                t2i.clone(),
                Some("Key sim-key"),
                json!({"prompt": "x", "background": "transparent", "output_format": "jpeg"})
                    .to_string(),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "edit without image_urls",
            post(edit.clone(), Some("Key sim-key"), ok.clone()).await,
        )
        .await,
    );
    cases.push(
        case(
            "edit with bad image_urls and fidelity",
            post(
                edit.clone(),
                Some("Key sim-key"),
                json!({"prompt": "x", "image_urls": ["https://e.com/a.png", 7],
                       "input_fidelity": "medium", "mask_image_url": 3})
                .to_string(),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "edit with no image",
            post(
                edit.clone(),
                Some("Key sim-key"),
                json!({"prompt": "x", "image_urls": []}).to_string(),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "edit field on text-to-image",
            post(
                t2i.clone(),
                Some("Key sim-key"),
                json!({"prompt": "x", "image_urls": ["https://e.com/a.png"]}).to_string(),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "bad webhook",
            post(
                format!("{t2i}?fal_webhook=ftp://x"),
                Some("Key sim-key"),
                ok.clone(),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "no credits",
            post(t2i.clone(), Some("Key sim-key-no-credits"), ok.clone()).await,
        )
        .await,
    );
    let requests = format!("{}/fal-ai/gpt-image-1.5/requests", sim.fal_url());
    cases.push(
        case(
            "unknown request status",
            status(&format!("{requests}/nope/status")).await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown request result",
            status(&format!("{requests}/nope")).await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown request cancel",
            send(
                Method::PUT,
                &format!("{requests}/nope/cancel"),
                &[AUTH],
                None,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown route",
            status(&format!("{}/fal-ai/flux/dev", sim.fal_url())).await,
        )
        .await,
    );
    cases.push(
        case(
            "wrong method",
            send(Method::DELETE, &t2i, &[AUTH], None).await,
        )
        .await,
    );
    insta::assert_json_snapshot!("fal_errors", cases);
    let ledger = sim.ledger();
    let e = ledger.entry("fal", KEY).unwrap();
    assert_eq!((e.creates_accepted, e.credits_charged), (0, 0));
    assert_eq!(
        ledger
            .entry("fal", "sim-key-no-credits")
            .unwrap()
            .errors_sent,
        1
    );
}

#[tokio::test]
async fn completed_does_not_mean_success() {
    let sim = fast().await;
    let blocked = submit(&sim, false, &json!({"prompt": "sim:content-policy please"})).await;
    let broken = submit(
        &sim,
        false,
        &json!({"prompt": "sim:server-error", "num_images": 3}),
    )
    .await;
    let (_, done) = until_completed(blocked.body["status_url"].as_str().unwrap()).await;
    assert_eq!(done.body["error_type"], "content_policy_violation");
    let refused = status(blocked.body["response_url"].as_str().unwrap()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, done) = until_completed(broken.body["status_url"].as_str().unwrap()).await;
    assert_eq!(done.body["error_type"], "internal_server_error");
    let failed = status(broken.body["response_url"].as_str().unwrap()).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        failed.header("x-fal-error-type"),
        Some("internal_server_error")
    );
    insta::assert_json_snapshot!("fal_model_errors", json!([refused.shape(), failed.shape()]));
    // The refusal stays charged; the 5xx is not billed.
    let e = sim.ledger().entry("fal", KEY).cloned().unwrap();
    assert_eq!((e.credits_charged, e.credits_refunded), (4, 3));
}

#[tokio::test]
async fn sync_mode_answers_data_uris() {
    let sim = fast().await;
    let a = submit(
        &sim,
        false,
        &json!({"prompt": "a lamp", "sync_mode": true, "output_format": "webp",
                "background": "transparent", "num_images": 2, "image_size": "1536x1024"}),
    )
    .await;
    until_completed(a.body["status_url"].as_str().unwrap()).await;
    let result = status(a.body["response_url"].as_str().unwrap()).await;
    let images = result.body["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    for img in images {
        assert_eq!(img["content_type"], "image/webp");
        let url = img["url"].as_str().unwrap();
        let b64 = url.strip_prefix("data:image/webp;base64,").expect(url);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(image_size(&bytes), (1536, 1024));
        assert_eq!(img["file_size"].as_u64(), Some(bytes.len() as u64));
    }
}

#[tokio::test]
async fn output_formats_are_served_as_asked() {
    let sim = fast().await;
    for (format, ct) in [
        ("jpeg", "image/jpeg"),
        ("webp", "image/webp"),
        ("png", "image/png"),
    ] {
        let a = submit(
            &sim,
            false,
            &json!({"prompt": "a lamp", "output_format": format}),
        )
        .await;
        until_completed(a.body["status_url"].as_str().unwrap()).await;
        let result = status(a.body["response_url"].as_str().unwrap()).await;
        let (got, bytes) = download(result.body["images"][0]["url"].as_str().unwrap()).await;
        assert_eq!(got, ct);
        assert_eq!(image_size(&bytes), (1024, 1024));
    }
}

#[tokio::test]
async fn images_show_the_request_and_are_served_by_task() {
    let sim = fast().await;
    let prompt = "make the lamp blue";
    let a = submit(
        &sim,
        true,
        &json!({"prompt": prompt, "image_urls": ["https://e.com/a.png", "https://e.com/b.png"],
                "image_size": "1024x1536", "quality": "low", "num_images": 2,
                "output_format": "webp", "background": "transparent"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let id = a.body["request_id"].as_str().unwrap().to_string();
    until_completed(a.body["status_url"].as_str().unwrap()).await;
    let result = status(a.body["response_url"].as_str().unwrap()).await;
    let spec = ImageSpec::new("fal", &id, prompt, ImageSize::Portrait)
        .quality("low")
        .references(2)
        .format(ImageFormat::Webp)
        .transparent(true);
    for i in 0..2 {
        let img = &result.body["images"][i];
        let url = format!("{}/files/fal/{id}/{i}.webp", sim.base_url());
        assert_eq!(img["url"], url);
        assert_eq!(img["file_name"], format!("{i}.webp"));
        let (ct, bytes) = download(&url).await;
        assert_eq!(ct, "image/webp");
        assert_eq!(bytes, render(&spec.clone().index(i, 2)), "image {i}");
        assert_eq!(img["file_size"].as_u64(), Some(bytes.len() as u64));
    }
    // Another format, an image the request did not make, another seller's
    // path: 404.
    for bad in [
        format!("/files/fal/{id}/0.png"),
        format!("/files/fal/{id}/2.webp"),
        format!("/files/replicate/{id}/0.webp"),
    ] {
        let a = get(&format!("{}{bad}", sim.base_url()), None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{bad}");
    }

    // Sync mode: the same image, inline. fal's default quality is high.
    let a = submit(
        &sim,
        false,
        &json!({"prompt": "a lamp", "sync_mode": true, "output_format": "jpeg"}),
    )
    .await;
    let id = a.body["request_id"].as_str().unwrap().to_string();
    until_completed(a.body["status_url"].as_str().unwrap()).await;
    let result = status(a.body["response_url"].as_str().unwrap()).await;
    let url = result.body["images"][0]["url"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(url.strip_prefix("data:image/jpeg;base64,").expect(url))
        .unwrap();
    let spec = ImageSpec::new("fal", &id, "a lamp", ImageSize::Square)
        .quality("high")
        .format(ImageFormat::Jpeg);
    assert_eq!(bytes, render(&spec));
}

#[tokio::test]
async fn a_cancelled_request_has_no_file() {
    let sim = start(SimConfig::fast().latency(LatencyProfile::Fixed {
        queue_ms: 0,
        generate_ms: 300,
    }))
    .await;
    let a = submit(&sim, false, &json!({"prompt": "a lamp"})).await;
    let id = a.body["request_id"].as_str().unwrap().to_string();
    let c = send(
        Method::PUT,
        a.body["cancel_url"].as_str().unwrap(),
        &[AUTH],
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::ACCEPTED, "{}", c.body);
    // Past the time it would have succeeded.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let file = get(&format!("{}/files/fal/{id}/0.png", sim.base_url()), None).await;
    assert_eq!(file.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cancel_in_queue_is_refunded_in_progress_is_not() {
    let sim = start(
        SimConfig::fast()
            .fal_concurrency(1)
            .latency(LatencyProfile::Fixed {
                queue_ms: 0,
                generate_ms: 500,
            }),
    )
    .await;
    let running = submit(&sim, false, &json!({"prompt": "first"})).await;
    let queued = submit(&sim, false, &json!({"prompt": "second", "num_images": 2})).await;
    assert_eq!(queued.body["queue_position"], 0);
    let c = send(
        Method::PUT,
        queued.body["cancel_url"].as_str().unwrap(),
        &[AUTH],
        None,
    )
    .await;
    assert_eq!(
        (c.status, c.body.clone()),
        (
            StatusCode::ACCEPTED,
            json!({"status": "CANCELLATION_REQUESTED"})
        )
    );
    let s = status(queued.body["status_url"].as_str().unwrap()).await;
    assert_eq!(
        (s.status, &s.body["status"], &s.body["error_type"]),
        (
            StatusCode::OK,
            &json!("COMPLETED"),
            &json!("request_cancelled")
        )
    );
    let r = status(queued.body["response_url"].as_str().unwrap()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({"detail": "Request was cancelled", "error_type": "request_cancelled"})
    );
    let c = send(
        Method::PUT,
        running.body["cancel_url"].as_str().unwrap(),
        &[AUTH],
        None,
    )
    .await;
    assert_eq!(c.status, StatusCode::ACCEPTED);
    // Once completed, a cancel is too late.
    let again = send(
        Method::PUT,
        running.body["cancel_url"].as_str().unwrap(),
        &[AUTH],
        None,
    )
    .await;
    assert_eq!(
        (again.status, again.body),
        (
            StatusCode::BAD_REQUEST,
            json!({"status": "ALREADY_COMPLETED"})
        )
    );
    // A cancel frees the slot: a new request starts at once.
    let next = submit(&sim, false, &json!({"prompt": "third"})).await;
    let s = status(next.body["status_url"].as_str().unwrap()).await;
    assert_eq!(s.body["status"], "IN_PROGRESS");
    let e = sim.ledger().entry("fal", KEY).cloned().unwrap();
    assert_eq!((e.credits_charged, e.credits_refunded), (4, 2));
}

/// Whether `d` carries a valid fal signature (fal's documented algorithm).
fn fal_signature_ok(sim: &SimHandle, d: &Delivered) -> bool {
    let digest = hex::encode(Sha256::digest(&d.body));
    let message = format!(
        "{}\n{}\n{}\n{digest}",
        d.header("x-fal-webhook-request-id"),
        d.header("x-fal-webhook-user-id"),
        d.header("x-fal-webhook-timestamp"),
    );
    let Some(sig) = hex::decode(d.header("x-fal-webhook-signature"))
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    else {
        return false;
    };
    let ts: i64 = d.header("x-fal-webhook-timestamp").parse().unwrap_or(0);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    (now - ts).abs() <= 300
        && sim
            .fal_webhook_public_key()
            .verify(message.as_bytes(), &Signature::from_bytes(&sig))
            .is_ok()
}

#[tokio::test]
async fn webhooks_are_signed_with_ed25519() {
    let sim = fast().await;
    let (hook, hooks) = hooks(1).await;
    let ok = send(
        Method::POST,
        &format!("{}?fal_webhook={hook}", submit_url(&sim, false)),
        &[AUTH],
        Some(r#"{"prompt": "a lamp"}"#),
    )
    .await;
    assert_eq!(ok.body["gateway_request_id"], ok.body["request_id"]);
    let got = hooks.wait(1).await;
    let d = &got[0];
    assert!(fal_signature_ok(&sim, d));
    assert_eq!(
        d.header("x-fal-webhook-request-id"),
        ok.body["request_id"].as_str().unwrap()
    );
    assert!(d.header("x-fal-webhook-user-id").starts_with("sim-user-"));
    let body = d.json();
    assert_eq!(body["status"], "OK");
    assert_eq!(body["request_id"], ok.body["request_id"]);
    assert_eq!(body["payload"]["images"][0]["width"], 1024);
    // A tampered body does not verify.
    let mut bad = d.clone();
    bad.body.push(b' ');
    assert!(!fal_signature_ok(&sim, &bad));

    let failed = send(
        Method::POST,
        &format!("{}?fal_webhook={hook}", submit_url(&sim, false)),
        &[AUTH],
        Some(r#"{"prompt": "sim:content-policy"}"#),
    )
    .await;
    let got = hooks.wait(2).await;
    assert!(fal_signature_ok(&sim, &got[1]));
    let body = got[1].json();
    assert_eq!(body["request_id"], failed.body["request_id"]);
    insta::assert_json_snapshot!("fal_webhook_error", body, {
        ".request_id" => "[id]", ".gateway_request_id" => "[id]"
    });
    let e = sim.ledger().entry("fal", KEY).cloned().unwrap();
    assert_eq!((e.callbacks_delivered, e.callbacks_failed), (2, 0));

    // The JWKS and /_sim/config carry the same public key.
    let jwks = get(
        &format!("{}/fal-rest/.well-known/jwks.json", sim.base_url()),
        None,
    )
    .await;
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwks.body["keys"][0]["x"].as_str().unwrap())
        .unwrap();
    assert_eq!(x, sim.fal_webhook_public_key().as_bytes());
    let config = get(&format!("{}/_sim/config", sim.base_url()), None).await;
    assert_eq!(
        config.body["fal"]["webhook_public_key"],
        hex::encode(sim.fal_webhook_public_key().as_bytes())
    );
}

#[tokio::test]
async fn faults_strike_the_fal_routes() {
    let sim = fast().await;
    let body = json!({"prompt": "a lamp"});
    sim.set_faults(FaultConfig {
        create_500: 1.0,
        ..Default::default()
    });
    let a = submit(&sim, false, &body).await;
    assert_eq!(
        (a.status, a.body.clone()),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"detail": "Internal Server Error"})
        )
    );
    sim.set_faults(FaultConfig {
        burst_429: 1.0,
        burst_len: 2,
        ..Default::default()
    });
    let a = submit(&sim, false, &body).await;
    sim.set_faults(FaultConfig::default());
    let b = submit(&sim, false, &body).await;
    assert_eq!(
        (a.status, b.status),
        (StatusCode::TOO_MANY_REQUESTS, StatusCode::TOO_MANY_REQUESTS)
    );
    assert_eq!(a.header("retry-after"), Some("1"));
    let ok = submit(&sim, false, &body).await;
    assert_eq!(ok.status, StatusCode::OK);
    sim.set_faults(FaultConfig {
        status_500: 1.0,
        ..Default::default()
    });
    assert_eq!(
        status(ok.body["status_url"].as_str().unwrap()).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        status(ok.body["response_url"].as_str().unwrap())
            .await
            .status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    sim.set_faults(FaultConfig {
        malformed_status_json: 1.0,
        ..Default::default()
    });
    let garbled = status(ok.body["status_url"].as_str().unwrap()).await;
    assert!(garbled.body.is_string(), "{}", garbled.body);
    sim.set_faults(FaultConfig {
        unknown_status: 1.0,
        ..Default::default()
    });
    let odd = submit(&sim, false, &json!({"prompt": "odd"})).await;
    let first = status(odd.body["status_url"].as_str().unwrap()).await;
    assert_eq!(
        (first.status, &first.body["status"]),
        (StatusCode::ACCEPTED, &json!("STARTING"))
    );
    sim.set_faults(FaultConfig {
        drop_after_accept: 1.0,
        ..Default::default()
    });
    for _ in 0..2 {
        let err = client()
            .post(submit_url(&sim, false))
            .header("authorization", "Key sim-key")
            .json(&json!({"prompt": "dropped"}))
            .send()
            .await;
        assert!(err.is_err());
    }
    sim.set_faults(FaultConfig::default());
    let e = sim.ledger().entry("fal", KEY).cloned().unwrap();
    // ok, odd, and the dropped one twice: charged, the retry counted as a duplicate.
    assert_eq!(
        (e.creates_charged, e.duplicate_creates, e.rate_limited),
        (4, 1, 2)
    );
    assert_eq!(e.errors_sent, 5);
}
