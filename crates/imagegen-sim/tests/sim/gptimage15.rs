//! gptimage15.ai: the seed page's requests, statuses, v2, refunds, callbacks, errors.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode as AxumStatus;
use axum::routing::post as axum_post;
use imagegen_sim::{FaultConfig, LatencyProfile, SimConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::*;

#[tokio::test]
async fn seed_text_to_image_flow() {
    // No queue, so the first poll is surely IN_PROGRESS, as on the page.
    let sim = start(SimConfig::fast().latency(LatencyProfile::Fixed {
        queue_ms: 0,
        generate_ms: 400,
    }))
    .await;
    // `curl -X POST https://gptimage15.ai/api/generate ...`, host replaced.
    let created = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        GPT_SEED_BODY,
    )
    .await;
    assert_eq!(created.status, StatusCode::OK);
    insta::assert_json_snapshot!("gpt_create", created.body, { ".data.task_id" => "[id]" });
    let id = created.body["data"]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(id.ends_with("gptimg"));

    // `curl -X GET "https://gptimage15.ai/api/status?task_id=..."`.
    let first = get(
        &format!("{}/status?task_id={id}", sim.gptimage15_url()),
        Some(KEY),
    )
    .await;
    insta::assert_json_snapshot!("gpt_status_in_progress", first.body, {
        ".data.task_id" => "[id]", ".data.created_at" => "[time]"
    });
    let (_, done) = poll_gpt(&sim, &id, "status").await;
    insta::assert_json_snapshot!("gpt_status_success", done.body, {
        ".data.task_id" => "[id]", ".data.created_at" => "[time]", ".data.response[]" => "[url]"
    });
    let url = done.body["data"]["response"][0].as_str().unwrap();
    assert_eq!(download_png(url).await, (1536, 1024));
    let created_at = done.body["data"]["created_at"].as_str().unwrap();
    assert!(
        created_at.len() == 20 && created_at.ends_with('Z'),
        "{created_at}"
    );
}

#[tokio::test]
async fn seed_image_to_image_flow_and_sizes() {
    let sim = fast().await;
    let created = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        GPT_SEED_EDIT_BODY,
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let (_, done) = poll_gpt(
        &sim,
        created.body["data"]["task_id"].as_str().unwrap(),
        "status",
    )
    .await;
    assert_eq!(
        download_png(done.body["data"]["response"][0].as_str().unwrap()).await,
        (1024, 1024)
    );
    for (size, dims) in [("1024*1536", (1024, 1536)), ("1024*1024", (1024, 1024))] {
        let body = json!({"prompt": "p", "size": size, "quality": "low"}).to_string();
        let created = post(
            &format!("{}/generate", sim.gptimage15_url()),
            Some(KEY),
            &body,
        )
        .await;
        let (_, done) = poll_gpt(
            &sim,
            created.body["data"]["task_id"].as_str().unwrap(),
            "status",
        )
        .await;
        assert_eq!(
            download_png(done.body["data"]["response"][0].as_str().unwrap()).await,
            dims
        );
    }
}

#[tokio::test]
async fn statuses_pending_in_progress_success_and_v2_numbers() {
    let sim = start(SimConfig::fast().latency(LatencyProfile::Fixed {
        queue_ms: 300,
        generate_ms: 500,
    }))
    .await;
    let created = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        GPT_SEED_BODY,
    )
    .await;
    let id = created.body["data"]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (seen, _) = poll_gpt(&sim, &id, "status").await;
    assert_eq!(
        seen,
        [json!("PENDING"), json!("IN_PROGRESS"), json!("SUCCESS")]
    );

    let created = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        GPT_SEED_BODY,
    )
    .await;
    let id = created.body["data"]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (seen, done) = poll_gpt(&sim, &id, "v2/status").await;
    assert_eq!(seen, [json!(0), json!(1)]);
    insta::assert_json_snapshot!("gpt_v2_success", done.body, {
        ".data.task_id" => "[id]", ".data.created_at" => "[time]", ".data.response[]" => "[url]"
    });
}

