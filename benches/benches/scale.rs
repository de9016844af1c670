//! Scale: N concurrent generations through one `Client` against the
//! simulator with a fixed latency, for N = 100, 1,000 and 10,000 (quick
//! mode: 100 and 1,000). Prints one table row per N.
//!
//! Three kinds of process, all this executable:
//!
//! * the orchestrator (what `cargo bench` starts): spawns the simulator,
//!   then one fresh client process per N, and prints the table;
//! * the simulator (`IMAGEGEN_BENCH_ROLE=sim`), so its CPU and memory are
//!   not counted as the client's;
//! * a client (`IMAGEGEN_BENCH_ROLE=client`): runs N generations on a
//!   default multi-thread tokio runtime (one worker per core, one task per
//!   job, no thread per job) and prints one JSON line of measurements. A
//!   fresh process per N makes its peak RSS (`VmHWM`) that run's own.
//!
//! Not run by `cargo test`: without `--bench` on the command line (as
//! `cargo bench` passes) it prints a note and exits.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use imagegen::{Client, ImageRequest, PollPolicy, Quality, RateLimit};
use imagegen_benches::providers::{self, SIM_KEY};
use imagegen_benches::sim_child::{self, SimChild};
use imagegen_benches::{floors, procstat, requests};
use serde::{Deserialize, Serialize};

/// Every task: this long queued, then this long generating.
const QUEUE_MS: u64 = 1_000;
const GENERATE_MS: u64 = 4_000;
/// The client polls every second (±10 %).
const POLL_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Serialize, Deserialize, Debug)]
struct Row {
    n: u64,
    ok: u64,
    failed: u64,
    first_error: Option<String>,
    wall_s: f64,
    /// Polls the client reports (`Generation::polls`), summed.
    polls: u64,
    /// Requests the simulator saw (creates + polls), from its ledger.
    sim_requests: u64,
    cpu_s: f64,
    user_s: f64,
    sys_s: f64,
    baseline_rss_kib: u64,
    peak_rss_kib: u64,
    max_threads: u64,
    max_fds: u64,
    future_bytes: u64,
}

fn main() {
    sim_child::serve_if_child();
    if std::env::var("IMAGEGEN_BENCH_ROLE").as_deref() == Ok("client") {
        client_main();
        return;
    }
    if !std::env::args().any(|a| a == "--bench") {
        println!("scale: a benchmark; run it with `cargo bench -p imagegen-benches --bench scale`");
        return;
    }
    let ns: &[u64] = if imagegen_benches::quick() {
        &[100, 1_000]
    } else {
        &[100, 1_000, 10_000]
    };
    let sim = SimChild::spawn(QUEUE_MS, GENERATE_MS).expect("the simulator starts");
    println!(
        "scale: simulator pid {} at {} ({QUEUE_MS} ms queued + {GENERATE_MS} ms generating per task); client polls every {POLL_INTERVAL:?}",
        sim.pid(),
        sim.base_url
    );
    println!(
        "\n| N | path | ok | wall | polls/job | req/s | CPU/job | CPU/request (user+sys) | peak RSS | RSS over idle | per job | job future | threads | fds |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &n in ns {
        for mode in ["client", "floor"] {
            let row = run_client(&sim, n, mode);
            let requests = row.sim_requests.max(1) as f64;
            let grown = row.peak_rss_kib.saturating_sub(row.baseline_rss_kib);
            println!(
                "| {} | {mode} | {} | {:.2} s | {:.2} | {:.0} | {:.0} µs | {:.1} µs ({:.1}+{:.1}) | {:.1} MiB | {:.1} MiB | {:.1} KiB | {} B | {} | {} |",
                row.n,
                row.ok,
                row.wall_s,
                row.polls as f64 / row.n as f64,
                requests / row.wall_s,
                row.cpu_s * 1e6 / row.n as f64,
                row.cpu_s * 1e6 / requests,
                row.user_s * 1e6 / requests,
                row.sys_s * 1e6 / requests,
                row.peak_rss_kib as f64 / 1024.0,
                grown as f64 / 1024.0,
                grown as f64 / row.n as f64,
                row.future_bytes,
                row.max_threads,
                row.max_fds,
            );
            if row.failed > 0 {
                println!(
                    "  {} of {} failed; first error: {}",
                    row.failed,
                    row.n,
                    row.first_error.as_deref().unwrap_or("?")
                );
            }
        }
    }
}

fn run_client(sim: &SimChild, n: u64, mode: &str) -> Row {
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .env("IMAGEGEN_BENCH_ROLE", "client")
        .env("IMAGEGEN_BENCH_N", n.to_string())
        .env("IMAGEGEN_BENCH_MODE", mode)
        .env("IMAGEGEN_BENCH_SIM_URL", &sim.base_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the client process starts");
    let stdout = child.stdout.take().expect("piped");
    let mut row = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("utf-8 output");
        if let Some(json) = line.strip_prefix("ROW ") {
            row = Some(serde_json::from_str(json).expect("a row"));
        } else {
            println!("  client: {line}");
        }
    }
    let status = child.wait().expect("the client ends");
    assert!(status.success(), "client for N={n} failed: {status}");
    row.expect("the client printed its row")
}

