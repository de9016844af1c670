//! WaveSpeed: submit and both result paths, sizes and qualities, sync mode
//! and its gateway limit, base64 output, failures, limits, webhooks, faults.

use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use imagegen_sim::images::{ImageSize, ImageSpec, render};
use imagegen_sim::{FaultConfig, LatencyProfile, SimConfig, SimHandle};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use super::common::*;

const AUTH: (&str, &str) = ("authorization", "Bearer sim-key");

fn t2i_url(sim: &SimHandle) -> String {
    format!(
        "{}/api/v3/openai/gpt-image-1.5/text-to-image",
        sim.wavespeed_url()
    )
}

fn edit_url(sim: &SimHandle) -> String {
    format!("{}/api/v3/openai/gpt-image-1.5/edit", sim.wavespeed_url())
}

async fn submit(url: &str, body: &Value) -> Answer {
    send(Method::POST, url, &[AUTH], Some(&body.to_string())).await
}

async fn fetch(url: &str) -> Answer {
    send(Method::GET, url, &[AUTH], None).await
}

/// No per-minute limit nor concurrency: for tests that make many tasks.
fn unlimited() -> SimConfig {
    SimConfig::fast()
        .wavespeed_rate_limit(0, Duration::from_secs(60))
        .wavespeed_concurrency(0)
}

