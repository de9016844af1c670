//! Every bad input: one `error:` line (plus `hint:`), a documented exit code,
//! and nothing sent.

use crate::support::{TestSim, fails, imagegen};

#[test]
fn unknown_provider_is_a_usage_error_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) =
        fails(imagegen(dir.path()).args(["generate", "a lamp", "--provider", "gptimage"]));
    assert_eq!(code, 2);
    insta::assert_snapshot!("error_unknown_provider", err);
}

#[test]
fn missing_key_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = fails(imagegen(dir.path()).args(["generate", "a lamp"]));
    assert_eq!(code, 4);
    insta::assert_snapshot!("error_missing_key", err);
}

#[test]
fn unsupported_quality_lists_what_the_provider_offers_and_sends_nothing() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = fails(
        sim.cmd(dir.path())
            .args(["generate", "a lamp", "--quality", "low"]),
    );
    assert_eq!(code, 3);
    insta::assert_snapshot!("error_runbase_quality_low", err);
    assert_eq!(sim.sim().ledger().totals("runbase").creates_accepted, 0);
    assert_eq!(sim.sim().ledger().totals("runbase").errors_sent, 0);
}

#[test]
fn bad_aspect_size_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    // A value no provider could take is a usage error, like `-n abc`.
    let (code, err) =
        fails(imagegen(dir.path()).args(["generate", "a lamp", "--aspect", "4:3", "--sim"]));
    assert_eq!(code, 2);
    insta::assert_snapshot!("error_bad_aspect", err);
    // A well-formed size the provider does not offer is its refusal.
    let (code, err) =
        fails(imagegen(dir.path()).args(["generate", "a lamp", "--size", "512x512", "--sim"]));
    assert_eq!(code, 3);
    insta::assert_snapshot!("error_bad_size", err);
    let (code, err) = fails(imagegen(dir.path()).args(["generate", "a lamp", "--timeout", "soon"]));
    assert_eq!(code, 2);
    assert!(err.contains("invalid duration `soon`"), "{err}");
}

#[test]
fn prompt_over_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let long = "a".repeat(4001);
    let (code, err) = fails(imagegen(dir.path()).args(["generate", &long, "--sim"]));
    assert_eq!(code, 3);
    insta::assert_snapshot!("error_prompt_too_long", err);
}

#[test]
fn unreachable_host() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = fails(imagegen(dir.path()).env("RUNBASE_API_KEY", "k").args([
        "generate",
        "a lamp",
        "--base-url",
        "http://127.0.0.1:9/api/v1",
    ]));
    assert_eq!(code, 6, "{err}");
    // Retries are reported as they happen; the error comes last.
    assert!(err.contains("retrying in"), "{err}");
    let error = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(error.contains("could not connect"), "{err}");
    assert!(err.contains("\nhint: "), "{err}");
}

#[test]
fn refused_key() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = fails(
        sim.cmd(dir.path())
            .env("RUNBASE_API_KEY", "wrong-key")
            .args(["generate", "a lamp"]),
    );
    assert_eq!(code, 4, "{err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn resume_and_jobs_need_a_journal() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = fails(imagegen(dir.path()).args(["jobs", "nowhere"]));
    assert_eq!(code, 2);
    insta::assert_snapshot!("error_no_journal", err);
    let (code, _) = fails(imagegen(dir.path()).args(["resume", "nowhere", "--sim"]));
    assert_eq!(code, 2);
}
