//! Runbase: the seed page's flow, the lifecycle, every documented error.

use std::time::Duration;

use imagegen_sim::{LatencyProfile, SimConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::*;

#[tokio::test]
async fn seed_curl_flow_ends_with_png_urls() {
    let sim = fast().await;
    // The seed's `curl -s https://runbase.net/api/v1/runs ...`, host replaced.
    let created = post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        RUNBASE_SEED_BODY,
    )
    .await;
    assert_eq!(created.status, StatusCode::OK);
    insta::assert_json_snapshot!("runbase_create", created.body, {
        ".id" => "[id]", ".created_at" => "[time]"
    });
    let id = created.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("run_"));

    let (seen, done) = poll_runbase(&sim, &id, KEY).await;
    assert_eq!(seen.last().unwrap(), "succeeded");
    insta::assert_json_snapshot!("runbase_succeeded", done.body, {
        ".id" => "[id]", ".created_at" => "[time]", ".completed_at" => "[time]",
        ".output.urls[]" => "[url]"
    });
    let urls = done.body["output"]["urls"].as_array().unwrap();
    assert_eq!(urls.len(), 1);
    let url = urls[0].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/files/", sim.base_url())));
    assert_eq!(download_png(url).await, (1024, 1024));
}

#[tokio::test]
async fn statuses_move_queued_starting_processing_succeeded() {
    // Polling every 10 ms for over a second: lift the rate limit.
    let sim = start(
        SimConfig::fast()
            .latency(LatencyProfile::Fixed {
                queue_ms: 300,
                generate_ms: 900,
            })
            .runbase_rate_limit(0, Duration::from_secs(10)),
    )
    .await;
    let created = post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        RUNBASE_SEED_BODY,
    )
    .await;
    assert_eq!(created.body["status"], "queued");
    let id = created.body["id"].as_str().unwrap();
    let (seen, done) = poll_runbase(&sim, id, KEY).await;
    assert_eq!(seen, ["queued", "starting", "processing", "succeeded"]);
    assert!(done.body["completed_at"].is_string());
    assert!(done.body["error"].is_null());
}

#[tokio::test]
async fn aspect_ratios_give_exact_pixel_sizes() {
    let sim = fast().await;
    for (aspect, quality, size) in [
        ("1:1", "high", (1024, 1024)),
        ("2:3", "medium", (1024, 1536)),
        ("3:2", "high", (1536, 1024)),
    ] {
        let body = json!({
            "model": "openai/gpt-image-1.5",
            "input": {
                "prompt": format!("a lamp {aspect}"),
                "aspect_ratio": aspect,
                "quality": quality,
                "image_urls": ["https://example.com/ref.png"],
            }
        });
        let created = post(
            &format!("{}/runs", sim.runbase_url()),
            Some(KEY),
            &body.to_string(),
        )
        .await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.body);
        assert_eq!(created.body["input"], body["input"]);
        let (_, done) = poll_runbase(&sim, created.body["id"].as_str().unwrap(), KEY).await;
        let url = done.body["output"]["urls"][0].as_str().unwrap();
        assert_eq!(download_png(url).await, size, "{aspect}");
    }
}

#[tokio::test]
async fn different_prompts_usually_give_different_images() {
    let sim = start(SimConfig::instant()).await;
    let mut urls = std::collections::HashSet::new();
    for i in 0..8 {
        let body =
            json!({"model": "openai/gpt-image-1.5", "input": {"prompt": format!("prompt {i}")}});
        let created = post(
            &format!("{}/runs", sim.runbase_url()),
            Some(KEY),
            &body.to_string(),
        )
        .await;
        let (_, done) = poll_runbase(&sim, created.body["id"].as_str().unwrap(), KEY).await;
        let url = done.body["output"]["urls"][0].as_str().unwrap().to_string();
        // The variant is the last part of the file name.
        urls.insert(url.rsplit('-').next().unwrap().to_string());
    }
    assert!(urls.len() >= 3, "too few variants: {urls:?}");
}

