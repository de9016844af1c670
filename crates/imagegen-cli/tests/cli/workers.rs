//! Many workers on one PostgreSQL job store, over real HTTP against the
//! simulator: `imagegen worker` processes killed mid-run, an application
//! enqueueing through the library, and the usage errors of `--store`.
//!
//! The database tests need `IMAGEGEN_TEST_DATABASE_URL` (`cargo xtask test`,
//! or `eval "$(cargo xtask db start)"`): without it they fail, never skip.
//! Each creates its own database and drops it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use imagegen_core::{ImageRequest, Strictness};
use imagegen_jobs::{JobState, NewJob, PgStore};
use imagegen_sim::{FaultConfig, SimConfig};
use imagegen_test_support::postgres::TestDatabase;

use crate::support::{TestSim, fails, imagegen, pngs, prompts, signal, text};

/// Hang protection only: every wait below ends as soon as its condition
/// holds; this bounds a run that would otherwise never end.
const HANG: Duration = Duration::from_secs(600);

/// SQL against the test database from a sync test.
struct Sql {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Sql {
    fn connect(db: &TestDatabase) -> Sql {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (client, connection) = rt
            .block_on(tokio_postgres::connect(db.url(), tokio_postgres::NoTls))
            .unwrap();
        rt.spawn(connection);
        Sql { rt, client }
    }

    fn rows(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        // Before the first worker migrates, the schema does not exist yet.
        self.rt
            .block_on(self.client.query(sql, &[]))
            .unwrap_or_default()
    }

    fn count(&self, sql: &str) -> i64 {
        self.rows(sql).first().map_or(0, |r| r.get(0))
    }
}

/// Starts `imagegen worker` on `queue`, its stderr in `dir/NAME.log`.
fn worker(
    sim: &TestSim,
    dir: &Path,
    db: &TestDatabase,
    queue: &str,
    name: &str,
    extra: &[&str],
) -> Child {
    let mut cmd = sim.std_cmd(dir);
    cmd.env("IMAGEGEN_STORE", db.url())
        .env("IMAGEGEN_STORE_LEASE", "3s")
        .args(["worker", "--queue", queue, "--out", "out"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).unwrap());
    cmd.spawn().unwrap()
}

/// Waits for `child` to exit; its exit code (`None`: killed by a signal).
fn exit_of(child: &mut Child, dir: &Path, name: &str) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            panic!("{name} never ended:\n{}", log(dir, name));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
}

/// Waits until `ready` says yes.
fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < HANG, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `claimed_by` names a handle `host/pid/random`.
fn held_by(pid: u32) -> String {
    format!(
        "claimed_by LIKE '%/{pid}/%' AND lease_until IS NOT NULL AND state NOT IN ('done', 'invalid')"
    )
}

