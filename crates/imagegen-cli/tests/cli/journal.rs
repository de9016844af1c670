//! The batch journal under attack: two processes on one folder, a resume
//! that must go back to the endpoint that issued its tasks, a journal it
//! does not understand, and an outage that must not fail jobs for good.

use std::process::Stdio;

use imagegen_sim::{LatencyProfile, SimConfig};

use crate::support::{
    TestSim, edit_journal, free_port, journal_counts, kill_batch_when_settled, pngs, prompts, text,
    wait_for,
};

/// Tasks slow enough that a batch can be caught with tasks in flight.
fn slow_sim() -> TestSim {
    TestSim::start(SimConfig::fast().latency(LatencyProfile::Fixed {
        queue_ms: 100,
        generate_ms: 1500,
    }))
}

/// Starts `imagegen batch prompts.txt --out out` and kills it (SIGKILL)
/// once `tasks` jobs have a task id and none is mid-create.
fn batch_killed_after(sim: &TestSim, dir: &std::path::Path, tasks: i64) {
    let mut cmd = sim.std_cmd(dir);
    cmd.args(["batch", "prompts.txt", "--out", "out", "-j", "4"]);
    kill_batch_when_settled(cmd, dir, tasks);
}

#[test]
fn two_resumes_at_once_one_is_refused_and_nothing_is_paid_twice() {
    let sim = TestSim::start(
        SimConfig::fast().runbase_rate_limit(40, std::time::Duration::from_millis(200)),
    );
    let dir = tempfile::tempdir().unwrap();
    prompts(dir.path(), "prompts.txt", 40);
    batch_killed_after(&sim, dir.path(), 5);

    let mut first = sim.std_cmd(dir.path());
    first
        .args(["resume", "out"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let first = first.spawn().unwrap();
    // The first holds the folder as soon as its journal is open.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let second = sim
        .cmd(dir.path())
        .args(["resume", "out"])
        .output()
        .unwrap();
    let (_, stderr) = text(&second);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("out is in use by imagegen (pid "),
        "{stderr}"
    );
    assert!(stderr.contains(" since "), "{stderr}");

    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first).1);
    assert_eq!(pngs(&dir.path().join("out")).len(), 40);
    let ledger = sim.sim().ledger().totals("runbase");
    assert_eq!((ledger.creates_charged, ledger.duplicate_creates), (40, 0));
}

