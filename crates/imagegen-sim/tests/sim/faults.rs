//! Every fault mode, on every provider it applies to.

use std::time::{Duration, Instant};

use imagegen_sim::{FaultConfig, SimConfig, SimHandle};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::*;

fn faults(f: FaultConfig) -> SimConfig {
    SimConfig::fast().faults(f)
}

/// (create URL, body) of each provider.
fn creates(sim: &SimHandle) -> [(&'static str, String, &'static str); 3] {
    [
        (
            "runbase",
            format!("{}/runs", sim.runbase_url()),
            RUNBASE_SEED_BODY,
        ),
        (
            "gptimage15",
            format!("{}/generate", sim.gptimage15_url()),
            GPT_SEED_BODY,
        ),
        (
            "openai",
            format!("{}/images/generations", sim.openai_url()),
            r#"{"prompt":"a lamp"}"#,
        ),
    ]
}

#[tokio::test]
async fn create_500_charges_nothing() {
    let sim = start(faults(FaultConfig {
        create_500: 1.0,
        ..Default::default()
    }))
    .await;
    let mut shapes = Vec::new();
    for (name, url, body) in creates(&sim) {
        let a = post(&url, Some(KEY), body).await;
        assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
        shapes.push(json!({ "provider": name, "answer": a.shape() }));
        let e = sim.ledger().entry(name, KEY).cloned().unwrap();
        assert_eq!(
            (e.creates_accepted, e.credits_charged, e.errors_sent),
            (0, 0, 1)
        );
    }
    insta::assert_json_snapshot!("fault_create_500", shapes);
}

#[tokio::test]
async fn status_500_on_polls() {
    let sim = fast().await;
    let run = post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        RUNBASE_SEED_BODY,
    )
    .await;
    let task = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        GPT_SEED_BODY,
    )
    .await;
    sim.set_faults(FaultConfig {
        status_500: 1.0,
        ..Default::default()
    });
    let a = get(
        &format!(
            "{}/runs/{}",
            sim.runbase_url(),
            run.body["id"].as_str().unwrap()
        ),
        Some(KEY),
    )
    .await;
    let b = get(
        &format!(
            "{}/status?task_id={}",
            sim.gptimage15_url(),
            task.body["data"]["task_id"].as_str().unwrap()
        ),
        Some(KEY),
    )
    .await;
    assert_eq!(
        (a.status, b.status),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::INTERNAL_SERVER_ERROR
        )
    );
    insta::assert_json_snapshot!("fault_status_500", json!([a.shape(), b.shape()]));
    // Creates still work.
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
}

#[tokio::test]
async fn bursts_of_429_last_burst_len_requests() {
    let sim = start(faults(FaultConfig {
        burst_429: 1.0,
        burst_len: 2,
        ..Default::default()
    }))
    .await;
    let mut shapes = Vec::new();
    for (name, url, body) in creates(&sim) {
        sim.set_faults(FaultConfig {
            burst_429: 1.0,
            burst_len: 2,
            ..Default::default()
        });
        let first = post(&url, Some(KEY), body).await;
        sim.set_faults(FaultConfig::default());
        let second = post(&url, Some(KEY), body).await;
        let third = post(&url, Some(KEY), body).await;
        assert_eq!(first.status, StatusCode::TOO_MANY_REQUESTS, "{name}");
        assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS, "{name}");
        assert_eq!(third.status, StatusCode::OK, "{name}");
        assert_eq!(first.header("retry-after"), Some("1"));
        let mut headers: Vec<String> = first
            .headers
            .keys()
            .map(|k| k.as_str().to_string())
            .filter(|k| k.starts_with("retry-after") || k.starts_with("x-ratelimit"))
            .collect();
        headers.sort();
        shapes.push(json!({ "provider": name, "answer": first.shape(), "headers": headers }));
        let e = sim.ledger().entry(name, KEY).cloned().unwrap();
        assert_eq!((e.rate_limited, e.creates_accepted), (2, 1), "{name}");
    }
    insta::assert_json_snapshot!("fault_burst_429", shapes);
}

