//! What a person sees when stderr is not a terminal: one plain line per
//! event, in a form worth snapshotting.

use crate::support::{TestSim, text};

#[test]
fn plain_log_lines_of_a_batch() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.jsonl"),
        concat!(
            "a red lamp\n",
            "a blue lamp sim:content-policy\n",
            "{\"prompt\": \"a green lamp\", \"aspect\": \"4:3\"}\n",
            "{\"prompt\": \"two lamps\", \"n\": 2}\n",
        ),
    )
    .unwrap();
    let out = sim
        .cmd(dir.path())
        .args(["batch", "p.jsonl", "--out", "out", "-j", "1"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    insta::with_settings!({filters => vec![
        (r"run_[0-9a-f]+", "[task]"),
        (r"time [0-9.]+s", "time [elapsed]"),
    ]}, {
        insta::assert_snapshot!("batch_plain_log", stderr);
    });
}

#[test]
fn waits_for_the_rate_budget_get_a_line() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    crate::support::prompts(dir.path(), "p.txt", 4);
    let out = sim
        .cmd(dir.path())
        .env("IMAGEGEN_RATE_LIMIT", "2/1s")
        .args(["batch", "p.txt", "--out", "out", "-j", "4"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("runbase: waiting for the rate budget"),
        "{stderr}"
    );
    // Not one line per request: at most one per provider and kind every few seconds.
    assert!(
        stderr.matches("waiting for the rate budget").count() <= 2,
        "{stderr}"
    );
}

#[test]
fn logs_in_a_pipe_have_no_colour() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cmd(dir.path())
        .env_remove("NO_COLOR")
        .env("IMAGEGEN_LOG", "imagegen_core=info")
        .args(["generate", "a lamp"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("INFO"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escapes in a pipe: {stderr:?}"
    );
}

#[test]
fn completions_and_version() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = crate::support::imagegen(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let script = text(&out).0;
        assert!(
            script.contains("generate") && script.contains("resume"),
            "{shell}"
        );
    }
    let out = crate::support::imagegen(dir.path())
        .arg("--version")
        .output()
        .unwrap();
    assert!(text(&out).0.starts_with("imagegen "), "{}", text(&out).0);
}