#[tokio::test]
async fn failed_task_is_refunded() {
    let sim = start(SimConfig::instant().faults(FaultConfig {
        generation_failure: 1.0,
        ..Default::default()
    }))
    .await;
    let created = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        GPT_SEED_EDIT_BODY,
    )
    .await;
    let id = created.body["data"]["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Charged at create.
    let e = sim.ledger().entry("gptimage15", KEY).cloned().unwrap();
    assert_eq!((e.credits_charged, e.creates_charged), (10, 1));
    let (_, done) = poll_gpt(&sim, &id, "status").await;
    insta::assert_json_snapshot!("gpt_status_failed", done.body, {
        ".data.task_id" => "[id]", ".data.created_at" => "[time]"
    });
    let request: Value = serde_json::from_str(GPT_SEED_EDIT_BODY).unwrap();
    assert_eq!(done.body["data"]["request"], request);
    let (_, v2) = poll_gpt(&sim, &id, "v2/status").await;
    assert_eq!(v2.body["data"]["status"], -1);
    let e = sim.ledger().entry("gptimage15", KEY).cloned().unwrap();
    assert_eq!(
        (e.credits_charged, e.credits_refunded, e.credits_left),
        (10, 10, imagegen_sim::DEFAULT_CREDITS)
    );
}

#[tokio::test]
async fn ledger_snapshot_settles_refunds_without_polls() {
    let sim = start(SimConfig::instant().faults(FaultConfig {
        generation_failure: 1.0,
        ..Default::default()
    }))
    .await;
    post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        GPT_SEED_BODY,
    )
    .await;
    let e = sim.ledger().entry("gptimage15", KEY).cloned().unwrap();
    assert_eq!((e.polls, e.credits_refunded), (0, 10));
}

async fn case(name: &str, a: Answer) -> Value {
    json!({ "case": name, "status": a.status.as_u16(), "body": a.body })
}