fn client_main() {
    let n: u64 = std::env::var("IMAGEGEN_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("IMAGEGEN_BENCH_N");
    let base_url = std::env::var("IMAGEGEN_BENCH_SIM_URL").expect("IMAGEGEN_BENCH_SIM_URL");
    procstat::raise_fd_limit();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let floor = std::env::var("IMAGEGEN_BENCH_MODE").as_deref() == Ok("floor");
    let row = runtime.block_on(run(n, &base_url, floor));
    println!("ROW {}", serde_json::to_string(&row).expect("serializes"));
}

async fn sim_requests(http: &reqwest::Client, base_url: &str) -> u64 {
    let ledger: imagegen_sim::Ledger = http
        .get(format!("{base_url}/_sim/ledger"))
        .send()
        .await
        .expect("ledger")
        .json()
        .await
        .expect("ledger JSON");
    let t = ledger.totals("runbase");
    t.creates_accepted + t.polls + t.errors_sent
}

/// The floor of one job: a bare `reqwest` create and polls at the same
/// interval (same ±10 % spread), each body parsed into a minimal struct.
async fn floor_job(
    http: &reqwest::Client,
    runbase_url: &str,
    request: ImageRequest,
    i: u64,
) -> Result<u32, String> {
    let body =
        serde_json::to_vec(&requests::floor::runbase(&request)).map_err(|e| e.to_string())?;
    let response = http
        .post(format!("{runbase_url}/runs"))
        .bearer_auth(SIM_KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let run: floors::Run =
        serde_json::from_slice(&response.bytes().await.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let url = format!("{runbase_url}/runs/{}", run.id);
    let mut polls = 0;
    loop {
        // A cheap deterministic spread in [1.0, 1.1), like the client's
        // jitter (never below the interval).
        let spread = 1.0 + 0.1 * (((i * 7919 + u64::from(polls) * 104_729) % 1000) as f64 / 1000.0);
        tokio::time::sleep(POLL_INTERVAL.mul_f64(spread)).await;
        polls += 1;
        let response = http
            .get(&url)
            .bearer_auth(SIM_KEY)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let run: floors::Run =
            serde_json::from_slice(&response.bytes().await.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        match run.status.as_str() {
            "succeeded" => return Ok(polls),
            "failed" => return Err(format!("failed: {:?}", run.error)),
            _ => {}
        }
    }
}

async fn run(n: u64, base_url: &str, floor: bool) -> Row {
    let runbase_url = format!("{base_url}/runbase/api/v1");
    let client = Client::builder()
        .provider_arc(providers::runbase(&runbase_url))
        .rate_limit(
            "runbase",
            RateLimit {
                requests: 100_000,
                per: Duration::from_secs(1),
            },
        )
        .poll_policy(
            PollPolicy::default()
                .with_initial_interval(POLL_INTERVAL)
                .with_multiplier(1.0)
                .with_max_interval(POLL_INTERVAL),
        )
        .build()
        .expect("a client");
    let admin = reqwest::Client::new();
    let bare = reqwest::Client::new();

    // Warm up: one job, so lazily built state (TLS config, pools, the
    // runtime's threads) is in the baseline, not in the per-job figures.
    client
        .generate(ImageRequest::new("warm-up lamp").quality(Quality::High))
        .await
        .expect("the warm-up job succeeds");
    floor_job(
        &bare,
        &runbase_url,
        ImageRequest::new("warm-up floor lamp"),
        0,
    )
    .await
    .expect("the warm-up floor job succeeds");
    // How big one job's state machine is before it first runs (the task
    // holds it inline, so this is per-job memory however far it gets).
    let future_bytes = if floor {
        std::mem::size_of_val(&floor_job(&bare, &runbase_url, ImageRequest::new("x"), 0))
    } else {
        std::mem::size_of_val(&client.generate(ImageRequest::new("x")))
    } as u64;
    let requests_before = sim_requests(&admin, base_url).await;
    let baseline_rss_kib = procstat::rss_kib();
    let (user_before, sys_before) = procstat::cpu_times();
    let max_threads = Arc::new(AtomicU64::new(procstat::threads()));
    let max_fds = Arc::new(AtomicU64::new(procstat::open_fds()));
    let sampler = {
        let (threads, fds) = (max_threads.clone(), max_fds.clone());
        tokio::spawn(async move {
            loop {
                threads.fetch_max(procstat::threads(), Ordering::Relaxed);
                fds.fetch_max(procstat::open_fds(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    let started = Instant::now();
    let jobs: Vec<_> = (0..n)
        .map(|i| {
            // Distinct prompts: the simulator counts identical bodies as
            // duplicate creates.
            let request = ImageRequest::new(format!("job {i}: a ceramic lamp on a walnut desk"))
                .quality(Quality::High);
            if floor {
                let bare = bare.clone();
                let url = runbase_url.clone();
                tokio::spawn(async move { floor_job(&bare, &url, request, i).await })
            } else {
                let client = client.clone();
                tokio::spawn(async move {
                    client
                        .generate(request)
                        .await
                        .map(|g| g.polls)
                        .map_err(|e| e.to_string())
                })
            }
        })
        .collect();
    let (mut ok, mut failed, mut polls, mut first_error) = (0, 0, 0u64, None);
    for job in jobs {
        match job.await.expect("the job task does not panic") {
            Ok(job_polls) => {
                ok += 1;
                polls += u64::from(job_polls);
            }
            Err(err) => {
                failed += 1;
                first_error.get_or_insert(err);
            }
        }
    }
    let wall = started.elapsed();
    let (user_after, sys_after) = procstat::cpu_times();
    let (user, sys) = (user_after - user_before, sys_after - sys_before);
    sampler.abort();
    let sim_requests = sim_requests(&admin, base_url).await - requests_before;
    Row {
        n,
        ok,
        failed,
        first_error,
        wall_s: wall.as_secs_f64(),
        polls,
        sim_requests,
        cpu_s: (user + sys).as_secs_f64(),
        user_s: user.as_secs_f64(),
        sys_s: sys.as_secs_f64(),
        baseline_rss_kib,
        peak_rss_kib: procstat::peak_rss_kib(),
        max_threads: max_threads.load(Ordering::Relaxed),
        max_fds: max_fds.load(Ordering::Relaxed),
        future_bytes,
    }
}
