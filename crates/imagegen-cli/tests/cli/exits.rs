//! The exit-code table of `imagegen --help` and the README, one case each,
//! and the usage errors that must never reach a provider.

use imagegen_sim::{FaultConfig, SimConfig};

use crate::support::{TestSim, imagegen, text};

/// Runs `args` with the simulator's environment; returns (code, stderr).
fn run(sim: &TestSim, args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = sim.cmd(dir.path()).args(args).output().unwrap();
    (out.status.code().unwrap(), text(&out).1)
}

#[test]
fn each_documented_exit_code() {
    let sim = TestSim::fast();
    // 0: success.
    assert_eq!(run(&sim, &["generate", "a lamp"]).0, 0);
    // 1: the generation failed.
    let (code, err) = run(&sim, &["generate", "a lamp sim:content-policy"]);
    assert_eq!(code, 1, "{err}");
    // 2: usage, and 3: refused, before anything is sent.
    let before = sim.sim().ledger().totals("runbase");
    for args in [
        &["generate", "a lamp", "-n", "abc"][..],
        &["generate", "a lamp", "--aspect", "16:9"],
        &["generate", "a lamp", "-n", "4000000000"],
        &["generate", "a lamp", "--timeout", "0s"],
        &["batch", "p.txt", "--max-credits", "NaN"],
        &["batch", "p.txt", "--max-credits=-5"],
        &["jobs", "nonexistent"],
        &["resume", "nonexistent"],
    ] {
        let (code, err) = run(&sim, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("error"), "{args:?}: {err}");
    }
    assert_eq!(run(&sim, &["generate", "a lamp", "--quality", "low"]).0, 3);
    assert_eq!(
        sim.sim().ledger().totals("runbase"),
        before,
        "no usage error or refused request reached the provider"
    );
    // 4: the key.
    let dir = tempfile::tempdir().unwrap();
    let out = imagegen(dir.path())
        .args(["generate", "a lamp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    // 5: out of credits.
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cmd(dir.path())
        .env("RUNBASE_API_KEY", imagegen_sim::magic::NO_CREDITS)
        .args(["generate", "a lamp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", text(&out).1);
    // 6: unreachable.
    let dead = format!("http://127.0.0.1:{}/api/v1", crate::support::free_port());
    assert_eq!(run(&sim, &["generate", "a lamp", "--base-url", &dead]).0, 6);
}

#[test]
fn a_timeout_bounds_the_whole_command_and_names_every_task() {
    let sim = TestSim::start(SimConfig::realistic());
    let (code, err) = run(&sim, &["generate", "a lamp", "-n", "3", "--timeout", "1s"]);
    assert_eq!(code, 7, "{err}");
    let hint = err
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap_or_default();
    assert!(hint.contains("imagegen wait --provider runbase"), "{err}");
    // Runbase makes one image a run: three tasks, all named.
    assert_eq!(hint.matches("run_").count(), 3, "{err}");
}

#[test]
fn an_ambiguous_create_is_8_everywhere() {
    let sim = TestSim::start(SimConfig::fast().faults(FaultConfig {
        create_500: 1.0,
        ..FaultConfig::default()
    }));
    let (code, err) = run(&sim, &["generate", "a lamp"]);
    assert_eq!(code, 8, "{err}");
    assert!(err.contains("may have reached the provider"), "{err}");
}

#[test]
fn a_taken_port_for_the_simulator_is_not_an_unreachable_host() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = imagegen(dir.path())
        .args(["sim", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
}

#[test]
fn an_output_folder_that_cannot_take_files_is_refused_before_paying() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("afile"), "not a folder").unwrap();
    let out = sim
        .cmd(dir.path())
        .args(["generate", "a lamp", "-o", "afile"])
        .output()
        .unwrap();
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot save images in afile"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    assert_eq!(sim.sim().ledger().totals("runbase").creates_accepted, 0);
}