#[test]
fn three_workers_one_killed_mid_run_finish_300_images_and_pay_nothing_twice() {
    // Faults on every request kind but those that lose an accepted create
    // (see `crash.rs`) and 429 bursts: every 429 the simulator sends here
    // comes from pacing.
    let faults = FaultConfig {
        create_500: 0.03,
        status_500: 0.05,
        drop_before_accept: 0.03,
        malformed_status_json: 0.05,
        unknown_status: 0.1,
        ..FaultConfig::default()
    };
    // Runbase's limit, 20 requests a window, in a window ten times shorter.
    let sim = TestSim::start(
        SimConfig::fast()
            .faults(faults)
            .runbase_rate_limit(20, Duration::from_secs(1)),
    );
    let db = TestDatabase::create();
    let sql = Sql::connect(&db);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    prompts(dir, "prompts.txt", 300);

    let out = sim
        .cmd(dir)
        .env("IMAGEGEN_STORE", db.url())
        .args([
            "batch",
            "prompts.txt",
            "--queue",
            "faults",
            "--enqueue-only",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(
        sql.count("SELECT count(*) FROM imagegen.jobs WHERE state = 'pending'"),
        300
    );

    // Every worker is told the key's whole limit and could use all of it
    // alone: only the budget they share through the store keeps the key
    // within its limit (no 429, below).
    let pace = ["--concurrency", "8"];
    let per_worker = [("IMAGEGEN_RATE_LIMIT", "20/1s")];
    let start = |name: &str| {
        let mut cmd = sim.std_cmd(dir);
        cmd.envs(per_worker)
            .env("IMAGEGEN_STORE", db.url())
            .env("IMAGEGEN_STORE_LEASE", "3s")
            .args(["worker", "--queue", "faults", "--out", "out"])
            .args(pace)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).unwrap());
        cmd.spawn().unwrap()
    };
    let mut doomed = start("doomed");
    let mut others = vec![("second", start("second")), ("third", start("third"))];

    // Kill the doomed worker once it holds tasks in flight (accepted, being
    // polled), at a moment when none of its creates is on the wire: a
    // create cut off mid-send is ambiguous by design, which the next test
    // shows.
    let pid = doomed.id();
    let held = held_by(pid);
    let mut in_flight: BTreeMap<i64, String> = BTreeMap::new();
    until("the doomed worker holds tasks in flight", || {
        let polling =
            format!("SELECT count(*) FROM imagegen.jobs WHERE {held} AND state = 'submitted'");
        if sql.count(&polling) < 2 {
            return false;
        }
        signal(pid, "-STOP");
        let sending = sql.count(&format!(
            "SELECT count(*) FROM imagegen.jobs WHERE {held} AND state = 'submitting'"
        ));
        if sending > 0 {
            signal(pid, "-CONT");
            return false;
        }
        in_flight = sql
            .rows(&format!(
                "SELECT id, task_id FROM imagegen.jobs WHERE {held} AND task_id IS NOT NULL"
            ))
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        true
    });
    let dead_name: String = sql.rows(&format!(
        "SELECT claimed_by FROM imagegen.jobs WHERE {held} LIMIT 1"
    ))[0]
        .get(0);
    doomed.kill().unwrap(); // SIGKILL
    let _ = doomed.wait();
    assert!(!in_flight.is_empty());
    // One window later, so three live workers' requests never share one
    // with the dead worker's last ones.
    std::thread::sleep(Duration::from_millis(1100));
    others.push(("replacement", start("replacement")));

    for (name, child) in &mut others {
        let code = exit_of(child, dir, name);
        // 0, or 8 when a create answered 500 (possibly accepted) is left
        // ambiguous; a worker never resends it.
        assert!(
            matches!(code, Some(0 | 8)),
            "{name}: {code:?}\n{}",
            log(dir, name)
        );
    }
    // Creates that answered 500 were recorded as ambiguous; the simulator
    // charged nothing for them, so the user sends them again, as they would.
    let mut last = String::new();
    for _ in 0..3 {
        if sql.count("SELECT count(*) FROM imagegen.jobs WHERE state <> 'done'") == 0 {
            break;
        }
        let out = sim
            .cmd(dir)
            .envs(per_worker)
            .env("IMAGEGEN_STORE", db.url())
            .args(["resume", "out", "--queue", "faults", "--retry-ambiguous"])
            .output()
            .unwrap();
        last = text(&out).1;
    }
    assert_eq!(
        sql.count("SELECT count(*) FROM imagegen.jobs WHERE state = 'done'"),
        300,
        "{last}"
    );
    assert_eq!(pngs(&dir.join("out")).len(), 300);

    // Every task in flight on the dead worker was finished by another
    // worker, polled at the task id it had, never created again.
    for (id, task_id) in &in_flight {
        let row = &sql.rows(&format!(
            "SELECT state, task_id, claimed_by, attempts FROM imagegen.jobs WHERE id = {id}"
        ))[0];
        assert_eq!(row.get::<_, String>(0), "done", "job {id}");
        assert_eq!(
            row.get::<_, Option<String>>(1).as_ref(),
            Some(task_id),
            "job {id}"
        );
        assert_ne!(row.get::<_, String>(2), dead_name, "job {id}");
        assert_eq!(row.get::<_, i64>(3), 1, "job {id} was sent once");
    }

    let ledger = sim.sim().ledger().totals("runbase");
    assert_eq!(ledger.duplicate_creates, 0, "{ledger:?}");
    assert_eq!(ledger.creates_charged, 300, "{ledger:?}");
    assert_eq!(ledger.rate_limited, 0, "429s from pacing: {ledger:?}");
}

#[test]
fn a_worker_killed_mid_create_leaves_its_job_ambiguous_and_no_worker_sends_it_again() {
    // Every answer is held 3 s after the simulator acted on it: a create is
    // accepted and charged, and its answer is still on the way when the
    // worker is killed.
    let faults = FaultConfig {
        slow_response: 1.0,
        slow_response_delay_ms: 3000,
        ..FaultConfig::default()
    };
    let sim = TestSim::start(SimConfig::fast().faults(faults));
    let db = TestDatabase::create();
    let sql = Sql::connect(&db);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    prompts(dir, "prompts.txt", 3);
    let out = sim
        .cmd(dir)
        .args([
            "batch",
            "prompts.txt",
            "--store",
            db.url(),
            "--queue",
            "slow",
        ])
        .arg("--enqueue-only")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);

    let mut doomed = worker(&sim, dir, &db, "slow", "doomed", &["--concurrency", "1"]);
    let held = held_by(doomed.id());
    // Recorded as submitting is not enough: the create may still be on its
    // way (the rate budget's round trip to the database comes first). The
    // simulator must have accepted it, its answer held back.
    until(
        "the worker's create is accepted, its answer on the way",
        || {
            sql.count(&format!(
                "SELECT count(*) FROM imagegen.jobs WHERE {held} AND state = 'submitting'"
            )) == 1
                && sim.sim().ledger().totals("runbase").creates_accepted == 1
        },
    );
    let cut_off: i64 = sql.rows(&format!(
        "SELECT id FROM imagegen.jobs WHERE {held} AND state = 'submitting'"
    ))[0]
        .get(0);
    doomed.kill().unwrap();
    let _ = doomed.wait();

    let mut next = worker(&sim, dir, &db, "slow", "next", &[]);
    let code = exit_of(&mut next, dir, "next");
    assert_eq!(
        code,
        Some(8),
        "ambiguous creates exit 8:\n{}",
        log(dir, "next")
    );

    let row = &sql.rows(&format!(
        "SELECT state, task_id, attempts FROM imagegen.jobs WHERE id = {cut_off}"
    ))[0];
    assert_eq!(row.get::<_, String>(0), "ambiguous");
    assert_eq!(row.get::<_, Option<String>>(1), None);
    assert_eq!(row.get::<_, i64>(2), 1, "sent once, by the dead worker");
    assert_eq!(
        sql.count("SELECT count(*) FROM imagegen.jobs WHERE state = 'done'"),
        2
    );
    let ledger = sim.sim().ledger().totals("runbase");
    assert_eq!(ledger.creates_accepted, 3, "{ledger:?}");
    assert_eq!(ledger.duplicate_creates, 0, "{ledger:?}");

    // `jobs --store` names it among the ambiguous ones.
    let out = imagegen(dir)
        .args(["jobs", "--store", db.url(), "--queue", "slow"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("ambiguous   1"), "{stdout}");
    assert!(stdout.contains(&format!("job {cut_off:<5}")), "{stdout}");
}

