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
//!
//! Two more functions split the gap: `provider` (the provider's `status`
//! alone, no client around it) and `transport` (the core `HttpTransport`
//! with the floor's parse).
//!
//! On a shared machine the load drifts between criterion's sequential
//! measurements, so after them the four paths are also timed interleaved
//! (rounds of a few hundred polls each, in turn) and the median per-round
//! ratio to the floor is printed.
//!
//! Both asynchronous providers are measured, each in its own group
//! (`poll/runbase`, `poll/gptimage15`): Runbase's run object and
//! gptimage15's envelope with its string-or-integer status.
//!
//! `IMAGEGEN_BENCH_PROFILE=client|provider|transport|floor` (with
//! `IMAGEGEN_BENCH_ITERS`, default 2,000, and `IMAGEGEN_BENCH_PROVIDER`,
//! default `runbase`) runs only that path that many times and exits: for
//! `valgrind --tool=callgrind` (see docs/PERFORMANCE.md).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;

use imagegen::{
    Client, HttpTransport, ImageProvider, ImageRequest, PollPolicy, Quality, RateLimit,
};
use imagegen_benches::floors;
use imagegen_benches::providers::{self, SIM_KEY};
use imagegen_sim::{Sim, SimConfig, SimHandle};

const PATHS: [&str; 4] = ["client", "provider", "transport", "floor"];
const PROVIDERS: [&str; 2] = ["runbase", "gptimage15"];

/// Builds a provider on the simulator's base URL for it.
type MakeProvider = fn(&str) -> Arc<dyn ImageProvider>;

struct Setup {
    provider_name: &'static str,
    sim_runtime: tokio::runtime::Runtime,
    sim: Option<SimHandle>,
    rt: tokio::runtime::Runtime,
    client: Client,
    provider: Arc<dyn ImageProvider>,
    transport: HttpTransport,
    bare: reqwest::Client,
    task_id: String,
    url: String,
}

impl Setup {
    fn new(provider_name: &'static str) -> Setup {
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
        let (base_url, make_provider): (String, MakeProvider) = match provider_name {
            "runbase" => (sim.runbase_url(), providers::runbase),
            "gptimage15" => (sim.gptimage15_url(), providers::gptimage15),
            other => panic!("no polling bench for provider {other}"),
        };

        // The client side: one current-thread runtime for every contender.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let client = Client::builder()
            .provider_arc(make_provider(&base_url))
            // Runbase's real limit (20 per 10 s) would pace the loop; measure
            // the budget's bookkeeping, not its waiting.
            .rate_limit(
                provider_name,
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
            let status = client
                .status(provider_name, &task_id)
                .await
                .expect("status");
            assert!(status.state.is_terminal(), "{status:?}");
            task_id
        });
        let url = match provider_name {
            "runbase" => format!("{base_url}/runs/{task_id}"),
            // The base URL ends in `/api` (as https://gptimage15.ai/api does).
            _ => format!("{base_url}/status?task_id={task_id}"),
        };
        Setup {
            provider_name,
            url,
            provider: make_provider(&base_url),
            transport: HttpTransport::new(),
            bare: reqwest::Client::new(),
            sim_runtime,
            sim: Some(sim),
            rt,
            client,
            task_id,
        }
    }

    /// The floor's parse of a finished task: the minimal struct.
    fn parse_floor(&self, body: &[u8]) {
        if self.provider_name == "runbase" {
            let run: floors::Run = serde_json::from_slice(body).expect("parses");
            black_box(run);
        } else {
            let task: floors::G15Envelope<floors::G15Task> =
                serde_json::from_slice(body).expect("parses");
            black_box(task);
        }
    }

    async fn poll(&self, path: &str) {
        match path {
            "client" => {
                let status = self
                    .client
                    .status(self.provider_name, black_box(&self.task_id))
                    .await
                    .expect("status");
                black_box(status);
            }
            "provider" => {
                let task = imagegen::TaskRef::new(self.task_id.as_str());
                let status = self
                    .provider
                    .status(black_box(&task))
                    .await
                    .expect("status");
                black_box(status);
            }
            "transport" => {
                let request = imagegen::HttpRequest::get(
                    imagegen::codec::Url::parse(black_box(&self.url)).expect("URL"),
                );
                let auth = (
                    http::header::AUTHORIZATION,
                    http::HeaderValue::from_str(&format!("Bearer {SIM_KEY}")).expect("header"),
                );
                let response = self
                    .transport
                    .send(
                        self.provider_name,
                        request,
                        Some((&auth.0, &auth.1)),
                        Duration::from_secs(60),
                    )
                    .await
                    .expect("sent");
                assert!(response.is_success());
                self.parse_floor(&response.body);
            }
            "floor" => {
                let response = self
                    .bare
                    .get(black_box(&self.url))
                    .bearer_auth(SIM_KEY)
                    .send()
                    .await
                    .expect("sent");
                assert!(response.status().is_success());
                let body = response.bytes().await.expect("body");
                self.parse_floor(&body);
            }
            other => panic!("unknown path {other}"),
        }
    }

    /// Median over rounds of (path time / floor time), paths in turn.
    fn interleaved(&self, rounds: usize, per_round: u32) -> Vec<(&'static str, f64, f64)> {
        imagegen_benches::interleave::medians(&PATHS, rounds, |path| {
            let start = Instant::now();
            self.rt.block_on(async {
                for _ in 0..per_round {
                    self.poll(path).await;
                }
            });
            start.elapsed().as_secs_f64() * 1e6 / f64::from(per_round)
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

fn criterion_config() -> Criterion {
    let (warm_up, measurement, _) = imagegen_benches::timing();
    Criterion::default()
        .warm_up_time(warm_up)
        .measurement_time(measurement * 2)
        .sample_size(if imagegen_benches::quick() { 20 } else { 100 })
        .noise_threshold(0.03)
        .configure_from_args()
}

fn main() {
    if let Ok(path) = std::env::var("IMAGEGEN_BENCH_PROFILE") {
        let iters: u32 = std::env::var("IMAGEGEN_BENCH_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000);
        let provider = std::env::var("IMAGEGEN_BENCH_PROVIDER").unwrap_or_default();
        let provider = PROVIDERS
            .into_iter()
            .find(|p| *p == provider)
            .unwrap_or("runbase");
        let setup = Setup::new(provider);
        setup.rt.block_on(async {
            for _ in 0..iters {
                setup.poll(&path).await;
            }
        });
        return;
    }
    let setups: Vec<Setup> = PROVIDERS.into_iter().map(Setup::new).collect();
    let mut c = criterion_config();
    for setup in &setups {
        let mut group = c.benchmark_group(format!("poll/{}", setup.provider_name));
        for path in PATHS {
            group.bench_function(path, |b| {
                b.to_async(&setup.rt).iter(|| setup.poll(path));
            });
        }
        group.finish();
    }
    c.final_summary();
    // `cargo test --benches` runs this binary without `--bench`: skip.
    if std::env::args().any(|a| a == "--bench") {
        let (rounds, per_round) = if imagegen_benches::quick() {
            (10, 100)
        } else {
            (30, 300)
        };
        for setup in &setups {
            println!(
                "\npoll/{} interleaved ({rounds} rounds of {per_round} polls per path):",
                setup.provider_name
            );
            println!("| path | median µs/poll | median ratio to floor |");
            println!("|---|---:|---:|");
            for (path, micros, ratio) in setup.interleaved(rounds, per_round) {
                println!("| {path} | {micros:.1} | {ratio:.3}x |");
            }
        }
    }
}
