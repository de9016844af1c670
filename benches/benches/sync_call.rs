//! OpenAI's synchronous call: the client CPU one generation costs through
//! `Client::generate` (capability check, rate and in-flight budgets, retry
//! wrapper, the codec's request, the core transport, the codec's parse of
//! the base64 answer, settling, the generation built) beside the floor: a
//! bare `reqwest` POST of the same body with the same key, the body read,
//! parsed into a minimal struct that borrows the base64 text, and decoded.
//!
//! The simulator runs in this process, on its own runtime and thread, with
//! zero latency; the client side runs on a current-thread runtime on the
//! bench thread, and what is measured is that thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), so the simulator's work of drawing and
//! encoding each image is not counted. Paths are timed interleaved, round
//! after round, and the median per-round ratio to the floor is printed.
//!
//! `IMAGEGEN_BENCH_PROFILE=client|provider|floor` (with
//! `IMAGEGEN_BENCH_ITERS`, default 200) runs only that path and exits, for
//! a profiler.

use std::borrow::Cow;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use imagegen::{Client, ImageOutput, ImageProvider, ImageRequest, SubmitOptions};
use imagegen_benches::providers::SIM_KEY;
use imagegen_sim::{Sim, SimConfig, SimHandle};
use serde::Deserialize;

const PATHS: [&str; 3] = ["client", "provider", "floor"];

/// The floor's parse: only what a client needs, the base64 text borrowed.
#[derive(Deserialize)]
struct Images<'a> {
    #[serde(borrow)]
    data: Vec<Image<'a>>,
}

#[derive(Deserialize)]
struct Image<'a> {
    #[serde(borrow)]
    b64_json: Cow<'a, str>,
}

struct Setup {
    sim_runtime: tokio::runtime::Runtime,
    sim: Option<SimHandle>,
    rt: tokio::runtime::Runtime,
    client: Client,
    provider: Arc<dyn ImageProvider>,
    bare: reqwest::Client,
    url: String,
}

impl Setup {
    fn new() -> Setup {
        let sim_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sim")
            .enable_all()
            .build()
            .expect("a runtime");
        let sim = sim_runtime
            .block_on(Sim::start(SimConfig::instant()))
            .expect("the simulator starts");
        let spec = imagegen::registration("openai").expect("openai").spec;
        let base_url = format!("{}{}", sim.base_url(), spec.sim_path);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let provider = imagegen::provider(
            "openai",
            imagegen::ProviderConfig::new()
                .api_key(imagegen::ApiKey::new(SIM_KEY))
                .base_url(&base_url),
        )
        .expect("openai");
        let client = Client::builder()
            .provider_arc(provider.clone())
            .build()
            .expect("a client");
        Setup {
            sim_runtime,
            sim: Some(sim),
            rt,
            client,
            provider,
            bare: reqwest::Client::new(),
            url: format!("{base_url}/images/generations"),
        }
    }

    async fn call(&self, path: &str) {
        match path {
            "client" => {
                let generation = self
                    .client
                    .generate(ImageRequest::new(black_box("a ceramic lamp")))
                    .await
                    .expect("generated");
                assert!(matches!(
                    generation.images[0].output,
                    ImageOutput::Inline { .. }
                ));
                black_box(generation);
            }
            "provider" => {
                let status = self
                    .provider
                    .submit(
                        &ImageRequest::new(black_box("a ceramic lamp")),
                        &SubmitOptions::new(),
                    )
                    .await
                    .expect("generated");
                black_box(status);
            }
            "floor" => {
                let body = br#"{"model":"gpt-image-1.5","prompt":"a ceramic lamp"}"#;
                let response = self
                    .bare
                    .post(black_box(&self.url))
                    .bearer_auth(SIM_KEY)
                    .header("content-type", "application/json")
                    .body(&body[..])
                    .send()
                    .await
                    .expect("sent");
                assert!(response.status().is_success());
                let bytes = response.bytes().await.expect("body");
                let images: Images = serde_json::from_slice(&bytes).expect("parses");
                let png = base64::engine::general_purpose::STANDARD
                    .decode(images.data[0].b64_json.as_bytes())
                    .expect("base64");
                black_box(png);
            }
            other => panic!("unknown path {other}"),
        }
    }

    /// Median over rounds of the thread CPU time per call, and of its
    /// per-round ratio to the floor's.
    fn interleaved(&self, rounds: usize, per_round: u32) -> Vec<(&'static str, f64, f64)> {
        imagegen_benches::interleave::medians(&PATHS, rounds, |path| {
            let start = thread_cpu();
            self.rt.block_on(async {
                for _ in 0..per_round {
                    self.call(path).await;
                }
            });
            (thread_cpu() - start).as_secs_f64() * 1e6 / f64::from(per_round)
        })
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            self.sim_runtime.block_on(sim.shutdown());
        }
    }
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn main() {
    let setup = Setup::new();
    if let Ok(path) = std::env::var("IMAGEGEN_BENCH_PROFILE") {
        let iters: u32 = std::env::var("IMAGEGEN_BENCH_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200);
        setup.rt.block_on(async {
            for _ in 0..iters {
                setup.call(&path).await;
            }
        });
        return;
    }
    // `cargo test --benches` runs this binary without `--bench`: one call
    // per path, as a smoke test.
    let bench = std::env::args().any(|a| a == "--bench");
    let (rounds, per_round) = match (bench, imagegen_benches::quick()) {
        (false, _) => (1, 1),
        (true, true) => (7, 20),
        (true, false) => (21, 50),
    };
    let rows = setup.interleaved(rounds, per_round);
    println!(
        "openai synchronous call, client thread CPU ({rounds} rounds of {per_round} calls per path, interleaved):"
    );
    println!("{:<10} {:>14} {:>14}", "path", "µs CPU / call", "vs floor");
    for (path, micros, ratio) in rows {
        println!("{path:<10} {micros:>14.1} {ratio:>13.3}x");
    }
}
