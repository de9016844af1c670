//! One set of rules for flags and batch lines, and `-` for standard input.

use std::io::Write;
use std::process::Stdio;

use crate::support::{TestSim, pngs, text};

#[test]
fn a_batch_line_can_do_nothing_a_flag_cannot() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.jsonl"),
        concat!(
            "{\"prompt\": \"both shapes\", \"size\": \"1024x1024\", \"aspect\": \"3:2\"}\n",
            "[\"an\", \"array\"]\n",
            "{\"prompt\": \"a million\", \"n\": 1000000}\n",
            "{\"prompt\": \"a fine lamp\"}\n",
        ),
    )
    .unwrap();
    let out = sim
        .cmd(dir.path())
        .args(["batch", "p.jsonl", "--out", "out"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("line 1: both an aspect"), "{stderr}");
    assert!(
        stderr.contains("line 2: a line is a prompt or a JSON object"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 3: `n` is 1000000, above the limit of 100"),
        "{stderr}"
    );
    assert!(stderr.contains("--max-count 1000000"), "{stderr}");
    assert!(stderr.contains("batch: 4 jobs"), "{stderr}");
    assert_eq!(pngs(&dir.path().join("out")).len(), 1);

    // The same rules on the command line.
    let out = sim
        .cmd(dir.path())
        .args(["generate", "x", "--size", "1024x1024", "--aspect", "3:2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = sim
        .cmd(dir.path())
        .args(["generate", "x", "-n", "101"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("--max-count 101"), "{}", text(&out).1);
    assert_eq!(sim.sim().ledger().totals("runbase").creates_accepted, 1);
}

#[test]
fn a_dash_reads_standard_input() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    let mut generate = sim.std_cmd(dir.path());
    generate
        .args(["generate", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = generate.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"A lamp from a pipe\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["prompt"], "A lamp from a pipe");

    let mut batch = sim.std_cmd(dir.path());
    batch
        .args(["batch", "-", "--out", "piped"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = batch.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one lamp\ntwo lamps\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("from standard input"), "{stderr}");
    assert_eq!(pngs(&dir.path().join("piped")).len(), 2);
}