async fn case(name: &str, a: Answer) -> Value {
    json!({ "case": name, "status": a.status.as_u16(), "body": a.body,
            "retry_after": a.header("retry-after") })
}

#[tokio::test]
async fn every_documented_error() {
    let sim = start(SimConfig::fast().credits(1).runbase_usage_quota(1_000)).await;
    let runs = format!("{}/runs", sim.runbase_url());
    let body = |input: Value| json!({"model": "openai/gpt-image-1.5", "input": input}).to_string();
    let mut cases = Vec::new();
    cases.push(case("no key", post(&runs, None, RUNBASE_SEED_BODY).await).await);
    cases.push(
        case(
            "wrong key",
            post(&runs, Some("nope"), RUNBASE_SEED_BODY).await,
        )
        .await,
    );
    cases.push(case("invalid json", post(&runs, Some(KEY), "{not json").await).await);
    cases.push(case("not an object", post(&runs, Some(KEY), "[1]").await).await);
    cases.push(
        case(
            "missing model",
            post(&runs, Some(KEY), r#"{"input":{"prompt":"x"}}"#).await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown model",
            post(
                &runs,
                Some(KEY),
                r#"{"model":"openai/dall-e-3","input":{"prompt":"x"}}"#,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "missing input",
            post(&runs, Some(KEY), r#"{"model":"openai/gpt-image-1.5"}"#).await,
        )
        .await,
    );
    cases.push(
        case(
            "input not object",
            post(
                &runs,
                Some(KEY),
                r#"{"model":"openai/gpt-image-1.5","input":"x"}"#,
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "missing prompt",
            post(&runs, Some(KEY), &body(json!({}))).await,
        )
        .await,
    );
    cases.push(
        case(
            "empty prompt",
            post(&runs, Some(KEY), &body(json!({"prompt": " "}))).await,
        )
        .await,
    );
    cases.push(
        case(
            "bad aspect",
            post(
                &runs,
                Some(KEY),
                &body(json!({"prompt": "x", "aspect_ratio": "16:9"})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "quality low",
            post(
                &runs,
                Some(KEY),
                &body(json!({"prompt": "x", "quality": "low"})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "image_urls not strings",
            post(
                &runs,
                Some(KEY),
                &body(json!({"prompt": "x", "image_urls": [1]})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown run",
            get(&format!("{runs}/run_missing"), Some(KEY)).await,
        )
        .await,
    );
    // One credit: the first run is paid, the second is refused.
    let ok = post(&runs, Some(KEY), RUNBASE_SEED_BODY).await;
    assert_eq!(ok.status, StatusCode::OK);
    cases.push(
        case(
            "out of credits",
            post(&runs, Some(KEY), RUNBASE_SEED_BODY).await,
        )
        .await,
    );
    cases.push(
        case(
            "no credits key",
            post(&runs, Some("sim-key-no-credits"), RUNBASE_SEED_BODY).await,
        )
        .await,
    );
    cases.push(
        case(
            "spend limit",
            post(&runs, Some("sim-key-spend-limit"), RUNBASE_SEED_BODY).await,
        )
        .await,
    );
    cases.push(
        case(
            "ip not allowed",
            get(&format!("{runs}/x"), Some("sim-key-ip-not-allowed")).await,
        )
        .await,
    );
    cases.push(
        case(
            "usage exceeded",
            post(&runs, Some("sim-key-usage-exceeded"), RUNBASE_SEED_BODY).await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown route",
            get(&format!("{}/models", sim.runbase_url()), Some(KEY)).await,
        )
        .await,
    );
    cases.push(
        case(
            "wrong method",
            Answer::from(client().delete(&runs).send().await.unwrap()).await,
        )
        .await,
    );
    insta::assert_json_snapshot!("runbase_errors", cases);

    // Nothing rejected was charged; every error was booked.
    let ledger = sim.ledger();
    let e = ledger.entry("runbase", KEY).unwrap();
    assert_eq!(
        (
            e.creates_accepted,
            e.creates_charged,
            e.credits_charged,
            e.credits_left
        ),
        (1, 1, 1, 0)
    );
    assert_eq!(e.errors_sent, 13);
    assert_eq!(
        ledger
            .entry("runbase", "sim-key-usage-exceeded")
            .unwrap()
            .rate_limited,
        1
    );
    assert_eq!(ledger.entry("runbase", "").unwrap().errors_sent, 1);
}

#[tokio::test]
async fn a_run_is_private_to_its_key() {
    let sim = start(SimConfig::fast().api_key("other-key")).await;
    let created = post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        RUNBASE_SEED_BODY,
    )
    .await;
    let id = created.body["id"].as_str().unwrap();
    let other = get(
        &format!("{}/runs/{id}", sim.runbase_url()),
        Some("other-key"),
    )
    .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(other.body["error"]["code"], "run_not_found");
}

#[tokio::test]
async fn rate_limit_counts_creates_and_polls_together() {
    let sim = start(SimConfig::fast().runbase_rate_limit(4, Duration::from_millis(900))).await;
    let runs = format!("{}/runs", sim.runbase_url());
    let created = post(&runs, Some(KEY), RUNBASE_SEED_BODY).await;
    let id = created.body["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        assert_eq!(
            get(&format!("{runs}/{id}"), Some(KEY)).await.status,
            StatusCode::OK
        );
    }
    let limited = post(&runs, Some(KEY), RUNBASE_SEED_BODY).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.body["error"]["code"], "RATE_LIMITED");
    assert_eq!(limited.header("retry-after"), Some("1"));
    let ms: u64 = limited.header("retry-after-ms").unwrap().parse().unwrap();
    assert!((1..=900).contains(&ms), "{ms}");
    // Another key has its own budget.
    let sim_other = get(&format!("{runs}/{id}"), Some("sim-key-no-credits")).await;
    assert_eq!(sim_other.status, StatusCode::NOT_FOUND);
    tokio::time::sleep(Duration::from_millis(ms + 20)).await;
    assert_eq!(
        get(&format!("{runs}/{id}"), Some(KEY)).await.status,
        StatusCode::OK
    );
    let e = sim.ledger().entry("runbase", KEY).cloned().unwrap();
    assert_eq!((e.rate_limited, e.polls, e.creates_accepted), (1, 4, 1));
}

#[tokio::test]
async fn default_rate_limit_is_20_per_10_seconds_without_ms_header() {
    let sim = fast().await;
    let url = format!("{}/runs/run_x", sim.runbase_url());
    for _ in 0..20 {
        assert_eq!(get(&url, Some(KEY)).await.status, StatusCode::NOT_FOUND);
    }
    let limited = get(&url, Some(KEY)).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&secs));
    assert!(limited.header("retry-after-ms").is_none());
}

#[tokio::test]
async fn usage_quota_config_answers_usage_exceeded() {
    let sim = start(SimConfig::fast().runbase_usage_quota(2)).await;
    let url = format!("{}/runs/run_x", sim.runbase_url());
    get(&url, Some(KEY)).await;
    get(&url, Some(KEY)).await;
    let a = get(&url, Some(KEY)).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.body["error"]["code"], "USAGE_EXCEEDED");
    assert!(a.header("retry-after").is_none());
}

#[tokio::test]
async fn duplicate_bodies_are_counted() {
    let sim = fast().await;
    let runs = format!("{}/runs", sim.runbase_url());
    post(&runs, Some(KEY), RUNBASE_SEED_BODY).await;
    // Same JSON, other formatting and key order: still a duplicate.
    post(&runs, Some(KEY), r#"{"input":{"prompt":"A cinematic product photo of a ceramic lamp"},"model":"openai/gpt-image-1.5"}"#).await;
    post(
        &runs,
        Some(KEY),
        &json!({"model": "openai/gpt-image-1.5", "input": {"prompt": "other"}}).to_string(),
    )
    .await;
    let e = sim.ledger().entry("runbase", KEY).cloned().unwrap();
    assert_eq!(
        (e.creates_accepted, e.duplicate_creates, e.credits_charged),
        (3, 1, 3)
    );
}
