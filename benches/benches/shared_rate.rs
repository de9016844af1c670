//! The shared rate budget: what one take costs, and whether four processes
//! on one key keep its limit and still use all of it.
//!
//! Needs a PostgreSQL server it may create a database on, named by
//! `IMAGEGEN_TEST_DATABASE_URL` (the tests' variable). It creates a fresh
//! database, uses only that one, and drops it at the end:
//!
//! ```sh
//! eval "$(cargo xtask db start)"
//! cargo bench -p imagegen-benches --bench shared_rate
//! cargo xtask db stop
//! ```
//!
//! **Takes**: the round trip of one `PgRate::take` (granted: accounts of
//! cap 20 filling up, as a busy key's log is; denied: a full account),
//! against the floor (`SELECT 1` on a connection of its own) and against
//! the design not chosen, a transaction holding an advisory lock around a
//! read and a write of the same log. `IMAGEGEN_BENCH_QUICK=1`: 500 of each,
//! else 3,000.
//!
//! **Saturated key**: `IMAGEGEN_BENCH_BATCH_JOBS` jobs (default 200, quick
//! 100) of `generate` on one simulated Runbase key (20 requests per 10 s),
//! with the simulator's realistic durations, **every time divided by
//! `IMAGEGEN_BENCH_LATENCY_SCALE`** (default 5), run by:
//!
//! * four clients sharing the budget through PostgreSQL, each on its own
//!   thread and runtime, with its own `Budgets` and its own `PgRate`
//!   connections: nothing shared in memory, as four processes;
//! * one client on the in-process budget alone (today's default);
//! * one client on the shared budget (what sharing costs one process).
//!
//! Each client has a quarter of the jobs (or all of them), all submitted at
//! once: every client alone could saturate the key. The simulator's ledger
//! is sampled every millisecond; "most in a window" is the most requests it
//! counted between two samples less than one window apart. The physical
//! minimum: each job needs a create and a poll, 20 requests per window, so
//! `2N` requests cannot end before `ceil(2N / 20) - 1` windows; the
//! budget's 5 % margin on each window makes 1.05x the best a client that
//! never risks a 429 can do. Figures are real-time (scaled back up).
//!
//! Not run by `cargo test`: without `--bench` it prints a note and exits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use imagegen::shared_rate::{Grant, SharedRate};
use imagegen::{ImageRequest, Quality, RateBudget, RateLimit};
use imagegen_benches::interleave::median;
use imagegen_benches::pg::{BenchDatabase, URL_VAR, admin_url_or_exit, connect};
use imagegen_benches::scaled::ScaledSim;
use imagegen_jobs::PgRate;
const PER: Duration = Duration::from_secs(10);
const CAP: u32 = 20;
const WINDOW: Duration = Duration::from_millis(10_500);