async fn until_done(url: &str) -> (Vec<String>, Answer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen: Vec<String> = Vec::new();
    loop {
        let a = fetch(url).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["code"], 200);
        let s = a.body["data"]["status"].as_str().unwrap_or("?").to_string();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "completed" || s == "failed" {
            return (seen, a);
        }
        assert!(Instant::now() < deadline, "never finished: {seen:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn every_size_and_quality_on_both_endpoints_and_result_paths() {
    let sim = start(unlimited()).await;
    let mut shots = Vec::new();
    for (i, (size, quality, dims)) in [
        ("1024*1024", "low", (1024, 1024)),
        ("1536*1024", "medium", (1536, 1024)),
        ("1024*1536", "high", (1024, 1536)),
        ("1024x1536", "medium", (1024, 1536)),
        ("auto", "low", (1024, 1024)),
    ]
    .into_iter()
    .enumerate()
    {
        let edit = i % 2 == 1;
        let mut body =
            json!({"prompt": format!("a lamp {size}"), "size": size, "quality": quality});
        if edit {
            body["images"] = json!(["https://example.com/lamp.png"]);
        }
        let url = if edit { edit_url(&sim) } else { t2i_url(&sim) };
        let a = submit(&url, &body).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(a.body["data"]["status"], "created");
        let get_url = a.body["data"]["urls"]["get"].as_str().unwrap().to_string();
        assert!(get_url.ends_with("/result"));
        let (seen, done) = until_done(&get_url).await;
        assert_eq!(seen.last().unwrap(), "completed");
        // The other documented path answers the same.
        let plain = fetch(get_url.strip_suffix("/result").unwrap()).await;
        assert_eq!(plain.body["data"]["outputs"], done.body["data"]["outputs"]);
        let (ct, bytes) = download(done.body["data"]["outputs"][0].as_str().unwrap()).await;
        assert_eq!(ct, "image/png");
        assert_eq!(png_size(&bytes), dims, "{size}");
        if i < 2 {
            shots.push(a.body.clone());
            shots.push(done.body.clone());
        }
    }
    insta::assert_json_snapshot!("wavespeed_tasks", shots, {
        "[].data.id" => "[id]", "[].data.created_at" => "[time]", "[].data.urls.get" => "[url]",
        "[].data.outputs[]" => "[url]", "[].data.timings.inference" => "[ms]"
    });
}

#[tokio::test]
async fn images_show_the_request_and_are_served_by_task() {
    let sim = start(unlimited()).await;
    let prompt = "a lamp, but green";
    let a = submit(
        &edit_url(&sim),
        &json!({"prompt": prompt, "images": ["https://e.com/a.png", "https://e.com/b.png"],
                "size": "1536*1024", "quality": "high", "background": "transparent"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let id = a.body["data"]["id"].as_str().unwrap().to_string();
    let (_, done) = until_done(a.body["data"]["urls"]["get"].as_str().unwrap()).await;
    let url = format!("{}/files/wavespeed/{id}/0.png", sim.base_url());
    assert_eq!(done.body["data"]["outputs"], json!([url]));
    let (ct, bytes) = download(&url).await;
    assert_eq!(ct, "image/png");
    let spec = ImageSpec::new("wavespeed", &id, prompt, ImageSize::Landscape)
        .quality("high")
        .references(2)
        .transparent(true);
    assert_eq!(bytes, render(&spec));
    // The only image, in the only format.
    for bad in [format!("{id}/1.png"), format!("{id}/0.webp")] {
        let a = get(&format!("{}/files/wavespeed/{bad}", sim.base_url()), None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{bad}");
    }

    // Base64 output: the same image, inline (medium by default).
    let a = submit(
        &t2i_url(&sim),
        &json!({"prompt": "inline", "enable_sync_mode": true, "enable_base64_output": true}),
    )
    .await;
    let id = a.body["data"]["id"].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(a.body["data"]["outputs"][0].as_str().unwrap())
        .unwrap();
    let spec = ImageSpec::new("wavespeed", id, "inline", ImageSize::Square);
    assert_eq!(bytes, render(&spec));
}

#[tokio::test]
async fn sync_mode_answers_the_finished_task_or_a_gateway_timeout() {
    let sim = start(unlimited()).await;
    let a = submit(
        &t2i_url(&sim),
        &json!({"prompt": "now", "enable_sync_mode": true, "enable_base64_output": true, "size": "1536*1024"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["data"]["status"], "completed");
    let b64 = a.body["data"]["outputs"][0].as_str().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(png_size(&bytes), (1536, 1024));

    let slow = start(
        unlimited()
            .wavespeed_sync_timeout(Duration::from_millis(100))
            .latency(LatencyProfile::Fixed {
                queue_ms: 0,
                generate_ms: 800,
            }),
    )
    .await;
    let t0 = Instant::now();
    let g = submit(
        &t2i_url(&slow),
        &json!({"prompt": "slow", "enable_sync_mode": true}),
    )
    .await;
    assert!(t0.elapsed() < Duration::from_millis(700));
    assert_eq!(g.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(g.header("content-type"), Some("text/html"));
    assert!(g.body.as_str().unwrap().contains("504 Gateway Time-out"));
    // No id reached the client, but the task was charged and goes on.
    let e = slow.ledger().entry("wavespeed", KEY).cloned().unwrap();
    assert_eq!((e.creates_charged, e.errors_sent), (1, 1));
    assert_eq!(slow.tasks_in_store(), 1);
}

async fn case(name: &str, a: Answer) -> Value {
    json!({ "case": name, "status": a.status.as_u16(), "body": a.body })
}

#[tokio::test]
async fn every_documented_error() {
    let sim = start(unlimited()).await;
    let t2i = t2i_url(&sim);
    let edit = edit_url(&sim);
    let p = |url: String, headers: &'static [(&'static str, &'static str)], body: &'static str| async move {
        send(Method::POST, &url, headers, Some(body)).await
    };
    let ok = r#"{"prompt": "a lamp"}"#;
    let mut cases = Vec::new();
    cases.push(case("no key", p(t2i.clone(), &[], ok).await).await);
    cases.push(
        case(
            "wrong key",
            p(t2i.clone(), &[("authorization", "Bearer nope")], ok).await,
        )
        .await,
    );
    cases.push(case("invalid json", p(t2i.clone(), &[AUTH], "{nope").await).await);
    cases.push(case("missing prompt", p(t2i.clone(), &[AUTH], "{}").await).await);
    cases.push(
        case(
            "bad size",
            p(
                t2i.clone(),
                &[AUTH],
                r#"{"prompt": "x", "size": "800*600"}"#,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "bad quality",
            p(
                t2i.clone(),
                &[AUTH],
                r#"{"prompt": "x", "quality": "auto"}"#,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "bad flag",
            p(
                t2i.clone(),
                &[AUTH],
                r#"{"prompt": "x", "enable_sync_mode": "yes"}"#,
            )
            .await,
        )
        .await,
    );
    cases.push(case("edit without images", p(edit.clone(), &[AUTH], ok).await).await);
    cases.push(
        case(
            "edit with no image",
            p(edit.clone(), &[AUTH], r#"{"prompt": "x", "images": []}"#).await,
        )
        .await,
    );
    cases.push(
        case(
            "bad webhook",
            p(format!("{t2i}?webhook=ftp://x"), &[AUTH], ok).await,
        )
        .await,
    );
    cases.push(
        case(
            "no credits",
            p(
                t2i.clone(),
                &[("authorization", "Bearer sim-key-no-credits")],
                ok,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown task",
            fetch(&format!(
                "{}/api/v3/predictions/nope/result",
                sim.wavespeed_url()
            ))
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown route",
            fetch(&format!("{}/api/v3/models", sim.wavespeed_url())).await,
        )
        .await,
    );
    insta::assert_json_snapshot!("wavespeed_errors", cases);
    let e = sim.ledger().entry("wavespeed", KEY).cloned().unwrap();
    assert_eq!((e.creates_accepted, e.errors_sent), (0, 9));
}

#[tokio::test]
async fn a_failed_task_is_a_200_and_is_refunded() {
    let sim = start(unlimited()).await;
    let a = submit(&t2i_url(&sim), &json!({"prompt": "sim:content-policy"})).await;
    let (_, done) = until_done(a.body["data"]["urls"]["get"].as_str().unwrap()).await;
    assert_eq!(done.status, StatusCode::OK);
    insta::assert_json_snapshot!("wavespeed_failed", done.body, {
        ".data.id" => "[id]", ".data.created_at" => "[time]", ".data.urls.get" => "[url]",
        ".data.timings.inference" => "[ms]"
    });
    let b = submit(
        &t2i_url(&sim),
        &json!({"prompt": "sim:server-error", "enable_sync_mode": true}),
    )
    .await;
    assert_eq!(b.body["data"]["status"], "failed");
    assert_eq!(
        b.body["data"]["error"],
        "Internal server error: the model run failed."
    );
    let e = sim.ledger().entry("wavespeed", KEY).cloned().unwrap();
    assert_eq!((e.credits_charged, e.credits_refunded), (2, 2));
}

#[tokio::test]
async fn bronze_limits_two_images_per_window_and_two_running() {
    let mut config = SimConfig::fast();
    assert_eq!(config.wavespeed_rate_limit.requests, 2);
    assert_eq!(config.wavespeed_concurrency, 2);
    assert_eq!(
        SimConfig::realistic().wavespeed_rate_limit.window,
        Duration::from_secs(60)
    );
    // The fast profile's second, stretched so a loaded machine stays in one window.
    config.wavespeed_rate_limit.window = Duration::from_secs(60);
    let sim = start(config).await;
    let body = json!({"prompt": "x"});
    assert_eq!(submit(&t2i_url(&sim), &body).await.status, StatusCode::OK);
    assert_eq!(submit(&t2i_url(&sim), &body).await.status, StatusCode::OK);
    let limited = submit(&t2i_url(&sim), &body).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    insta::assert_json_snapshot!("wavespeed_rate_limited", limited.body, { ".message" => insta::dynamic_redaction(move |v, _| {
        assert_eq!(v.as_str().unwrap(), format!("Rate limit exceeded: your account level allows 2 images per 60 s. Please retry after {secs} s."));
        "[message]"
    }) });

    let queued = start(
        SimConfig::fast()
            .wavespeed_rate_limit(0, Duration::from_secs(60))
            .latency(LatencyProfile::Fixed {
                queue_ms: 0,
                generate_ms: 600,
            }),
    )
    .await;
    let mut urls = Vec::new();
    for i in 0..3 {
        let a = submit(&t2i_url(&queued), &json!({"prompt": format!("t{i}")})).await;
        assert_eq!(a.status, StatusCode::OK, "never refused: {}", a.body);
        urls.push(a.body["data"]["urls"]["get"].as_str().unwrap().to_string());
    }
    let first = fetch(&urls[0]).await;
    let third = fetch(&urls[2]).await;
    assert_eq!(first.body["data"]["status"], "processing");
    assert_eq!(third.body["data"]["status"], "created", "waits for a slot");
    let t0 = Instant::now();
    until_done(&urls[2]).await;
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
}

fn verify_wavespeed(secret: &str, d: &Delivered) {
    let key = secret.strip_prefix("whsec_").unwrap().as_bytes();
    let mut content = format!(
        "{}.{}.",
        d.header("webhook-id"),
        d.header("webhook-timestamp")
    )
    .into_bytes();
    content.extend_from_slice(&d.body);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(&content);
    let expected = format!("v3,{}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(d.header("webhook-signature"), expected);
}

#[tokio::test]
async fn webhooks_are_signed_v3_hex_and_not_wrapped() {
    let sim = start(unlimited()).await;
    let secret = fetch(&format!("{}/api/v3/webhook/secret", sim.wavespeed_url())).await;
    assert_eq!(
        secret.body["data"]["secret"],
        sim.wavespeed_webhook_secret()
    );
    let (hook, hooks) = hooks(0).await;
    let a = submit(
        &format!("{}?webhook={hook}", t2i_url(&sim)),
        &json!({"prompt": "hooked"}),
    )
    .await;
    let b = submit(
        &format!("{}?webhook={hook}", t2i_url(&sim)),
        &json!({"prompt": "sim:content-policy"}),
    )
    .await;
    let got = hooks.wait(2).await;
    for d in &got {
        verify_wavespeed(&sim.wavespeed_webhook_secret(), d);
        let body = d.json();
        assert_eq!(d.header("webhook-id"), body["id"].as_str().unwrap());
        assert!(body.get("code").is_none(), "not wrapped");
    }
    let by_id = |id: &Value| {
        got.iter()
            .map(Delivered::json)
            .find(|b| &b["id"] == id)
            .unwrap()
    };
    let ok = by_id(&a.body["data"]["id"]);
    assert_eq!(ok["status"], "completed");
    assert_eq!(ok["input"]["prompt"], "hooked");
    assert_eq!(ok["outputs"].as_array().unwrap().len(), 1);
    let failed = by_id(&b.body["data"]["id"]);
    assert_eq!(failed["status"], "failed");
    assert!(failed.get("outputs").is_none());
    let e = sim.ledger().entry("wavespeed", KEY).cloned().unwrap();
    assert_eq!(e.callbacks_delivered, 2);
}

#[tokio::test]
async fn faults_strike_the_wavespeed_routes() {
    let sim = start(unlimited()).await;
    let body = json!({"prompt": "a lamp"});
    sim.set_faults(FaultConfig {
        create_500: 1.0,
        ..Default::default()
    });
    let a = submit(&t2i_url(&sim), &body).await;
    sim.set_faults(FaultConfig {
        burst_429: 1.0,
        burst_len: 1,
        ..Default::default()
    });
    let b = submit(&t2i_url(&sim), &body).await;
    assert_eq!(
        (a.status, b.status),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::TOO_MANY_REQUESTS
        )
    );
    insta::assert_json_snapshot!("wavespeed_faults", json!([a.shape(), b.shape()]));
    sim.set_faults(FaultConfig {
        unknown_status: 1.0,
        ..Default::default()
    });
    let ok = submit(&t2i_url(&sim), &body).await;
    let url = ok.body["data"]["urls"]["get"].as_str().unwrap().to_string();
    let (seen, _) = until_done(&url).await;
    assert_eq!(seen.first().unwrap(), "pending");
    sim.set_faults(FaultConfig {
        status_500: 1.0,
        ..Default::default()
    });
    assert_eq!(fetch(&url).await.status, StatusCode::INTERNAL_SERVER_ERROR);
    sim.set_faults(FaultConfig {
        malformed_status_json: 1.0,
        ..Default::default()
    });
    assert!(fetch(&url).await.body.is_string());
    sim.set_faults(FaultConfig {
        drop_after_accept: 1.0,
        ..Default::default()
    });
    for _ in 0..2 {
        let r = client()
            .post(t2i_url(&sim))
            .bearer_auth(KEY)
            .json(&json!({"prompt": "dropped"}))
            .send()
            .await;
        assert!(r.is_err());
    }
    sim.set_faults(FaultConfig::default());
    let e = sim.ledger().entry("wavespeed", KEY).cloned().unwrap();
    assert_eq!(
        (e.creates_charged, e.duplicate_creates, e.rate_limited),
        (3, 1, 1)
    );
}