#[test]
fn a_running_batch_refuses_resume_wait_and_another_batch() {
    let sim = TestSim::start(SimConfig::realistic());
    let dir = tempfile::tempdir().unwrap();
    prompts(dir.path(), "prompts.txt", 3);
    let mut batch = sim.std_cmd(dir.path());
    batch
        .args(["batch", "prompts.txt", "--out", "out"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut batch = batch.spawn().unwrap();
    let journal = dir.path().join("out/imagegen-journal.sqlite");
    assert!(wait_for(&mut batch, || journal_counts(&journal)
        .is_some_and(|(ids, _)| ids > 0)));
    for args in [
        vec!["resume", "out"],
        vec!["wait", "--out", "out", "run_x"],
        vec!["batch", "prompts.txt", "--out", "out"],
    ] {
        let out = sim.cmd(dir.path()).args(&args).output().unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("is in use by imagegen (pid"),
            "{args:?}: {stderr}"
        );
    }
    // Reading it is fine.
    let out = sim.cmd(dir.path()).args(["jobs", "out"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    batch.kill().unwrap();
    let _ = batch.wait();
    assert_eq!(sim.sim().ledger().totals("runbase").duplicate_creates, 0);
}

#[test]
fn resume_goes_back_to_the_endpoint_the_batch_used() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    prompts(dir.path(), "prompts.txt", 20);
    let url = sim.url("runbase");
    // The environment points elsewhere; the batch names its endpoint.
    let dead = format!("http://127.0.0.1:{}/runbase/api/v1", free_port());
    let mut cmd = sim.std_cmd(dir.path());
    cmd.env("RUNBASE_BASE_URL", &dead)
        .args([
            "batch",
            "prompts.txt",
            "--out",
            "out",
            "-j",
            "2",
            "--base-url",
            &url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let journal = dir.path().join("out/imagegen-journal.sqlite");
    assert!(wait_for(&mut child, || journal_counts(&journal)
        .is_some_and(|(ids, _)| ids >= 3)));
    child.kill().unwrap();
    let _ = child.wait();

    // Another --base-url is refused: its tasks only exist at `url`.
    let out = sim
        .cmd(dir.path())
        .env("RUNBASE_BASE_URL", &dead)
        .args(["resume", "out", "--base-url", &dead])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--endpoint-moved"), "{stderr}");

    let out = sim
        .cmd(dir.path())
        .env("RUNBASE_BASE_URL", &dead)
        .args(["resume", "out"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("resuming at the batch's endpoint"),
        "{stderr}"
    );
    assert_eq!(pngs(&dir.path().join("out")).len(), 20);
    let report = jobs_json(&sim, dir.path());
    for job in report["jobs"].as_array().unwrap() {
        assert_eq!(job["endpoint"], url, "{job}");
    }
    let ledger = sim.sim().ledger().totals("runbase");
    assert_eq!((ledger.creates_charged, ledger.duplicate_creates), (20, 0));
}

fn jobs_json(sim: &TestSim, dir: &std::path::Path) -> serde_json::Value {
    let out = sim
        .cmd(dir)
        .args(["jobs", "out", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_journal_it_does_not_understand_is_refused_and_nothing_is_sent() {
    let sim = slow_sim();
    let dir = tempfile::tempdir().unwrap();
    prompts(dir.path(), "prompts.txt", 6);
    batch_killed_after(&sim, dir.path(), 2);
    let out_dir = dir.path().join("out");
    let before = sim.sim().ledger().totals("runbase");

    edit_journal(
        &out_dir,
        "UPDATE jobs SET state = 'weird' WHERE task_id IS NOT NULL",
    );
    let out = sim
        .cmd(dir.path())
        .args(["resume", "out"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("state `weird`"), "{stderr}");

    edit_journal(
        &out_dir,
        "UPDATE jobs SET state = 'submitted' WHERE state = 'weird';
         UPDATE meta SET value = '99' WHERE key = 'schema_version';",
    );
    let out = sim
        .cmd(dir.path())
        .args(["resume", "out"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("schema version 99"), "{stderr}");

    // Rows lost (a -wal file gone): fewer jobs than the batch recorded.
    edit_journal(
        &out_dir,
        "UPDATE meta SET value = '2' WHERE key = 'schema_version';
         DELETE FROM events WHERE job_id > 3; DELETE FROM outputs WHERE job_id > 3;
         DELETE FROM jobs WHERE id > 3;",
    );
    let out = sim
        .cmd(dir.path())
        .args(["resume", "out"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cut short"), "{stderr}");

    let after = sim.sim().ledger().totals("runbase");
    assert_eq!(before.creates_accepted, after.creates_accepted);
}

#[test]
fn a_job_with_a_task_id_is_polled_never_resent_whatever_its_state() {
    let sim = slow_sim();
    let dir = tempfile::tempdir().unwrap();
    prompts(dir.path(), "prompts.txt", 6);
    batch_killed_after(&sim, dir.path(), 3);
    edit_journal(
        &dir.path().join("out"),
        "UPDATE jobs SET state = 'pending' WHERE task_id IS NOT NULL",
    );
    let out = sim
        .cmd(dir.path())
        .args(["resume", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(pngs(&dir.path().join("out")).len(), 6);
    let ledger = sim.sim().ledger().totals("runbase");
    assert_eq!((ledger.creates_charged, ledger.duplicate_creates), (6, 0));
}

#[test]
fn a_batch_killed_while_reading_its_file_is_refused_not_done() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = sim.std_cmd(dir.path());
    cmd.args(["batch", "-", "--out", "out"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().unwrap();
        for i in 0..6000 {
            writeln!(stdin, "a lamp number {i}").unwrap();
        }
        stdin.flush().unwrap();
    }
    // The first chunk is recorded; the file is still being read.
    let journal = dir.path().join("out/imagegen-journal.sqlite");
    let recorded = || {
        rusqlite::Connection::open_with_flags(&journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| c.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get::<_, i64>(0)))
            .is_ok_and(|n| n > 0)
    };
    assert!(wait_for(&mut child, recorded));
    child.kill().unwrap();
    let _ = child.wait();

    let out = sim
        .cmd(dir.path())
        .args(["resume", "out"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cut short"), "{stderr}");
    assert_eq!(sim.sim().ledger().totals("runbase").creates_accepted, 0);
}

#[test]
fn an_outage_leaves_jobs_retryable_and_resume_finishes_them_when_the_host_is_back() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/runbase/api/v1");
    let dir = tempfile::tempdir().unwrap();
    prompts(dir.path(), "prompts.txt", 5);
    let out = crate::support::imagegen(dir.path())
        .env("RUNBASE_API_KEY", imagegen_sim::DEFAULT_API_KEY)
        .env("IMAGEGEN_RATE_LIMIT", "1000/1s")
        .args(["batch", "prompts.txt", "--out", "out", "--base-url", &url])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("retryable 5"), "{stderr}");
    assert!(stderr.contains("nothing was charged"), "{stderr}");

    // The host comes back where it was.
    let sim = TestSim::start(SimConfig::fast().port(port));
    assert_eq!(sim.url("runbase"), url);
    let out = sim
        .cmd(dir.path())
        .args(["resume", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(pngs(&dir.path().join("out")).len(), 5);
    assert_eq!(sim.sim().ledger().totals("runbase").creates_charged, 5);
}

#[test]
fn failed_creates_are_retried_only_on_request() {
    let sim = TestSim::start(SimConfig::fast().credits(2));
    let dir = tempfile::tempdir().unwrap();
    prompts(dir.path(), "prompts.txt", 3);
    let out = sim
        .cmd(dir.path())
        .args(["batch", "prompts.txt", "--out", "out", "-j", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out).1);
    let out = sim
        .cmd(dir.path())
        .args(["resume", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out).1);
    assert_eq!(pngs(&dir.path().join("out")).len(), 2);
    // Topped up (a fresh account on the same host): --retry-failed sends it.
    sim.sim().reset();
    let out = sim
        .cmd(dir.path())
        .args(["resume", "out", "--retry-failed"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(pngs(&dir.path().join("out")).len(), 3);
}
