//! Replicate: both create routes, `Prefer: wait`, statuses, cancel and
//! deadlines, validation, rate limits, failures, webhooks, faults.

use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use imagegen_sim::images::{ImageFormat, ImageSize, ImageSpec, render};
use imagegen_sim::{FaultConfig, LatencyProfile, SimConfig, SimHandle};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use super::common::*;

const AUTH: (&str, &str) = ("authorization", "Bearer sim-key");

fn model_url(sim: &SimHandle) -> String {
    format!(
        "{}/models/openai/gpt-image-1.5/predictions",
        sim.replicate_url()
    )
}

async fn create(sim: &SimHandle, headers: &[(&str, &str)], body: &Value) -> Answer {
    let mut h = vec![AUTH];
    h.extend_from_slice(headers);
    send(Method::POST, &model_url(sim), &h, Some(&body.to_string())).await
}

async fn fetch(url: &str) -> Answer {
    send(Method::GET, url, &[AUTH], None).await
}

/// Polls `urls.get` until a terminal status; returns the statuses seen and the last answer.
async fn until_done(get_url: &str) -> (Vec<String>, Answer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen: Vec<String> = Vec::new();
    loop {
        let a = fetch(get_url).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let s = a.body["status"].as_str().unwrap_or("?").to_string();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if ["succeeded", "failed", "canceled", "aborted"].contains(&s.as_str()) {
            return (seen, a);
        }
        assert!(Instant::now() < deadline, "never finished: {seen:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn every_aspect_and_quality_on_both_routes() {
    let sim = fast().await;
    let mut snapshots = Vec::new();
    for (i, (aspect, quality, dims)) in [
        ("1:1", "low", (1024, 1024)),
        ("3:2", "medium", (1536, 1024)),
        ("2:3", "high", (1024, 1536)),
        ("1:1", "auto", (1024, 1024)),
    ]
    .into_iter()
    .enumerate()
    {
        let input = json!({"prompt": format!("a lamp {aspect} {quality}"), "aspect_ratio": aspect, "quality": quality});
        let created = if i % 2 == 0 {
            create(&sim, &[], &json!({ "input": input })).await
        } else {
            send(
                Method::POST,
                &format!("{}/predictions", sim.replicate_url()),
                &[AUTH],
                Some(&json!({"version": "openai/gpt-image-1.5", "input": input}).to_string()),
            )
            .await
        };
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let get_url = created.body["urls"]["get"].as_str().unwrap().to_string();
        assert_eq!(created.header("location"), Some(get_url.as_str()));
        let (seen, done) = until_done(&get_url).await;
        assert_eq!(seen.last().unwrap(), "succeeded");
        let output = done.body["output"].as_array().unwrap();
        assert_eq!(output.len(), 1);
        let (ct, bytes) = download(output[0].as_str().unwrap()).await;
        assert_eq!(ct, "image/webp", "webp is the default");
        assert_eq!(image_size(&bytes), dims, "{aspect}");
        if i == 0 {
            snapshots.push(created.body.clone());
            snapshots.push(done.body.clone());
        }
    }
    insta::assert_json_snapshot!("replicate_predictions", snapshots, {
        "[].id" => "[id]", "[].created_at" => "[time]", "[].started_at" => "[time]",
        "[].completed_at" => "[time]", "[].urls.get" => "[url]", "[].urls.cancel" => "[url]",
        "[].urls.web" => "[url]", "[].output[]" => "[url]",
        "[].metrics.predict_time" => "[secs]", "[].metrics.total_time" => "[secs]"
    });
    let e = sim.ledger().entry("replicate", KEY).cloned().unwrap();
    assert_eq!(
        (e.creates_charged, e.credits_charged, e.duplicate_creates),
        (4, 4, 0)
    );
}

#[tokio::test]
async fn several_images_in_the_format_asked() {
    let sim = fast().await;
    let created = create(
        &sim,
        &[("prefer", "wait")],
        &json!({"input": {"prompt": "lamps", "number_of_images": 3, "output_format": "png",
                          "background": "transparent", "input_images": ["https://e.com/a.png"],
                          "input_fidelity": "high", "moderation": "low", "user_id": "u1",
                          "openai_api_key": "sk-x", "unknown_field": 1}}),
    )
    .await;
    assert_eq!(created.body["status"], "succeeded", "{}", created.body);
    let output = created.body["output"].as_array().unwrap();
    assert_eq!(output.len(), 3);
    for url in output {
        let (ct, bytes) = download(url.as_str().unwrap()).await;
        assert_eq!(ct, "image/png");
        assert_eq!(png_size(&bytes), (1024, 1024));
    }
    assert_eq!(created.body["metrics"]["image_count"], 3);
    assert_eq!(
        sim.ledger()
            .entry("replicate", KEY)
            .unwrap()
            .credits_charged,
        3
    );
}

#[tokio::test]
async fn images_show_the_request_and_are_served_by_task() {
    let sim = fast().await;
    let prompt = "two lamps, one lit";
    let created = create(
        &sim,
        &[("prefer", "wait")],
        &json!({"input": {"prompt": prompt, "number_of_images": 2, "aspect_ratio": "3:2",
                          "quality": "auto", "output_format": "png", "background": "transparent",
                          "input_images": ["https://e.com/a.png", "https://e.com/b.png",
                                           "https://e.com/c.png"]}}),
    )
    .await;
    assert_eq!(created.body["status"], "succeeded", "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    // `auto` quality is drawn as medium, as OpenAI's.
    let spec = ImageSpec::new("replicate", &id, prompt, ImageSize::Landscape)
        .quality("medium")
        .references(3)
        .transparent(true);
    for i in 0..2 {
        let url = format!("{}/files/replicate/{id}/{i}.png", sim.base_url());
        assert_eq!(created.body["output"][i], url);
        let (ct, bytes) = download(&url).await;
        assert_eq!(ct, "image/png");
        assert_eq!(bytes, render(&spec.clone().index(i, 2)), "image {i}");
    }
    // WebP by default, named so.
    let created = create(
        &sim,
        &[("prefer", "wait")],
        &json!({"input": {"prompt": "a lamp", "quality": "high"}}),
    )
    .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let url = format!("{}/files/replicate/{id}/0.webp", sim.base_url());
    assert_eq!(created.body["output"][0], url);
    let spec = ImageSpec::new("replicate", &id, "a lamp", ImageSize::Square)
        .quality("high")
        .format(ImageFormat::Webp);
    assert_eq!(download(&url).await.1, render(&spec));
    let png = get(
        &format!("{}/files/replicate/{id}/0.png", sim.base_url()),
        None,
    )
    .await;
    assert_eq!(png.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn prefer_wait_holds_until_done_or_gives_the_prediction_to_poll() {
    let sim = start(
        SimConfig::fast()
            .replicate_max_wait(Duration::from_millis(150))
            .latency(LatencyProfile::Fixed {
                queue_ms: 50,
                generate_ms: 1000,
            }),
    )
    .await;
    let t0 = Instant::now();
    let a = create(
        &sim,
        &[("prefer", "wait=5")],
        &json!({"input": {"prompt": "slow"}}),
    )
    .await;
    let held = t0.elapsed();
    assert!(
        held >= Duration::from_millis(140) && held < Duration::from_millis(900),
        "{held:?}"
    );
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.body["status"], "processing");
    assert!(a.body["output"].is_null());
    let location = a.header("location").unwrap().to_string();
    let (seen, done) = until_done(&location).await;
    assert_eq!(seen.last().unwrap(), "succeeded");
    assert!(done.body["started_at"].is_string() && done.body["completed_at"].is_string());
    // Without Prefer the create answers at once, starting.
    let b = create(&sim, &[], &json!({"input": {"prompt": "async"}})).await;
    assert_eq!(b.body["status"], "starting");
    assert!(b.body.get("started_at").is_none());
}

#[tokio::test]
async fn statuses_cancel_and_deadlines() {
    let sim = start(SimConfig::fast().latency(LatencyProfile::Fixed {
        queue_ms: 150,
        generate_ms: 300,
    }))
    .await;
    let a = create(&sim, &[], &json!({"input": {"prompt": "walk"}})).await;
    let (seen, _) = until_done(a.body["urls"]["get"].as_str().unwrap()).await;
    assert_eq!(seen, ["starting", "processing", "succeeded"]);
    // The simulator's own record of when it ran, as benchmarks read it.
    let (created, ended) = sim.task_times(a.body["id"].as_str().unwrap()).unwrap();
    assert_eq!(
        ended.duration_since(created).ok(),
        Some(Duration::from_millis(450))
    );
    assert_eq!(sim.task_times("no-such-prediction"), None);

    // Cancelled by the user: canceled, charged.
    let b = create(&sim, &[], &json!({"input": {"prompt": "cancel me"}})).await;
    let c = send(
        Method::POST,
        b.body["urls"]["cancel"].as_str().unwrap(),
        &[AUTH],
        None,
    )
    .await;
    assert_eq!(
        (c.status, &c.body["status"]),
        (StatusCode::OK, &json!("canceled"))
    );
    // Cancelling a finished prediction changes nothing.
    let again = send(
        Method::POST,
        b.body["urls"]["cancel"].as_str().unwrap(),
        &[AUTH],
        None,
    )
    .await;
    assert_eq!(again.body["status"], "canceled");

    // Deadline before the start: aborted, refunded.
    let d = create(
        &sim,
        &[("cancel-after", "50ms")],
        &json!({"input": {"prompt": "too late"}}),
    )
    .await;
    let (seen, _) = until_done(d.body["urls"]["get"].as_str().unwrap()).await;
    assert_eq!(seen.last().unwrap(), "aborted");
    // Deadline after the start: canceled, charged.
    let e = create(
        &sim,
        &[("cancel-after", "0.25s")],
        &json!({"input": {"prompt": "cut short"}}),
    )
    .await;
    let (seen, done) = until_done(e.body["urls"]["get"].as_str().unwrap()).await;
    assert_eq!(seen.last().unwrap(), "canceled");
    assert!(done.body["output"].is_null() && done.body["error"].is_null());
    let (created, ended) = sim.task_times(e.body["id"].as_str().unwrap()).unwrap();
    assert_eq!(
        ended.duration_since(created).ok(),
        Some(Duration::from_millis(250)),
        "ends when stopped"
    );

    let l = sim.ledger().entry("replicate", KEY).cloned().unwrap();
    assert_eq!((l.credits_charged, l.credits_refunded), (4, 1));
}

async fn case(name: &str, a: Answer) -> Value {
    json!({ "case": name, "status": a.status.as_u16(), "body": a.body })
}

#[tokio::test]
async fn every_documented_error() {
    let sim = fast().await;
    let url = model_url(&sim);
    let generic = format!("{}/predictions", sim.replicate_url());
    let ok = r#"{"input": {"prompt": "a lamp"}}"#;
    let with = |h: &'static [(&'static str, &'static str)], u: String, b: &'static str| async move {
        send(Method::POST, &u, h, Some(b)).await
    };
    let mut cases = Vec::new();
    cases.push(case("no key", with(&[], url.clone(), ok).await).await);
    cases.push(
        case(
            "wrong key",
            with(&[("authorization", "Bearer nope")], url.clone(), ok).await,
        )
        .await,
    );
    cases.push(case("invalid json", with(&[AUTH], url.clone(), "{nope").await).await);
    cases.push(case("missing input", with(&[AUTH], url.clone(), "{}").await).await);
    cases.push(
        case(
            "input not an object",
            with(&[AUTH], url.clone(), r#"{"input": "x"}"#).await,
        )
        .await,
    );
    cases.push(
        case(
            "every field wrong",
            with(
                &[AUTH],
                url.clone(),
                r#"{"input": {"prompt": 3, "aspect_ratio": "16:9", "quality": "ultra",
                    "background": "none", "moderation": "high", "output_format": "gif",
                    "output_compression": 101, "input_images": [1], "number_of_images": 11,
                    "input_fidelity": "max", "user_id": 7},
                    "webhook": "ftp://x", "webhook_events_filter": ["done"]}"#,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "missing prompt",
            with(&[AUTH], url.clone(), r#"{"input": {}}"#).await,
        )
        .await,
    );
    cases.push(case("missing version", with(&[AUTH], generic.clone(), ok).await).await);
    cases.push(
        case(
            "unknown version",
            with(
                &[AUTH],
                generic.clone(),
                r#"{"version": "openai/dall-e-3", "input": {"prompt": "x"}}"#,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "bad prefer",
            with(&[AUTH, ("prefer", "wait=90")], url.clone(), ok).await,
        )
        .await,
    );
    cases.push(
        case(
            "bad cancel-after",
            with(&[AUTH, ("cancel-after", "soon")], url.clone(), ok).await,
        )
        .await,
    );
    cases.push(
        case(
            "no credits",
            with(
                &[("authorization", "Bearer sim-key-no-credits")],
                url.clone(),
                ok,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown prediction",
            fetch(&format!("{generic}/nope")).await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown route",
            fetch(&format!("{}/collections", sim.replicate_url())).await,
        )
        .await,
    );
    insta::assert_json_snapshot!("replicate_errors", cases);
    // Token is Replicate's older scheme, still accepted.
    let token = send(
        Method::POST,
        &url,
        &[("authorization", "Token sim-key")],
        Some(ok),
    )
    .await;
    assert_eq!(token.status, StatusCode::CREATED);
    let e = sim.ledger().entry("replicate", KEY).cloned().unwrap();
    assert_eq!((e.creates_charged, e.errors_sent), (1, 10));
}

#[tokio::test]
async fn a_failed_prediction_is_a_200_with_an_error_and_is_refunded() {
    let sim = fast().await;
    let mut shapes = Vec::new();
    for input in [
        json!({"prompt": "sim:content-policy"}),
        json!({"prompt": "sim:server-error"}),
        json!({"prompt": "x", "background": "transparent", "output_format": "jpeg"}),
    ] {
        let a = create(&sim, &[("prefer", "wait")], &json!({ "input": input })).await;
        assert_eq!(a.status, StatusCode::CREATED);
        assert_eq!(a.body["status"], "failed");
        let (_, done) = until_done(a.body["urls"]["get"].as_str().unwrap()).await;
        assert_eq!(done.status, StatusCode::OK);
        shapes.push(json!({ "status": done.body["status"], "error": done.body["error"], "output": done.body["output"] }));
    }
    insta::assert_json_snapshot!("replicate_failed", shapes);
    let e = sim.ledger().entry("replicate", KEY).cloned().unwrap();
    assert_eq!(
        (e.credits_charged, e.credits_refunded, e.credits_left),
        (3, 3, 1_000_000)
    );
}

#[tokio::test]
async fn creates_are_throttled_at_the_documented_shape() {
    let sim = start(
        SimConfig::fast()
            .replicate_rate_limit(2, Duration::from_secs(30))
            .replicate_other_rate_limit(3, Duration::from_secs(30)),
    )
    .await;
    let body = json!({"input": {"prompt": "x"}});
    let a = create(&sim, &[], &body).await;
    create(&sim, &[], &body).await;
    let limited = create(&sim, &[], &body).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&secs), "{secs}");
    assert_eq!(
        limited.body,
        json!({ "detail": format!("Request was throttled. Your rate limit resets in ~{secs}s.") })
    );
    // Polls have their own budget.
    let get_url = a.body["urls"]["get"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(fetch(get_url).await.status, StatusCode::OK);
    }
    assert_eq!(fetch(get_url).await.status, StatusCode::TOO_MANY_REQUESTS);
    // Another key has its own budgets.
    let other = send(
        Method::POST,
        &model_url(&sim),
        &[("authorization", "Bearer sim-key-spend-limit")],
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(other.status, StatusCode::CREATED);
    let e = sim.ledger().entry("replicate", KEY).cloned().unwrap();
    assert_eq!(
        (e.rate_limited, e.creates_charged, e.duplicate_creates),
        (2, 2, 1)
    );
}

fn verify_replicate(secret: &str, d: &Delivered) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut content = format!(
        "{}.{}.",
        d.header("webhook-id"),
        d.header("webhook-timestamp")
    )
    .into_bytes();
    content.extend_from_slice(&d.body);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(&content);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert!(
        d.header("webhook-signature")
            .split(' ')
            .any(|s| s == expected),
        "signature {} != {expected}",
        d.header("webhook-signature")
    );
}

#[tokio::test]
async fn webhooks_are_signed_standard_webhooks_style() {
    let sim = start(SimConfig::fast().latency(LatencyProfile::Fixed {
        queue_ms: 50,
        generate_ms: 100,
    }))
    .await;
    let secret = fetch(&format!("{}/webhooks/default/secret", sim.replicate_url())).await;
    assert_eq!(secret.body, json!({"key": sim.replicate_webhook_secret()}));
    let secret = sim.replicate_webhook_secret();
    let (hook, hooks) = hooks(1).await;
    let a = create(
        &sim,
        &[],
        &json!({"input": {"prompt": "hooked"}, "webhook": hook, "webhook_events_filter": ["start", "completed"]}),
    )
    .await;
    let got = hooks.wait(2).await;
    for d in &got {
        verify_replicate(&secret, d);
        assert_eq!(d.json()["id"], a.body["id"]);
    }
    // The first delivery is refused once, so the retried one may come last.
    let mut statuses: Vec<String> = got
        .iter()
        .map(|d| d.json()["status"].as_str().unwrap().to_string())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["processing", "succeeded"]);
    assert_ne!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    // The terminal body is the prediction as GET shows it.
    let now = fetch(a.body["urls"]["get"].as_str().unwrap()).await;
    let end = got
        .iter()
        .map(Delivered::json)
        .find(|b| b["status"] == "succeeded")
        .unwrap();
    assert_eq!(end["output"], now.body["output"]);
    // The default filter sends one POST at the end; a cancel sends it at once.
    let b = create(
        &sim,
        &[],
        &json!({"input": {"prompt": "default"}, "webhook": hook}),
    )
    .await;
    let c = create(
        &sim,
        &[],
        &json!({"input": {"prompt": "stopped"}, "webhook": hook}),
    )
    .await;
    send(
        Method::POST,
        c.body["urls"]["cancel"].as_str().unwrap(),
        &[AUTH],
        None,
    )
    .await;
    let got = hooks.wait(4).await;
    let mut ends: Vec<(Value, Value)> = got[2..]
        .iter()
        .map(|d| (d.json()["id"].clone(), d.json()["status"].clone()))
        .collect();
    ends.sort_by_key(|(id, _)| id.to_string());
    let mut want = vec![
        (b.body["id"].clone(), json!("succeeded")),
        (c.body["id"].clone(), json!("canceled")),
    ];
    want.sort_by_key(|(id, _)| id.to_string());
    assert_eq!(ends, want);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hooks.received().len(), 4, "no second terminal webhook");
    let e = sim.ledger().entry("replicate", KEY).cloned().unwrap();
    assert_eq!((e.callbacks_delivered, e.callbacks_failed), (4, 0));
}

#[tokio::test]
async fn faults_strike_the_replicate_routes() {
    let sim = fast().await;
    let body = json!({"input": {"prompt": "a lamp"}});
    sim.set_faults(FaultConfig {
        create_500: 1.0,
        ..Default::default()
    });
    let a = create(&sim, &[], &body).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    sim.set_faults(FaultConfig {
        burst_429: 1.0,
        burst_len: 1,
        ..Default::default()
    });
    let b = create(&sim, &[], &body).await;
    assert_eq!(
        (b.status, b.header("retry-after")),
        (StatusCode::TOO_MANY_REQUESTS, Some("1"))
    );
    insta::assert_json_snapshot!("replicate_faults", json!([a.shape(), b.shape()]));
    sim.set_faults(FaultConfig {
        unknown_status: 1.0,
        ..Default::default()
    });
    let ok = create(&sim, &[], &body).await;
    let get_url = ok.body["urls"]["get"].as_str().unwrap().to_string();
    let (seen, _) = until_done(&get_url).await;
    assert_eq!(seen.first().unwrap(), "queued");
    sim.set_faults(FaultConfig {
        status_500: 1.0,
        ..Default::default()
    });
    assert_eq!(
        fetch(&get_url).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    sim.set_faults(FaultConfig {
        malformed_status_json: 1.0,
        ..Default::default()
    });
    assert!(fetch(&get_url).await.body.is_string());
    let whole = create(&sim, &[], &json!({"input": {"prompt": "whole"}})).await;
    assert!(whole.body.is_object(), "creates are never cut");
    sim.set_faults(FaultConfig {
        drop_after_accept: 1.0,
        ..Default::default()
    });
    for _ in 0..2 {
        let r = client()
            .post(model_url(&sim))
            .bearer_auth(KEY)
            .json(&json!({"input": {"prompt": "dropped"}}))
            .send()
            .await;
        assert!(r.is_err());
    }
    sim.set_faults(FaultConfig::default());
    let e = sim.ledger().entry("replicate", KEY).cloned().unwrap();
    assert_eq!(
        (e.creates_charged, e.duplicate_creates, e.rate_limited),
        (4, 1, 1)
    );
}
