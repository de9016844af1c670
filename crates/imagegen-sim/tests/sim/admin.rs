//! The `/_sim/` API, the handle, and start/stop.

use std::time::Duration;

use imagegen_sim::{FaultConfig, LatencyProfile, Ledger, RuntimeConfig, SimConfig};
use reqwest::StatusCode;
use serde_json::json;

use super::common::*;

#[tokio::test]
async fn urls_follow_the_prefixes() {
    let sim = fast().await;
    let base = sim.base_url();
    assert_eq!(base, format!("http://127.0.0.1:{}", sim.addr().port()));
    assert_eq!(sim.runbase_url(), format!("{base}/runbase/api/v1"));
    assert_eq!(sim.gptimage15_url(), format!("{base}/gptimage15/api"));
    assert_eq!(sim.openai_url(), format!("{base}/openai/v1"));
    let index = get(&format!("{base}/"), None).await;
    assert_eq!(index.body["runbase"], sim.runbase_url());
}

#[tokio::test]
async fn ledger_endpoint_matches_the_handle() {
    let sim = fast().await;
    post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        RUNBASE_SEED_BODY,
    )
    .await;
    post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        GPT_SEED_BODY,
    )
    .await;
    post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        GPT_SEED_BODY,
    )
    .await;
    let over_http: Ledger = client()
        .get(format!("{}/_sim/ledger", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http, sim.ledger());
    insta::assert_json_snapshot!("ledger", over_http);
    let totals = over_http.totals("gptimage15");
    assert_eq!(
        (
            totals.creates_charged,
            totals.credits_charged,
            totals.duplicate_creates
        ),
        (2, 20, 1)
    );
    assert_eq!(over_http.net_credits_spent(), 21);
}

#[tokio::test]
async fn config_can_be_read_and_changed_at_run_time() {
    let sim = fast().await;
    let url = format!("{}/_sim/config", sim.base_url());
    let a = get(&url, None).await;
    insta::assert_json_snapshot!("config", a.body);
    let put = client()
        .put(&url)
        .json(&json!({"faults": {"create_500": 1.0}, "latency": {"fixed": {"queue_ms": 1, "generate_ms": 2}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(
        sim.runtime_config(),
        RuntimeConfig {
            faults: FaultConfig {
                create_500: 1.0,
                ..Default::default()
            },
            latency: LatencyProfile::Fixed {
                queue_ms: 1,
                generate_ms: 2
            },
        }
    );
    assert_eq!(
        post(
            &format!("{}/runs", sim.runbase_url()),
            Some(KEY),
            RUNBASE_SEED_BODY
        )
        .await
        .status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    // Latency alone leaves faults alone.
    client()
        .put(&url)
        .json(&json!({"latency": "instant"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.runtime_config().faults.create_500, 1.0);
    assert_eq!(sim.runtime_config().latency, LatencyProfile::Instant);
    // Bad bodies are refused.
    for bad in [
        json!({"faults": {"create_500": 2.0}}),
        json!({"faults": {"malformed_status_json": 1.5}}),
        json!({"nope": 1}),
        json!({"latency": "slow"}),
    ] {
        let r = client().put(&url).json(&bad).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    sim.set_faults(FaultConfig::default());
    sim.set_latency(LatencyProfile::Fast);
    assert_eq!(sim.runtime_config(), RuntimeConfig::default());
}

#[tokio::test]
async fn reset_and_health() {
    let sim = fast().await;
    let created = post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        RUNBASE_SEED_BODY,
    )
    .await;
    let health = get(&format!("{}/_sim/health", sim.base_url()), None).await;
    assert_eq!(health.body, json!({"status": "ok", "tasks": 1}));
    let r = client()
        .post(format!("{}/_sim/reset", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(sim.ledger().entries.is_empty());
    assert_eq!(sim.tasks_in_store(), 0);
    let gone = get(
        &format!(
            "{}/runs/{}",
            sim.runbase_url(),
            created.body["id"].as_str().unwrap()
        ),
        Some(KEY),
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn extra_keys_and_bad_files() {
    let sim = start(SimConfig::fast().api_key("team-key")).await;
    let a = post(
        &format!("{}/runs", sim.runbase_url()),
        Some("team-key"),
        RUNBASE_SEED_BODY,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        post(
            &format!("{}/runs", sim.runbase_url()),
            Some(KEY),
            RUNBASE_SEED_BODY
        )
        .await
        .status,
        StatusCode::OK
    );
    for bad in [
        "/files/runbase/x/1024x1024-99.png",
        "/files/openai/x/1024x1024-1.png",
        "/files/runbase/x/800x600-1.png",
    ] {
        assert_eq!(
            get(&format!("{}{bad}", sim.base_url()), None).await.status,
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let sim = fast().await;
    let addr = sim.addr();
    drop(sim);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    let sim = fast().await;
    let addr = sim.addr();
    sim.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn bad_start_config_is_refused() {
    let err = imagegen_sim::Sim::start(SimConfig::fast().faults(FaultConfig {
        burst_429: -1.0,
        ..Default::default()
    }))
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
