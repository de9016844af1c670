//! Latency: how soon the client knows a task finished, and how soon a batch
//! on a saturated rate budget hands out its first image.
//!
//! Against the simulator (in this process, on its own runtime and thread)
//! with a spread of task durations: the sim's realistic profile (1 s queued
//! plus 8 s generating for `medium`, each task ±20 %, uniformly), **divided by
//! `IMAGEGEN_BENCH_LATENCY_SCALE`** (default 5; 1 is real time) together
//! with every interval and rate window, so a run takes minutes instead of
//! a quarter of an hour. Figures are printed in real-time seconds (scaled
//! back up).
//!
//! **Detection** (per asynchronous provider of the registry): 32 jobs
//! (`IMAGEGEN_BENCH_QUICK=1`: 16), 4 at a time, `medium` quality, through
//! one client each of:
//!
//! * `imagegen`: the default (aimed) poll schedule, starting from the
//!   provider's `typical_duration` seed (a fresh client);
//! * `backoff`: the schedule before (advised interval, ×1.5 per poll);
//! * `fixed advised`: a fixed poller at the provider's advised interval;
//! * `fixed 0.5 s`: a fixed poller every 0.5 s.
//!
//! All four are the same `Client` (same rate budget, retries, transport);
//! only the poll policy differs. Detection delay = when `wait` returned
//! minus when the task finished at the sim (`SimHandle::task_times`, the
//! simulator's own record, for every provider alike); requests per job =
//! what the simulator's ledger counted for the provider (creates, polls,
//! refusals) over the jobs. `IMAGEGEN_BENCH_VERBOSE=1` also prints each job
//! and the estimate it was polled on, and each client's estimates after
//! its run; `IMAGEGEN_BENCH_POLLERS=imagegen` runs only the default client.
//!
//! **Saturation**: 200 jobs at once on one Runbase key at its limit (20 per
//! 10 s, scaled): time to the first image, total time, requests, 429s, and
//! the physical minimum: every job needs a create and a poll, 20 requests
//! per window, so the last of the 400 requests cannot start before
//! 19 windows (190 s).
//!
//! Clients run in turn within each round, rounds repeated
//! (`IMAGEGEN_BENCH_ROUNDS`, default 3; quick 1), medians printed, so the
//! load of a shared machine falls on all alike. Not run by `cargo test`:
//! without `--bench` (as `cargo bench` passes) it prints a note and exits.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use imagegen::{Client, ImageRequest, PollPolicy, Quality};
use imagegen_benches::interleave::median;
use imagegen_benches::scaled::ScaledSim;
use tokio::sync::Semaphore;

/// Jobs counted as the cold start: the first two waves of four.
const WAVE: usize = 8;

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// One poller to compare.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Poller {
    Imagegen,
    Backoff,
    FixedAdvised,
    FixedHalfSecond,
}

impl Poller {
    const ALL: [Poller; 4] = [
        Poller::Imagegen,
        Poller::Backoff,
        Poller::FixedAdvised,
        Poller::FixedHalfSecond,
    ];
    fn name(self) -> &'static str {
        match self {
            Poller::Imagegen => "imagegen (aimed)",
            Poller::Backoff => "backoff (before)",
            Poller::FixedAdvised => "fixed, advised interval",
            Poller::FixedHalfSecond => "fixed, 0.5 s",
        }
    }
}

struct Setup {
    scale: f64,
    sim: ScaledSim,
}

impl Setup {
    fn scaled(&self, d: Duration) -> Duration {
        self.sim.scaled(d)
    }

    /// A client of `poller` on provider `name`, every time scaled.
    fn client(&self, name: &str, poller: Poller) -> Client {
        let caps = imagegen::registration(name)
            .expect("registered")
            .capabilities();
        let advised = self.scaled(caps.poll_interval);
        let policy = match poller {
            Poller::Imagegen => self.sim.default_policy(name),
            Poller::Backoff => PollPolicy::default()
                .with_schedule(imagegen::PollSchedule::Backoff)
                .with_initial_interval(advised)
                .with_max_interval(self.scaled(Duration::from_secs(15))),
            Poller::FixedAdvised => PollPolicy::fixed(advised),
            Poller::FixedHalfSecond => PollPolicy::fixed(self.scaled(Duration::from_millis(500))),
        };
        self.sim
            .client_builder(name, policy)
            .build()
            .expect("client")
    }

    async fn ledger(&self, provider: &str) -> imagegen_sim::LedgerEntry {
        self.sim.sim.ledger().totals(provider)
    }
}

/// What one detection run measured.
#[derive(Debug, Default, Clone)]
struct Detection {
    /// Detection delays, real-time seconds.
    delays: Vec<f64>,
    /// Task durations, real-time seconds.
    durations: Vec<f64>,
    /// Requests each job's client sent (create and polls), in job order.
    client_requests: Vec<f64>,
    requests_per_job: f64,
    rate_limited: u64,
}

