//! Polling overhead: one status poll through the whole client path
//! (`Client::status`: rate budget, retry wrapper, provider request building,
//! the core transport, parsing into the generated type, mapping to
//! `TaskStatus`) beside the floor: a bare `reqwest` GET of the same URL with
//! the same key, body read, and parsed into a minimal hand-written struct,
//! on the same runtime.
//!
//! The simulator runs in this process with zero latency, on its own runtime
//! and thread, so the bench runtime (current-thread, like one worker) holds
//! only the client side. The task polled is finished, so every poll returns
//! the same body.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use imagegen::{Client, ImageRequest, PollPolicy, Quality, RateLimit};
use imagegen_benches::floors;
use imagegen_benches::providers::{self, SIM_KEY};
use imagegen_sim::{Sim, SimConfig};

fn poll(c: &mut Criterion) {
    // The simulator: its own runtime on its own thread.
    let sim_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sim")
        .enable_all()
        .build()
        .expect("a runtime");
    let sim = sim_runtime
        .block_on(Sim::start(
            SimConfig::instant().runbase_rate_limit(0, Duration::from_secs(1)),
        ))
        .expect("the simulator starts");
    let runbase_url = sim.runbase_url();

    // The client side: one current-thread runtime for both contenders.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let client = Client::builder()
        .provider_arc(providers::runbase(&runbase_url))
        // The real limit (20 per 10 s) would pace the loop; measure the
        // budget's bookkeeping, not its waiting.
        .rate_limit(
            "runbase",
            RateLimit {
                requests: 1_000_000,
                per: Duration::from_secs(1),
            },
        )
        .poll_policy(PollPolicy::default().with_initial_interval(Duration::from_millis(1)))
        .build()
        .expect("a client");
    let task_id = rt.block_on(async {
        let submission = client
            .submit(ImageRequest::new("a ceramic lamp").quality(Quality::High))
            .await
            .expect("the create is accepted");
        let task_id = submission.handles[0].task_id.clone();
        let status = client.status("runbase", &task_id).await.expect("status");
        assert!(status.state.is_terminal(), "{status:?}");
        task_id
    });
    let url = format!("{runbase_url}/runs/{task_id}");
    let bare = reqwest::Client::new();

    let mut group = c.benchmark_group("poll/runbase");
    group.bench_function("client", |b| {
        b.to_async(&rt).iter(|| async {
            let status = client
                .status("runbase", black_box(&task_id))
                .await
                .expect("status");
            black_box(status)
        })
    });
    group.bench_function("floor", |b| {
        b.to_async(&rt).iter(|| async {
            let response = bare
                .get(black_box(&url))
                .bearer_auth(SIM_KEY)
                .send()
                .await
                .expect("sent");
            assert!(response.status().is_success());
            let body = response.bytes().await.expect("body");
            let run: floors::Run = serde_json::from_slice(&body).expect("parses");
            black_box(run)
        })
    });
    group.finish();
    drop(client);
    sim_runtime.block_on(sim.shutdown());
}

fn config() -> Criterion {
    let (warm_up, measurement, _) = imagegen_benches::timing();
    Criterion::default()
        .warm_up_time(warm_up)
        .measurement_time(measurement * 2)
        .sample_size(if imagegen_benches::quick() { 20 } else { 100 })
        .noise_threshold(0.03)
}

criterion_group! {
    name = benches;
    config = config();
    targets = poll
}
criterion_main!(benches);