#[tokio::test]
async fn drop_before_accept_is_a_transport_error_and_records_nothing() {
    let sim = start(faults(FaultConfig {
        drop_before_accept: 1.0,
        ..Default::default()
    }))
    .await;
    for (name, url, body) in creates(&sim) {
        let err = client()
            .post(&url)
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect_err("the connection is dropped");
        assert!(err.status().is_none(), "{name}: {err}");
        let e = sim.ledger().entry(name, KEY).cloned().unwrap_or_default();
        assert_eq!((e.creates_accepted, e.credits_charged), (0, 0), "{name}");
    }
    // The server goes on serving.
    sim.set_faults(FaultConfig::default());
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
}

#[tokio::test]
async fn drop_after_accept_charges_and_a_retry_is_a_duplicate() {
    let sim = start(faults(FaultConfig {
        drop_after_accept: 1.0,
        ..Default::default()
    }))
    .await;
    for (name, url, body) in creates(&sim) {
        let send = || {
            client()
                .post(&url)
                .bearer_auth(KEY)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        assert!(send().await.is_err(), "{name}");
        assert!(send().await.is_err(), "{name}");
        let e = sim.ledger().entry(name, KEY).cloned().unwrap();
        assert_eq!(
            (e.creates_accepted, e.creates_charged, e.duplicate_creates),
            (2, 2, 1),
            "{name}"
        );
    }
}

#[tokio::test]
async fn slow_responses_outlast_a_client_timeout() {
    let sim = start(faults(FaultConfig {
        slow_response: 1.0,
        slow_response_delay_ms: 400,
        ..Default::default()
    }))
    .await;
    let url = format!("{}/runs", sim.runbase_url());
    let err = client()
        .post(&url)
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(RUNBASE_SEED_BODY)
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .expect_err("times out");
    assert!(err.is_timeout());
    // The create was accepted all the same.
    assert_eq!(
        sim.ledger().entry("runbase", KEY).unwrap().creates_charged,
        1
    );
    let t0 = Instant::now();
    let a = post(&url, Some(KEY), RUNBASE_SEED_BODY).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(t0.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn malformed_json_is_a_200_that_does_not_parse() {
    let sim = start(faults(FaultConfig {
        malformed_json: 1.0,
        ..Default::default()
    }))
    .await;
    for (name, url, body) in creates(&sim) {
        let resp = client()
            .post(&url)
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let text = resp.text().await.unwrap();
        assert!(!text.is_empty());
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "{name}: {text}"
        );
    }
}

#[tokio::test]
async fn malformed_status_json_cuts_polls_and_leaves_creates_whole() {
    let sim = start(faults(FaultConfig {
        malformed_status_json: 1.0,
        ..Default::default()
    }))
    .await;
    // Every create answers whole JSON, so the id of each charged task is known.
    let mut created = Vec::new();
    for (name, url, body) in creates(&sim) {
        let a = post(&url, Some(KEY), body).await;
        assert_eq!(a.status, StatusCode::OK, "{name}");
        assert!(a.body.is_object(), "{name}: {}", a.body);
        created.push(a.body);
    }
    let run_id = created[0]["id"].as_str().unwrap().to_owned();
    let task_id = created[1]["data"]["task_id"].as_str().unwrap().to_owned();
    // Every status answer is a 200 whose JSON does not parse.
    let polls = [
        format!("{}/runs/{run_id}", sim.runbase_url()),
        format!("{}/status?task_id={task_id}", sim.gptimage15_url()),
        format!("{}/v2/status?task_id={task_id}", sim.gptimage15_url()),
    ];
    for url in &polls {
        let resp = client().get(url).bearer_auth(KEY).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        assert_eq!(resp.headers()["content-type"], "application/json");
        let text = resp.text().await.unwrap();
        assert!(!text.is_empty(), "{url}");
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "{url}: {text}"
        );
    }
    let ledger = sim.ledger();
    for (name, polled) in [("runbase", 1), ("gptimage15", 2), ("openai", 0)] {
        let e = ledger.entry(name, KEY).unwrap();
        assert_eq!(
            (e.creates_charged, e.polls, e.duplicate_creates),
            (1, polled, 0),
            "{name}"
        );
    }
    // A garbled poll changes nothing: polled again, the tasks finish as usual.
    sim.set_faults(FaultConfig::default());
    let (seen, _) = poll_runbase(&sim, &run_id, KEY).await;
    assert_eq!(seen.last().unwrap(), "succeeded");
    let (seen, _) = poll_gpt(&sim, &task_id, "status").await;
    assert_eq!(seen.last().unwrap(), &json!("SUCCESS"));
}

#[tokio::test]
async fn malformed_status_json_can_be_switched_on_at_run_time() {
    let sim = fast().await;
    let run = post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        RUNBASE_SEED_BODY,
    )
    .await;
    let url = format!(
        "{}/runs/{}",
        sim.runbase_url(),
        run.body["id"].as_str().unwrap()
    );
    assert!(get(&url, Some(KEY)).await.body.is_object());
    let put = client()
        .put(format!("{}/_sim/config", sim.base_url()))
        .json(&json!({"faults": {"malformed_status_json": 1.0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let a = get(&url, Some(KEY)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.is_string(), "not JSON: {}", a.body);
    // Creates stay whole.
    let b = post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        RUNBASE_SEED_BODY,
    )
    .await;
    assert!(b.body["id"].is_string(), "{}", b.body);
}

#[tokio::test]
async fn generation_failure_on_each_provider() {
    let sim = start(faults(FaultConfig {
        generation_failure: 1.0,
        ..Default::default()
    }))
    .await;
    let run = post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        RUNBASE_SEED_BODY,
    )
    .await;
    let (seen, done) = poll_runbase(&sim, run.body["id"].as_str().unwrap(), KEY).await;
    assert_eq!(seen.last().unwrap(), "failed");
    insta::assert_json_snapshot!("fault_runbase_failed", done.body, {
        ".id" => "[id]", ".created_at" => "[time]", ".completed_at" => "[time]"
    });
    let a = post(
        &format!("{}/images/generations", sim.openai_url()),
        Some(KEY),
        r#"{"prompt":"x"}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["error"]["code"], "moderation_blocked");
    let ledger = sim.ledger();
    let runbase = ledger.entry("runbase", KEY).unwrap();
    assert_eq!((runbase.credits_charged, runbase.credits_refunded), (1, 0));
    let openai = ledger.entry("openai", KEY).unwrap();
    assert_eq!((openai.creates_accepted, openai.creates_charged), (1, 0));
}

#[tokio::test]
async fn gptimage15_numeric_and_string_encoded_variants() {
    let sim = start(SimConfig::instant().faults(FaultConfig {
        gptimage15_numeric_status: 1.0,
        gptimage15_string_encoded: 1.0,
        ..Default::default()
    }))
    .await;
    let ok = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        GPT_SEED_BODY,
    )
    .await;
    let id = ok.body["data"]["task_id"].as_str().unwrap();
    let a = get(
        &format!("{}/status?task_id={id}", sim.gptimage15_url()),
        Some(KEY),
    )
    .await;
    assert_eq!(a.body["data"]["status"], 1);
    let response: Vec<String> =
        serde_json::from_str(a.body["data"]["response"].as_str().unwrap()).unwrap();
    assert_eq!(download_png(&response[0]).await, (1536, 1024));
    let date = a.body["data"]["created_at"].as_str().unwrap();
    assert!(date.len() == 19 && date.as_bytes()[10] == b' ', "{date}");
    insta::assert_json_snapshot!("fault_gpt_encoded_success", a.body, {
        ".data.task_id" => "[id]", ".data.created_at" => "[time]", ".data.response" => "[json string]"
    });
    sim.set_faults(FaultConfig {
        gptimage15_string_encoded: 1.0,
        generation_failure: 1.0,
        ..Default::default()
    });
    let failed = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        GPT_SEED_EDIT_BODY,
    )
    .await;
    let id = failed.body["data"]["task_id"].as_str().unwrap();
    let a = get(
        &format!("{}/status?task_id={id}", sim.gptimage15_url()),
        Some(KEY),
    )
    .await;
    insta::assert_json_snapshot!("fault_gpt_encoded_failed", a.body, {
        ".data.task_id" => "[id]", ".data.created_at" => "[time]"
    });
    let request: Value = serde_json::from_str(a.body["data"]["request"].as_str().unwrap()).unwrap();
    assert_eq!(request["prompt"], "Add a rainbow in the sky");
}

#[tokio::test]
async fn unknown_status_shows_once_then_the_task_moves_on() {
    let sim = start(SimConfig::instant().faults(FaultConfig {
        unknown_status: 1.0,
        ..Default::default()
    }))
    .await;
    let run = post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        RUNBASE_SEED_BODY,
    )
    .await;
    let (seen, _) = poll_runbase(&sim, run.body["id"].as_str().unwrap(), KEY).await;
    assert_eq!(seen, ["warming_up", "succeeded"]);
    let task = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        GPT_SEED_BODY,
    )
    .await;
    let (seen, _) = poll_gpt(
        &sim,
        task.body["data"]["task_id"].as_str().unwrap(),
        "status",
    )
    .await;
    assert_eq!(seen, [json!("RUNNING_SLOWLY"), json!("SUCCESS")]);
    let task = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        GPT_SEED_BODY,
    )
    .await;
    let (seen, _) = poll_gpt(
        &sim,
        task.body["data"]["task_id"].as_str().unwrap(),
        "v2/status",
    )
    .await;
    assert_eq!(seen, [json!(2), json!(1)]);
}

