//! What a state dir costs: creates and polls per second over HTTP with and
//! without one, the process's CPU time per request (Linux; client and
//! server together, so the difference is the journal's), and how long a
//! restart on N tasks takes.
//!
//! ```sh
//! cargo run --release -p imagegen-sim --example state_dir_cost -- [creates] [dir]
//! ```
//!
//! `creates` defaults to 5000; `dir` (a folder to use, emptied first) to a
//! fresh temporary one.

use std::time::{Duration, Instant};

use futures::StreamExt;
use imagegen_sim::{LatencyProfile, Sim, SimConfig, SimHandle};
use serde_json::{Value, json};

const KEY: &str = "sim-key";
const IN_FLIGHT: usize = 32;

fn config() -> SimConfig {
    // Long tasks: every create stays in flight, as in the load test.
    SimConfig::fast()
        .latency(LatencyProfile::Fixed {
            queue_ms: 600_000,
            generate_ms: 600_000,
        })
        .runbase_rate_limit(0, Duration::from_secs(1))
}

/// CPU time used by this process so far (user + system; Linux only).
fn cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100
}

/// Runs `f`, returning its output and the CPU microseconds per item of `n`.
async fn per_item<T>(n: usize, f: impl std::future::Future<Output = T>) -> (T, f64) {
    let before = cpu();
    let out = f.await;
    let us = match (before, cpu()) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() * 1e6 / n as f64,
        _ => f64::NAN,
    };
    (out, us)
}

/// `n` gptimage15 creates, 32 at a time; returns the ids and the rate.
async fn creates(sim: &SimHandle, n: usize, tag: &str) -> (Vec<String>, f64) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{}/generate", sim.gptimage15_url());
    let t0 = Instant::now();
    let ids: Vec<String> = futures::stream::iter(0..n)
        .map(|i| {
            let (client, url) = (client.clone(), url.clone());
            let prompt = format!("{tag} task {i}");
            async move {
                let v: Value = client
                    .post(&url)
                    .bearer_auth(KEY)
                    .json(&json!({ "prompt": prompt }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                v["data"]["task_id"].as_str().unwrap().to_string()
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    (ids, n as f64 / t0.elapsed().as_secs_f64())
}

/// One status poll per id, 32 at a time; returns the rate.
async fn polls(sim: &SimHandle, ids: &[String]) -> f64 {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let t0 = Instant::now();
    futures::stream::iter(ids)
        .map(|id| {
            let client = client.clone();
            let url = format!("{}/status?task_id={id}", sim.gptimage15_url());
            async move {
                let r = client.get(&url).bearer_auth(KEY).send().await.unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap();
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<()>>()
        .await;
    ids.len() as f64 / t0.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(5000, |a| a.parse().expect("a count"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = args
        .next()
        .map_or_else(|| tmp.path().join("state"), Into::into);
    let _ = std::fs::remove_dir_all(&dir);

    // Warm up (connections, allocator).
    let warm = Sim::start(config()).await.unwrap();
    creates(&warm, 500, "warm").await;
    drop(warm);

    let plain = Sim::start(config()).await.unwrap();
    let ((ids, plain_creates), plain_create_cpu) = per_item(n, creates(&plain, n, "plain")).await;
    let (plain_polls, plain_poll_cpu) = per_item(n, polls(&plain, &ids)).await;
    drop(plain);

    let kept = Sim::start(config().state_dir(&dir)).await.unwrap();
    let ((ids, kept_creates), kept_create_cpu) = per_item(n, creates(&kept, n, "kept")).await;
    let (kept_polls, kept_poll_cpu) = per_item(n, polls(&kept, &ids)).await;
    drop(kept);
    let journal = dir.join(imagegen_sim::persist::JOURNAL_FILE);
    let bytes = std::fs::metadata(&journal).unwrap().len();

    let t0 = Instant::now();
    let again = Sim::start(config().state_dir(&dir)).await.unwrap();
    let restart = t0.elapsed();
    let restored = again.restored().unwrap().clone();
    assert_eq!(restored.tasks, n);
    let compacted = std::fs::metadata(&journal).unwrap().len();

    println!("{n} gptimage15 creates, then one poll each, {IN_FLIGHT} in flight, over HTTP:");
    println!("                 creates/s   polls/s   CPU µs/create   CPU µs/poll");
    println!(
        "no state dir     {plain_creates:>9.0} {plain_polls:>9.0} {plain_create_cpu:>15.0} {plain_poll_cpu:>13.0}"
    );
    println!(
        "state dir        {kept_creates:>9.0} {kept_polls:>9.0} {kept_create_cpu:>15.0} {kept_poll_cpu:>13.0}"
    );
    println!(
        "journal after the run: {} lines read back, {:.1} MB; restart on it: {:?} ({} tasks restored, compacted to {:.1} MB)",
        restored.lines_read,
        bytes as f64 / 1e6,
        restart,
        restored.tasks,
        compacted as f64 / 1e6
    );
}