#[test]
fn an_app_enqueues_100_generations_through_the_library_and_two_following_workers_do_them() {
    let sim = TestSim::start(SimConfig::fast().runbase_rate_limit(1000, Duration::from_secs(1)));
    let db = TestDatabase::create();
    let sql = Sql::connect(&db);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut workers = vec![
        (
            "first",
            worker(&sim, dir, &db, "app", "first", &["--follow"]),
        ),
        (
            "second",
            worker(&sim, dir, &db, "app", "second", &["--follow"]),
        ),
    ];
    until("both workers listen on the queue", || {
        sql.count("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'") >= 2
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let done = rt.block_on(async {
        let app = PgStore::connect(db.url(), "app").await.unwrap();
        let mut ids = Vec::new();
        for i in 1..=100 {
            let request = ImageRequest::new(format!("app prompt {i}: a ceramic lamp"));
            let job = NewJob::for_request(&request, &["runbase"], Strictness::Strict);
            ids.push(app.enqueue(&job).await.unwrap());
        }
        let mut done = Vec::new();
        for id in ids {
            done.push(app.wait_settled(id, HANG).await.unwrap());
        }
        done
    });
    let this_host = gethostname::gethostname().to_string_lossy().into_owned();
    for job in &done {
        assert_eq!(job.state, JobState::Done, "job {}: {:?}", job.id, job.error);
        assert_eq!(job.outputs.len(), 1, "job {}", job.id);
        let output = &job.outputs[0];
        assert!(Path::new(&output.path).is_file(), "{}", output.path);
        assert!(output.path.starts_with(&*dir.join("out").to_string_lossy()));
        assert_eq!(output.host.as_deref(), Some(this_host.as_str()));
    }
    let by_worker =
        sql.count("SELECT count(DISTINCT claimed_by) FROM imagegen.jobs WHERE state = 'done'");
    assert!(by_worker >= 1, "{by_worker}");

    // Ctrl-C: each worker gives back what it holds and stops.
    for (name, child) in &mut workers {
        signal(child.id(), "-INT");
        exit_of(child, dir, name);
    }
    assert_eq!(
        sql.count("SELECT count(*) FROM imagegen.jobs WHERE lease_until IS NOT NULL"),
        0
    );
    let ledger = sim.sim().ledger().totals("runbase");
    assert_eq!(ledger.creates_charged, 100, "{ledger:?}");
    assert_eq!(ledger.duplicate_creates, 0, "{ledger:?}");
}

#[test]
fn a_store_that_is_not_postgresql_is_a_usage_error_that_hides_the_password() {
    let dir = tempfile::tempdir().unwrap();
    prompts(dir.path(), "prompts.txt", 2);
    let (code, err) = fails(imagegen(dir.path()).args([
        "batch",
        "prompts.txt",
        "--store",
        "mysql://me:s3cret@db/images",
    ]));
    assert_eq!(code, 2);
    assert!(!err.contains("s3cret"), "{err}");
    insta::assert_snapshot!("error_store_not_postgres", err);
    // From the environment too.
    let (code, _) = fails(
        imagegen(dir.path())
            .env("IMAGEGEN_STORE", "sqlite://x")
            .args(["jobs"]),
    );
    assert_eq!(code, 2);
    assert!(!dir.path().join("images").exists(), "nothing was written");
}

#[test]
fn a_worker_without_a_store_and_enqueue_only_without_one_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = fails(imagegen(dir.path()).args(["worker"]));
    assert_eq!(code, 2);
    insta::assert_snapshot!("error_worker_without_store", err);

    prompts(dir.path(), "prompts.txt", 2);
    let (code, err) = fails(imagegen(dir.path()).args(["batch", "prompts.txt", "--enqueue-only"]));
    assert_eq!(code, 2);
    insta::assert_snapshot!("error_enqueue_only_without_store", err);
    assert!(!dir.path().join("images").exists(), "no journal was made");
}