async fn pattern(seed: u64) -> Vec<u16> {
    let sim = start(SimConfig::instant().seed(seed).faults(FaultConfig {
        create_500: 0.5,
        ..Default::default()
    }))
    .await;
    let url = format!("{}/generate", sim.gptimage15_url());
    let mut out = Vec::new();
    for _ in 0..24 {
        out.push(post(&url, Some(KEY), GPT_SEED_BODY).await.status.as_u16());
    }
    out
}

#[tokio::test]
async fn faults_are_repeatable_by_seed() {
    let a = pattern(7).await;
    assert_eq!(a, pattern(7).await);
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");
    assert_ne!(a, pattern(8).await);
}

#[tokio::test]
async fn the_content_policy_magic_prompt_fails_without_dice() {
    let sim = fast().await;
    let prompt = "a lamp, sim:content-policy";
    let run = post(
        &format!("{}/runs", sim.runbase_url()),
        Some(KEY),
        &json!({"model": "openai/gpt-image-1.5", "input": {"prompt": prompt}}).to_string(),
    )
    .await;
    let (seen, _) = poll_runbase(&sim, run.body["id"].as_str().unwrap(), KEY).await;
    assert_eq!(seen.last().unwrap(), "failed");
    let task = post(
        &format!("{}/generate", sim.gptimage15_url()),
        Some(KEY),
        &json!({ "prompt": prompt }).to_string(),
    )
    .await;
    let (seen, _) = poll_gpt(
        &sim,
        task.body["data"]["task_id"].as_str().unwrap(),
        "status",
    )
    .await;
    assert_eq!(seen.last().unwrap(), &json!("FAILED"));
    let a = post(
        &format!("{}/images/generations", sim.openai_url()),
        Some(KEY),
        &json!({ "prompt": prompt }).to_string(),
    )
    .await;
    assert_eq!(a.body["error"]["code"], "moderation_blocked");
    // The sellers' server-error prompt changes nothing here.
    let b = post(
        &format!("{}/images/generations", sim.openai_url()),
        Some(KEY),
        r#"{"prompt": "sim:server-error"}"#,
    )
    .await;
    assert_eq!(b.status, StatusCode::OK);
    let ledger = sim.ledger();
    assert_eq!(
        ledger.entry("gptimage15", KEY).unwrap().credits_refunded,
        10
    );
    assert_eq!(ledger.entry("openai", KEY).unwrap().creates_charged, 1);
}