#[tokio::test]
async fn every_documented_error() {
    let sim = start(SimConfig::fast().credits(15)).await;
    let gen_url = format!("{}/generate", sim.gptimage15_url());
    let p = |v: Value| v.to_string();
    let mut cases = Vec::new();
    cases.push(case("no key", post(&gen_url, None, GPT_SEED_BODY).await).await);
    cases.push(
        case(
            "wrong key",
            post(&gen_url, Some("nope"), GPT_SEED_BODY).await,
        )
        .await,
    );
    cases.push(case("invalid json", post(&gen_url, Some(KEY), "{").await).await);
    cases.push(
        case(
            "missing prompt",
            post(&gen_url, Some(KEY), &p(json!({"size": "1024*1024"}))).await,
        )
        .await,
    );
    cases.push(
        case(
            "prompt too long",
            post(&gen_url, Some(KEY), &p(json!({"prompt": "x".repeat(2001)}))).await,
        )
        .await,
    );
    cases.push(
        case(
            "bad size",
            post(
                &gen_url,
                Some(KEY),
                &p(json!({"prompt": "x", "size": "1024x1024"})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "bad quality",
            post(
                &gen_url,
                Some(KEY),
                &p(json!({"prompt": "x", "quality": "ultra"})),
            )
            .await,
        )
        .await,
    );
    cases.push(case("bad input_fidelity", post(&gen_url, Some(KEY), &p(json!({"prompt": "x", "images": ["https://example.com/a.png"], "input_fidelity": "medium"}))).await).await);
    cases.push(
        case(
            "bad images",
            post(
                &gen_url,
                Some(KEY),
                &p(json!({"prompt": "x", "images": "https://example.com/a.png"})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "bad callback",
            post(
                &gen_url,
                Some(KEY),
                &p(json!({"prompt": "x", "callback_url": "ftp://x"})),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "missing task_id",
            get(&format!("{}/status", sim.gptimage15_url()), Some(KEY)).await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown task",
            get(
                &format!(
                    "{}/status?task_id=n00nothinghere0gptimg",
                    sim.gptimage15_url()
                ),
                Some(KEY),
            )
            .await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown task v2",
            get(
                &format!("{}/v2/status?task_id=nope", sim.gptimage15_url()),
                Some(KEY),
            )
            .await,
        )
        .await,
    );
    // 15 credits: one task (10) passes, the second is refused.
    assert_eq!(
        post(&gen_url, Some(KEY), &p(json!({"prompt": "x".repeat(2000)})))
            .await
            .status,
        StatusCode::OK
    );
    cases.push(
        case(
            "out of credits",
            post(&gen_url, Some(KEY), GPT_SEED_BODY).await,
        )
        .await,
    );
    cases.push(
        case(
            "no credits key",
            post(&gen_url, Some("sim-key-no-credits"), GPT_SEED_BODY).await,
        )
        .await,
    );
    cases.push(
        case(
            "unknown route",
            get(&format!("{}/tasks", sim.gptimage15_url()), Some(KEY)).await,
        )
        .await,
    );
    cases.push(case("wrong method", get(&gen_url, Some(KEY)).await).await);
    insta::assert_json_snapshot!("gpt_errors", cases);
    let e = sim.ledger().entry("gptimage15", KEY).cloned().unwrap();
    assert_eq!(
        (e.creates_charged, e.credits_left, e.errors_sent),
        (1, 5, 12)
    );
}

#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
    fail_first: Arc<Mutex<u32>>,
}

async fn receive(State(r): State<Receiver>, Json(body): Json<Value>) -> AxumStatus {
    let mut fail = r.fail_first.lock().unwrap();
    if *fail > 0 {
        *fail -= 1;
        return AxumStatus::INTERNAL_SERVER_ERROR;
    }
    r.bodies.lock().unwrap().push(body);
    AxumStatus::OK
}

/// A tiny webhook receiver on loopback.
async fn receiver(fail_first: u32) -> (String, Receiver) {
    let r = Receiver {
        fail_first: Arc::new(Mutex::new(fail_first)),
        ..Default::default()
    };
    let app = axum::Router::new()
        .route("/hook", axum_post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, r)
}

async fn wait_for(r: &Receiver, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = r.bodies.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "callbacks not delivered: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn callback_is_called_when_the_task_ends() {
    let sim = fast().await;
    let (hook, r) = receiver(0).await;
    let body = json!({"prompt": "cb", "callback_url": hook}).to_string();
    let created = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        &body,
    )
    .await;
    let id = created.body["data"]["task_id"].as_str().unwrap();
    let got = wait_for(&r, 1).await;
    assert_eq!(got, [json!({"task_id": id, "status": "SUCCESS"})]);
    // The task is indeed done when the hook fires.
    let status = get(
        &format!("{}/status?task_id={id}", sim.gptimage15_url()),
        Some(KEY),
    )
    .await;
    assert_eq!(status.body["data"]["status"], "SUCCESS");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        sim.ledger()
            .entry("gptimage15", KEY)
            .unwrap()
            .callbacks_delivered,
        1
    );
}

#[tokio::test]
async fn callback_is_retried_and_reports_failure() {
    let sim = start(SimConfig::fast().faults(FaultConfig {
        generation_failure: 1.0,
        ..Default::default()
    }))
    .await;
    let (hook, r) = receiver(2).await;
    let body = json!({"prompt": "cb", "callback_url": hook}).to_string();
    let created = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        &body,
    )
    .await;
    let id = created.body["data"]["task_id"].as_str().unwrap();
    let got = wait_for(&r, 1).await;
    assert_eq!(got, [json!({"task_id": id, "status": "FAILED"})]);
    assert_eq!(
        *r.fail_first.lock().unwrap(),
        0,
        "two failed attempts before"
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let e = sim.ledger().entry("gptimage15", KEY).cloned().unwrap();
    assert_eq!((e.callbacks_delivered, e.credits_refunded), (1, 10));
}

#[tokio::test]
async fn callback_gives_up_after_retries() {
    let sim = start(SimConfig::instant()).await;
    let (hook, _r) = receiver(100).await;
    let body = json!({"prompt": "cb", "callback_url": hook}).to_string();
    post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        &body,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim
        .ledger()
        .entry("gptimage15", KEY)
        .unwrap()
        .callbacks_failed
        == 0
    {
        assert!(Instant::now() < deadline, "never gave up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sim.ledger()
            .entry("gptimage15", KEY)
            .unwrap()
            .callbacks_delivered,
        0
    );
}
