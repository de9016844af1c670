//! THE crash test: a faulty provider, the CLI killed with SIGKILL mid-batch,
//! then `resume --retry-ambiguous`: every image on disk, nothing paid twice.

use std::process::Stdio;
use std::time::Duration;

use imagegen_sim::{FaultConfig, SimConfig};

use crate::support::{TestSim, journal_counts, pngs, signal, text};

#[test]
fn killed_batch_resumes_with_every_image_and_nothing_paid_twice() {
    // Faults on every request kind except those that lose an accepted create
    // (drop-after-accept, and `malformed_json`, which the sim also applies to
    // create answers): with those, `--retry-ambiguous` would pay twice by
    // design. Garbled poll answers (`malformed_status_json`) are in: a poll
    // is sent again, so they must cost nothing.
    let faults = FaultConfig {
        create_500: 0.05,
        status_500: 0.05,
        burst_429: 0.02,
        burst_len: 3,
        drop_before_accept: 0.05,
        malformed_status_json: 0.05,
        unknown_status: 0.1,
        ..FaultConfig::default()
    };
    let sim = TestSim::start(
        SimConfig::fast()
            .faults(faults)
            .runbase_rate_limit(40, Duration::from_millis(200)),
    );
    let dir = tempfile::tempdir().unwrap();
    let prompts: String = (1..=200)
        .map(|i| format!("prompt {i}: a ceramic lamp, variation {i}\n"))
        .collect();
    std::fs::write(dir.path().join("prompts.txt"), prompts).unwrap();
    let out_dir = dir.path().join("out");
    let journal = out_dir.join("imagegen-journal.sqlite");

    let mut cmd = sim.std_cmd(dir.path());
    cmd.env("IMAGEGEN_RATE_LIMIT", "40/200ms")
        .args(["batch", "prompts.txt", "--out", "out", "--concurrency", "8"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("batch.log")).unwrap());
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();

    // Kill once ~60 jobs have task ids, at a moment when no create is in
    // flight with its task id unrecorded (else the kill could land after the
    // provider accepted a create and before the journal heard of it: such a
    // job is rightly ambiguous, and resubmitting it would pay twice).
    let mut killed = false;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if let Some((with_id, _)) = journal_counts(&journal)
            && with_id >= 60
        {
            signal(pid, "-STOP");
            let (with_id, submitting) = journal_counts(&journal).unwrap_or((0, 1));
            if submitting == 0 {
                child.kill().unwrap(); // SIGKILL
                killed = true;
                let _ = with_id;
                break;
            }
            signal(pid, "-CONT");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("batch.log")).unwrap_or_default();
    assert!(
        killed,
        "the batch finished before it could be killed:\n{log}"
    );
    let done_before = pngs(&out_dir).len();
    assert!(done_before < 200, "{done_before} images before the resume");

    // A resume can meet new faults; one whose retries all fail leaves its job
    // ambiguous (exit 8) and a user would run it again, as this does.
    let mut stderr = String::new();
    let mut code = None;
    for _ in 0..3 {
        let out = sim
            .cmd(dir.path())
            .env("IMAGEGEN_RATE_LIMIT", "40/200ms")
            .args(["resume", "out", "--retry-ambiguous"])
            .output()
            .unwrap();
        stderr = text(&out).1;
        code = out.status.code();
        if code == Some(0) {
            break;
        }
    }
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(pngs(&out_dir).len(), 200, "{stderr}");

    let ledger = sim.sim().ledger().totals("runbase");
    assert_eq!(ledger.duplicate_creates, 0, "{ledger:?}");
    assert_eq!(ledger.creates_charged, 200, "{ledger:?}");
}