async fn detection(setup: &Setup, name: &str, poller: Poller, jobs: usize) -> Detection {
    let client = setup.client(name, poller);
    let before = setup.ledger(name).await;
    let gate = Arc::new(Semaphore::new(4));
    let runs = (0..jobs).map(|i| {
        let (client, gate) = (client.clone(), gate.clone());
        async move {
            let _slot = gate.acquire().await.expect("open");
            let request =
                ImageRequest::new(format!("a ceramic lamp, take {i}")).quality(Quality::Medium);
            let submission = client.submit(request).await.expect("submitted");
            let handle = submission.handles[0].clone();
            let estimate = client
                .latency_estimates()
                .entries
                .into_iter()
                .max_by_key(|e| e.estimate.samples)
                .map(|e| e.estimate);
            let generation = client.wait(&handle).await.expect("generated");
            (handle, now_ms(), generation.polls, estimate)
        }
    });
    let results = join_all(runs).await;
    let after = setup.ledger(name).await;
    let sent = after.creates_accepted + after.polls + after.errors_sent
        - before.creates_accepted
        - before.polls
        - before.errors_sent;
    let mut out = Detection {
        requests_per_job: sent as f64 / jobs as f64,
        rate_limited: after.rate_limited - before.rate_limited,
        client_requests: results.iter().map(|r| 1.0 + f64::from(r.2)).collect(),
        ..Detection::default()
    };
    let verbose = std::env::var("IMAGEGEN_BENCH_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0");
    if verbose {
        for entry in client.latency_estimates().entries {
            let estimate = describe(&entry.estimate, setup.scale);
            println!("  {name} {poller:?} estimate after the run: {estimate}");
        }
    }
    let unix_ms = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    for (i, (handle, known, _, estimate)) in results.iter().enumerate() {
        let (created, finished) = setup
            .sim
            .sim
            .task_times(&handle.task_id)
            .expect("the simulator holds the task");
        let (created, finished) = (unix_ms(created), unix_ms(finished));
        out.delays.push((known - finished) / 1000.0 * setup.scale);
        out.durations
            .push((finished - created) / 1000.0 * setup.scale);
        if verbose {
            let aimed = estimate.map_or_else(String::new, |e| {
                format!(", polled on {}", describe(&e, setup.scale))
            });
            println!(
                "  job {i:>2}: task {:.2} s, delay {:.2} s, {} requests{aimed}",
                out.durations[i], out.delays[i], out.client_requests[i]
            );
        }
    }
    // The next client must find the rate window as empty as this one did.
    if let Some(limit) = imagegen::registration(name)
        .expect("registered")
        .capabilities()
        .rate_limit
    {
        tokio::time::sleep(setup.scaled(limit.per) + setup.scaled(limit.per) / 10).await;
    }
    out
}

/// An estimate in real-time seconds.
fn describe(estimate: &imagegen::LatencyEstimate, scale: f64) -> String {
    let secs = |d: Duration| scale * d.as_secs_f64();
    format!(
        "low {:.2} / typical {:.2} / high {:.2} s ({} samples)",
        secs(estimate.low),
        secs(estimate.typical),
        secs(estimate.high),
        estimate.samples
    )
}

/// What one saturated batch measured (real-time seconds).
#[derive(Debug, Clone, Copy)]
struct Batch {
    first: f64,
    total: f64,
    requests: u64,
    rate_limited: u64,
}

