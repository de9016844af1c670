//! `batch`, `jobs` and `resume` against the simulator.

use crate::support::{TestSim, pngs, text};

#[test]
fn text_batch_with_a_bad_line_fails_that_line_only() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prompts.txt"),
        "# five lamps\nA red lamp\nA blue lamp\n\n{\"prompt\": \"A green lamp\", \"aspect\": \"4:3\"}\nA white lamp\n{\"prompt\": \"A black lamp\", \"name\": \"black\", \"n\": 2}\n",
    )
    .unwrap();
    let out = sim
        .cmd(dir.path())
        .args(["batch", "prompts.txt", "--out", "out", "--json"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("line 5: `aspect`: unknown aspect `4:3`"),
        "{stderr}"
    );
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    for line in stdout.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(r["job"].is_i64());
    }
    let files = pngs(&dir.path().join("out"));
    assert_eq!(files.len(), 5);
    // Named after the job and the line's `name`, one file per copy.
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("00005-black-")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("00006-black-")),
        "{names:?}"
    );

    let out = sim
        .cmd(dir.path())
        .args(["jobs", "out", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(report["summary"]["by_state"]["done"], 5);
    assert_eq!(report["summary"]["by_state"]["invalid"], 1);
    assert_eq!(report["summary"]["images"], 5);

    let out = sim.cmd(dir.path()).args(["jobs", "out"]).output().unwrap();
    let (stdout, _) = text(&out);
    assert!(stdout.contains("invalid     1"), "{stdout}");
    assert!(
        stdout.contains("line 5: `aspect`: unknown aspect"),
        "{stdout}"
    );

    // A finished batch resumes to nothing new: no create, no download.
    let before = sim.sim().ledger().totals("runbase");
    let out = sim
        .cmd(dir.path())
        .args(["resume", "out"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}"); // the invalid line stays failed
    let after = sim.sim().ledger().totals("runbase");
    assert_eq!(before.creates_accepted, after.creates_accepted);
    assert_eq!(before.polls, after.polls);
    assert_eq!(pngs(&dir.path().join("out")).len(), 5);

    // The same folder can't start a second batch.
    let out = sim
        .cmd(dir.path())
        .args(["batch", "prompts.txt", "--out", "out"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("imagegen resume out"));
}

#[test]
fn jsonl_overrides_providers_and_falls_back() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.jsonl"),
        concat!(
            "{\"prompt\": \"a cup\", \"provider\": \"gptimage15\", \"quality\": \"low\"}\n",
            "{\"prompt\": \"a mug\", \"size\": \"1536x1024\"}\n",
            "{\"prompt\": \"a bowl\"}\n",
        ),
    )
    .unwrap();
    // openai's key is refused: lines without a provider fall back to runbase.
    let out = sim
        .cmd(dir.path())
        .env("OPENAI_API_KEY", "refused-key")
        .args([
            "batch",
            "p.jsonl",
            "--provider",
            "openai,runbase",
            "--out",
            "o",
        ])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(pngs(&dir.path().join("o")).len(), 3);
    let ledger = sim.sim().ledger();
    assert_eq!(ledger.totals("gptimage15").creates_charged, 1);
    assert_eq!(ledger.totals("runbase").creates_charged, 2);
    assert_eq!(ledger.totals("openai").creates_charged, 0);
}

#[test]
fn max_credits_stops_submitting() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.txt"), "one\ntwo\nthree\n").unwrap();
    let out = sim
        .cmd(dir.path())
        .args([
            "batch",
            "p.txt",
            "--provider",
            "gptimage15",
            "--max-credits",
            "20",
            "--concurrency",
            "1",
        ])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not sent 1"), "{stderr}");
    assert_eq!(sim.sim().ledger().totals("gptimage15").creates_charged, 2);
}

#[test]
fn out_of_credits_fails_the_rest_with_exit_5() {
    let sim = TestSim::start(imagegen_sim::SimConfig::fast().credits(2));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.txt"), "one\ntwo\nthree\n").unwrap();
    let out = sim
        .cmd(dir.path())
        .args(["batch", "p.txt", "--concurrency", "1"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("insufficient_credits 1"), "{stderr}");
    assert_eq!(pngs(&dir.path().join("images")).len(), 2);
}

#[test]
fn ambiguous_creates_are_listed_and_resent_only_on_request() {
    let sim = TestSim::start(
        imagegen_sim::SimConfig::fast().faults(imagegen_sim::FaultConfig {
            drop_before_accept: 1.0,
            ..Default::default()
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.txt"), "one lamp\ntwo lamps\n").unwrap();
    let out = sim
        .cmd(dir.path())
        .args(["batch", "p.txt", "--out", "out"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(
        stderr.contains("imagegen resume out --retry-ambiguous"),
        "{stderr}"
    );

    let out = sim.cmd(dir.path()).args(["jobs", "out"]).output().unwrap();
    let (stdout, _) = text(&out);
    assert!(stdout.contains("ambiguous   2"), "{stdout}");

    // The provider is healthy again; a plain resume still does not resend.
    sim.sim().set_faults(imagegen_sim::FaultConfig::default());
    let out = sim
        .cmd(dir.path())
        .args(["resume", "out"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(
        stderr.contains("not sent again without --retry-ambiguous"),
        "{stderr}"
    );
    assert_eq!(sim.sim().ledger().totals("runbase").creates_accepted, 0);

    let out = sim
        .cmd(dir.path())
        .args(["resume", "out", "--retry-ambiguous"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(pngs(&dir.path().join("out")).len(), 2);
    let ledger = sim.sim().ledger().totals("runbase");
    assert_eq!((ledger.creates_charged, ledger.duplicate_creates), (2, 0));
}