fn env_number(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Microseconds of each call of `op`, `n` times.
async fn timed<F: AsyncFnMut()>(n: usize, mut op: F) -> Vec<f64> {
    let mut micros = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        op().await;
        micros.push(start.elapsed().as_secs_f64() * 1e6);
    }
    micros
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

async fn takes(url: &str, n: usize) {
    let rate = PgRate::connect(url).await.expect("PgRate connects");
    let floor = connect(url).await;
    let mut advisory = connect(url).await;
    advisory
        .batch_execute(
            "CREATE TABLE bench_advisory (account text PRIMARY KEY, starts timestamptz[] NOT NULL)",
        )
        .await
        .expect("scratch table");
    let select_1 = floor.prepare("SELECT 1").await.expect("prepare");
    let accounts = (n / CAP as usize).max(1);
    // Warm up: connections opened, statements prepared.
    for i in 0..50 {
        let _ = rate.take(&format!("warm:{i}"), CAP, WINDOW).await;
        floor.query_one(&select_1, &[]).await.expect("SELECT 1");
    }

    let floor_times = timed(n, async || {
        floor.query_one(&select_1, &[]).await.expect("SELECT 1");
    })
    .await;
    let mut i = 0;
    let granted_times = timed(accounts * CAP as usize, async || {
        let grant = rate
            .take(&format!("granted:{}", i % accounts), CAP, WINDOW)
            .await
            .expect("take");
        assert_eq!(grant, Grant::Granted);
        i += 1;
    })
    .await;
    let denied_times = timed(n, async || {
        let grant = rate.take("granted:0", CAP, WINDOW).await.expect("take");
        assert!(matches!(grant, Grant::Full { .. }));
    })
    .await;
    let mut j = 0;
    let advisory_times = timed(accounts * CAP as usize, async || {
        let account = format!("granted:{}", j % accounts);
        j += 1;
        let tx = advisory.transaction().await.expect("begin");
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&account])
            .await
            .expect("lock");
        let held: i64 = tx
            .query_opt(
                "SELECT count(*) FROM bench_advisory, unnest(starts) s
                 WHERE account = $1 AND s > clock_timestamp() - interval '10.5 s'",
                &[&account],
            )
            .await
            .expect("read")
            .map_or(0, |row| row.get(0));
        if held < i64::from(CAP) {
            tx.execute(
                "INSERT INTO bench_advisory AS b VALUES ($1, ARRAY[clock_timestamp()])
                 ON CONFLICT (account) DO UPDATE SET starts = array_append(ARRAY(
                     SELECT s FROM unnest(b.starts) s WHERE s > clock_timestamp() - interval '10.5 s'),
                     clock_timestamp())",
                &[&account],
            )
            .await
            .expect("write");
        }
        tx.commit().await.expect("commit");
    })
    .await;
    let local = RateBudget::new(RateLimit {
        requests: u32::MAX,
        per: PER,
    });
    let local_times = timed(n, async || {
        assert!(local.try_acquire());
    })
    .await;

    println!(
        "\nOne take ({n} calls; granted and advisory: {accounts} accounts of cap {CAP} filled):\n"
    );
    println!("| path | round trips | mean | p95 | p99 | mean / floor |");
    println!("|---|---:|---:|---:|---:|---:|");
    let floor_mean = mean(&floor_times);
    for (name, trips, times) in [
        ("`PgRate::take`, granted", "1", &granted_times),
        ("`PgRate::take`, window full", "1", &denied_times),
        (
            "advisory lock + read + write in a transaction (not chosen)",
            "5",
            &advisory_times,
        ),
        ("floor: `SELECT 1`", "1", &floor_times),
        ("in-process `RateBudget::try_acquire`", "0", &local_times),
    ] {
        println!(
            "| {name} | {trips} | {:.0} µs | {:.0} µs | {:.0} µs | {:.2}x |",
            mean(times),
            quantile(times, 0.95),
            quantile(times, 0.99),
            mean(times) / floor_mean
        );
    }
}

/// What one saturated run measured (real-time seconds).
#[derive(Debug, Clone, Copy)]
struct Run {
    total: f64,
    first: f64,
    requests: u64,
    rate_limited: u64,
    most_in_window: u64,
}

/// Requests the simulator counted on Runbase so far, and its 429s.
fn counted(sim: &ScaledSim) -> (u64, u64) {
    let t = sim.sim.ledger().totals("runbase");
    (t.creates_accepted + t.polls + t.errors_sent, t.rate_limited)
}