async fn saturated(setup: &Setup, poller: Poller, jobs: usize) -> Batch {
    let client = setup.client("runbase", poller);
    let before = setup.ledger("runbase").await;
    let start = std::time::Instant::now();
    let runs = (0..jobs).map(|i| {
        let client = client.clone();
        async move {
            let request = ImageRequest::new(format!("a ceramic lamp, batch job {i}"))
                .quality(Quality::Medium);
            client.generate(request).await.expect("generated");
            start.elapsed().as_secs_f64()
        }
    });
    let done = join_all(runs).await;
    let after = setup.ledger("runbase").await;
    let first = done.iter().copied().fold(f64::MAX, f64::min);
    let total = done.iter().copied().fold(0.0, f64::max);
    Batch {
        first: first * setup.scale,
        total: total * setup.scale,
        requests: after.creates_accepted + after.polls + after.errors_sent
            - before.creates_accepted
            - before.polls
            - before.errors_sent,
        rate_limited: after.rate_limited - before.rate_limited,
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn p95(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() as f64 * 0.95).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn env_number(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "latency: a benchmark; run it with `cargo bench -p imagegen-benches --bench latency`"
        );
        return;
    }
    let quick = imagegen_benches::quick();
    let scale = env_number("IMAGEGEN_BENCH_LATENCY_SCALE", 5.0).max(1.0);
    let rounds = env_number("IMAGEGEN_BENCH_ROUNDS", if quick { 1.0 } else { 3.0 }) as usize;
    let jobs = if quick { 16 } else { 32 };
    let batch_jobs = env_number("IMAGEGEN_BENCH_BATCH_JOBS", 200.0) as usize;
    let only = std::env::var("IMAGEGEN_BENCH_PART").unwrap_or_default();

    let sim = ScaledSim::start(scale);
    let setup = Setup { scale, sim };
    let runtime = tokio::runtime::Runtime::new().expect("client runtime");
    println!(
        "latency: times divided by {scale} (sim: 1 s + 8 s per medium task ±20 %, Runbase 20 per 10 s), shown in real-time seconds; {rounds} round(s)"
    );

    // `IMAGEGEN_BENCH_PROVIDERS=runbase,gptimage15` limits the detection
    // part to those (WaveSpeed's 2 images a minute, unscaled, takes long).
    let wanted = std::env::var("IMAGEGEN_BENCH_PROVIDERS").unwrap_or_default();
    let providers: Vec<&'static str> = imagegen::providers()
        .into_iter()
        .filter(|r| r.capabilities().mode == imagegen::Mode::Async)
        .map(|r| r.spec.name)
        .filter(|name| wanted.is_empty() || wanted.split(',').any(|w| w.trim() == *name))
        .collect();

    if only.is_empty() || only == "detection" {
        println!(
            "\nAll jobs (a fresh client: the first {WAVE} start from the seed), and the jobs after the first {WAVE} (learned):\n"
        );
        println!(
            "| provider | poller | mean task | mean delay | delay / task | p95 delay | requests / job | learned: mean delay | delay / task | p95 delay | requests / job | 429s |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for name in &providers {
            // `IMAGEGEN_BENCH_POLLERS=imagegen` runs only the default client.
            let pollers: Vec<Poller> = match std::env::var("IMAGEGEN_BENCH_POLLERS").as_deref() {
                Ok("imagegen") => vec![Poller::Imagegen],
                _ => Poller::ALL.to_vec(),
            };
            let mut runs: Vec<Vec<Detection>> = vec![Vec::new(); pollers.len()];
            for _ in 0..rounds {
                for (i, poller) in pollers.iter().enumerate() {
                    runs[i].push(runtime.block_on(detection(&setup, name, *poller, jobs)));
                }
            }
            for (poller, runs) in pollers.iter().zip(runs) {
                let med = |f: &dyn Fn(&Detection) -> f64| median(runs.iter().map(f).collect());
                let task = med(&|r| mean(&r.durations));
                let delay = med(&|r| mean(&r.delays));
                let tail = med(&|r| p95(&r.delays));
                let requests = med(&|r| r.requests_per_job);
                let warm_task = med(&|r| mean(&r.durations[WAVE..]));
                let warm = med(&|r| mean(&r.delays[WAVE..]));
                let warm_tail = med(&|r| p95(&r.delays[WAVE..]));
                let warm_requests = med(&|r| mean(&r.client_requests[WAVE..]));
                let limited: u64 = runs.iter().map(|r| r.rate_limited).sum();
                println!(
                    "| {name} | {} | {task:.2} s | {delay:.2} s | {:.1} % | {tail:.2} s | {requests:.2} | {warm:.2} s | {:.1} % | {warm_tail:.2} s | {warm_requests:.2} | {limited} |",
                    poller.name(),
                    100.0 * delay / task,
                    100.0 * warm / warm_task,
                );
            }
        }
    }

    if only.is_empty() || only == "batch" {
        println!(
            "\n{batch_jobs} jobs at once on one Runbase key, 20 requests per 10 s; physical minimum: every job a create and a poll"
        );
        let windows = ((2 * batch_jobs) as f64 / 20.0).ceil() - 1.0;
        let minimum = windows * 10.0;
        println!(
            "\n| poller | first image | total | total / minimum ({minimum:.0} s) | requests | 429s |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        let pollers = match std::env::var("IMAGEGEN_BENCH_POLLERS").as_deref() {
            Ok("imagegen") => vec![Poller::Imagegen],
            _ => vec![Poller::Imagegen, Poller::FixedAdvised],
        };
        let mut runs: Vec<Vec<Batch>> = vec![Vec::new(); pollers.len()];
        for _ in 0..rounds {
            for (i, poller) in pollers.iter().enumerate() {
                runs[i].push(runtime.block_on(saturated(&setup, *poller, batch_jobs)));
                // Let the window clear between runs.
                std::thread::sleep(Duration::from_secs_f64(11.0 / scale));
            }
        }
        for (poller, runs) in pollers.iter().zip(runs) {
            let first = median(runs.iter().map(|r| r.first).collect());
            let total = median(runs.iter().map(|r| r.total).collect());
            let requests = median(runs.iter().map(|r| r.requests as f64).collect());
            let limited: u64 = runs.iter().map(|r| r.rate_limited).sum();
            let spread = |f: fn(&Batch) -> f64| {
                let values: Vec<f64> = runs.iter().map(f).collect();
                let lo = values.iter().copied().fold(f64::MAX, f64::min);
                let hi = values.iter().copied().fold(0.0, f64::max);
                format!("{lo:.1} to {hi:.1}")
            };
            println!(
                "| {} | {first:.1} s ({}) | {total:.1} s ({}) | {:.3}x | {requests:.0} | {limited} |",
                poller.name(),
                spread(|b| b.first),
                spread(|b| b.total),
                total / minimum,
            );
        }
    }
}
