//! Many tasks in flight: cheap in memory and time, no timer per task.

use std::time::{Duration, Instant};

use futures::StreamExt;
use imagegen_sim::{LatencyProfile, SimConfig};
use reqwest::StatusCode;
use serde_json::json;

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_tasks_in_flight() {
    // Tasks take a minute, so all 10,000 are in flight at once.
    let sim = start(SimConfig::fast().latency(LatencyProfile::Fixed {
        queue_ms: 30_000,
        generate_ms: 30_000,
    }))
    .await;
    let client = client();
    let url = format!("{}/generate", sim.gptimage15_url());
    let t0 = Instant::now();
    let ids: Vec<String> = futures::stream::iter(0..10_000)
        .map(|i| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let r = client
                    .post(&url)
                    .bearer_auth(KEY)
                    .json(&json!({"prompt": format!("task {i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let v: serde_json::Value = r.json().await.unwrap();
                v["data"]["task_id"].as_str().unwrap().to_string()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let elapsed = t0.elapsed();
    assert_eq!(ids.len(), 10_000);
    assert_eq!(sim.tasks_in_store(), 10_000);
    assert!(elapsed < Duration::from_secs(120), "{elapsed:?}");
    let a = get(
        &format!("{}/status?task_id={}", sim.gptimage15_url(), ids[1234]),
        Some(KEY),
    )
    .await;
    assert_eq!(a.body["data"]["status"], "PENDING");
    let e = sim.ledger().entry("gptimage15", KEY).cloned().unwrap();
    assert_eq!(
        (e.creates_charged, e.credits_charged, e.duplicate_creates),
        (10_000, 100_000, 0)
    );
}

#[tokio::test]
async fn hundreds_of_tasks_each_get_their_own_image_quickly() {
    use std::hash::{Hash, Hasher};
    let sim = start(SimConfig::instant().runbase_rate_limit(0, Duration::from_secs(1))).await;
    let t0 = Instant::now();
    let mut distinct = std::collections::HashSet::new();
    for i in 0..300 {
        let body = json!({"model": "openai/gpt-image-1.5", "input": {"prompt": format!("p{i}"), "aspect_ratio": "3:2"}});
        let created = post(
            &format!("{}/runs", sim.runbase_url()),
            Some(KEY),
            &body.to_string(),
        )
        .await;
        let (_, done) = poll_runbase(&sim, created.body["id"].as_str().unwrap(), KEY).await;
        let url = done.body["output"]["urls"][0].as_str().unwrap();
        let download = || async {
            client()
                .get(url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        };
        let bytes = download().await;
        assert!(bytes.starts_with(b"\x89PNG"));
        // The second download comes from the cache: the same bytes.
        assert_eq!(download().await, bytes);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        distinct.insert(h.finish());
    }
    assert_eq!(distinct.len(), 300, "one image per task");
    // Each task's image is drawn once (a few ms, tens in a debug build).
    assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
}