/// `jobs` generations split over `clients` clients, each on its own thread
/// and runtime; `shared` is the database to share the budget through.
fn saturate(sim: &ScaledSim, clients: usize, jobs: usize, shared: Option<&str>) -> Run {
    let (before, limited_before) = counted(sim);
    let window = sim.scaled(PER);
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let barrier = Arc::new(Barrier::new(clients + 1));
    std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let (count, _) = counted(sim);
                samples.lock().unwrap().push((Instant::now(), count));
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let mut workers = Vec::new();
        for c in 0..clients {
            let builder = sim.client_builder("runbase", sim.default_policy("runbase"));
            let barrier = barrier.clone();
            let share = jobs / clients + usize::from(c < jobs % clients);
            workers.push(scope.spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("client runtime");
                runtime.block_on(async move {
                    let builder = match shared {
                        Some(url) => {
                            let rate = PgRate::connect(url).await.expect("PgRate connects");
                            builder.shared_rate(Arc::new(rate))
                        }
                        None => builder,
                    };
                    let client = builder.build().expect("client");
                    barrier.wait();
                    let runs = (0..share).map(|i| {
                        let client = client.clone();
                        async move {
                            let request =
                                ImageRequest::new(format!("a ceramic lamp, client {c} job {i}"))
                                    .quality(Quality::Medium);
                            client.generate(request).await.expect("generated");
                            Instant::now()
                        }
                    });
                    join_all(runs).await
                })
            }));
        }
        barrier.wait();
        let t0 = Instant::now();
        let ends: Vec<Instant> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("client thread"))
            .collect();
        stop.store(true, Ordering::Relaxed);
        sampler.join().expect("sampler");
        let (after, limited_after) = counted(sim);
        let since = |t: &Instant| t.duration_since(t0).as_secs_f64() * sim.scale;
        let samples = samples.lock().unwrap();
        let mut most = 0;
        let mut j = 0;
        for (i, (at, count)) in samples.iter().enumerate() {
            j = j.max(i);
            while j + 1 < samples.len() && samples[j + 1].0.duration_since(*at) < window {
                j += 1;
            }
            most = most.max(samples[j].1 - count);
        }
        Run {
            total: ends.iter().map(since).fold(0.0, f64::max),
            first: ends.iter().map(since).fold(f64::MAX, f64::min),
            requests: after - before,
            rate_limited: limited_after - limited_before,
            most_in_window: most,
        }
    })
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "shared_rate: a benchmark; run it with `cargo bench -p imagegen-benches --bench shared_rate` ({URL_VAR} set)"
        );
        return;
    }
    let admin = admin_url_or_exit("shared_rate");
    let quick = imagegen_benches::quick();
    let scale = env_number("IMAGEGEN_BENCH_LATENCY_SCALE", 5.0).max(1.0);
    let rounds = env_number("IMAGEGEN_BENCH_ROUNDS", if quick { 1.0 } else { 3.0 }) as usize;
    let jobs = env_number(
        "IMAGEGEN_BENCH_BATCH_JOBS",
        if quick { 100.0 } else { 200.0 },
    ) as usize;
    let only = std::env::var("IMAGEGEN_BENCH_PART").unwrap_or_default();

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let database = runtime.block_on(BenchDatabase::create(&admin));
    let url = database.url.clone();

    if only.is_empty() || only == "takes" {
        runtime.block_on(takes(&url, if quick { 500 } else { 3_000 }));
    }

    if only.is_empty() || only == "batch" {
        let sim = ScaledSim::start(scale);
        let windows = ((2 * jobs) as f64 / f64::from(CAP)).ceil() - 1.0;
        let minimum = windows * PER.as_secs_f64();
        println!(
            "\n{jobs} jobs on one Runbase key (20 requests per 10 s; times divided by {scale}, shown in real time); physical minimum {minimum:.0} s; {rounds} round(s), medians:\n"
        );
        println!(
            "| clients | budget | first image | total | total / minimum | requests | most in a window | 429s |"
        );
        println!("|---|---|---:|---:|---:|---:|---:|---:|");
        let setups: [(usize, Option<&str>, &str); 3] = [
            (4, Some(&url), "shared (PostgreSQL)"),
            (1, None, "in-process"),
            (1, Some(&url), "shared (PostgreSQL)"),
        ];
        let mut runs: Vec<Vec<Run>> = vec![Vec::new(); setups.len()];
        for _ in 0..rounds {
            for (i, (clients, shared, _)) in setups.iter().enumerate() {
                runs[i].push(saturate(&sim, *clients, jobs, *shared));
                // Let the windows (the simulator's, the database's) clear.
                std::thread::sleep(sim.scaled(WINDOW) + sim.scaled(WINDOW) / 10);
            }
        }
        for ((clients, _, budget), runs) in setups.iter().zip(runs) {
            let med = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
            let total = med(|r| r.total);
            let most = runs.iter().map(|r| r.most_in_window).max().unwrap_or(0);
            let limited: u64 = runs.iter().map(|r| r.rate_limited).sum();
            println!(
                "| {clients} | {budget} | {:.1} s | {total:.1} s | {:.3}x | {:.0} | {most} | {limited} |",
                med(|r| r.first),
                total / minimum,
                med(|r| r.requests as f64),
            );
        }
    }

    runtime.block_on(database.drop_database());
}
