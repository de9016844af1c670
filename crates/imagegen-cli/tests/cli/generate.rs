//! `generate`, `status` and `wait` against the simulator.

use crate::support::{TestSim, imagegen, png_size, pngs, text};

#[test]
fn readme_first_command_writes_a_png_with_sim_and_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = imagegen(dir.path())
        .args([
            "generate",
            "A cinematic product photo of a ceramic lamp",
            "--sim",
            "--aspect",
            "3:2",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let files = pngs(&dir.path().join("images"));
    assert_eq!(files.len(), 1, "{stderr}");
    assert_eq!(png_size(&files[0]), (1536, 1024));
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("a-cinematic-product-photo-of-a-ceramic-lamp"),
        "{name}"
    );
    // stdout: the path, one line.
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.trim_end().ends_with(".png"), "{stdout}");
}

#[test]
fn json_prints_one_record_per_image_and_nothing_else() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cmd(dir.path())
        .args([
            "generate",
            "two red chairs",
            "-n",
            "2",
            "--json",
            "--out",
            "out",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let records: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
        .collect();
    assert_eq!(records.len(), 2, "{stdout}");
    for r in &records {
        assert_eq!(r["provider"], "runbase");
        assert_eq!(r["prompt"], "two red chairs");
        let path = dir.path().join(r["path"].as_str().unwrap());
        assert!(path.exists(), "{path:?}");
        assert_eq!(r["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(r["width"], 1024);
    }
    assert_eq!(pngs(&dir.path().join("out")).len(), 2);
    assert_eq!(sim.sim().ledger().totals("runbase").creates_charged, 2);
}

#[test]
fn gptimage15_and_openai_with_base_url() {
    let sim = TestSim::fast();
    for provider in ["gptimage15", "openai"] {
        let dir = tempfile::tempdir().unwrap();
        let out = sim
            .cmd(dir.path())
            .env_remove(format!("{}_BASE_URL", provider.to_uppercase()))
            .args([
                "generate",
                "a blue vase",
                "--provider",
                provider,
                "--aspect",
                "2:3",
                "--quality",
                "low",
                "--base-url",
                &sim.url(provider),
                "--json",
            ])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{provider}: {stderr}");
        let r: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(r["provider"], provider);
        let path = dir.path().join(r["path"].as_str().unwrap());
        assert_eq!(png_size(&path), (1024, 1536));
    }
}

#[test]
fn best_effort_turns_unsupported_settings_into_warnings() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cmd(dir.path())
        .args(["generate", "a lamp", "--quality", "low", "--best-effort"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: runbase does not offer quality low"),
        "{stderr}"
    );
}

#[test]
fn no_download_then_status_then_wait() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cmd(dir.path())
        .args(["generate", "a green kettle", "--no-download", "--json"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let r: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(r["path"].is_null());
    assert!(r["url"].as_str().unwrap().starts_with("http://127.0.0.1"));
    assert!(pngs(&dir.path().join("images")).is_empty());
    let task = r["task_id"].as_str().unwrap().to_owned();

    let out = sim
        .cmd(dir.path())
        .args(["status", "--provider", "runbase", &task])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with(&format!("runbase task {task}: succeeded")),
        "{stdout}"
    );

    let out = sim
        .cmd(dir.path())
        .args(["status", "--provider", "runbase", &task, "--json"])
        .output()
        .unwrap();
    let s: serde_json::Value = serde_json::from_str(text(&out).0.trim()).unwrap();
    assert_eq!(s["state"]["state"], "succeeded");

    let out = sim
        .cmd(dir.path())
        .args(["wait", "--provider", "runbase", &task])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(pngs(&dir.path().join("images")).len(), 1);
    assert_eq!(sim.sim().ledger().totals("runbase").creates_charged, 1);
}

#[test]
fn timeout_prints_the_task_id_and_exits_7() {
    let sim = TestSim::start(imagegen_sim::SimConfig::fast().latency(
        imagegen_sim::LatencyProfile::Fixed {
            queue_ms: 0,
            generate_ms: 60_000,
        },
    ));
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cmd(dir.path())
        .args(["generate", "a slow lamp", "--timeout", "1s"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.contains("imagegen wait --provider runbase "),
        "{stderr}"
    );
}

#[test]
fn unknown_task_is_not_found() {
    let sim = TestSim::fast();
    let dir = tempfile::tempdir().unwrap();
    let out = sim
        .cmd(dir.path())
        .args(["status", "--provider", "runbase", "no-such-run"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
}

#[test]
fn standalone_sim_serves_other_commands() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("imagegen"))
        .args(["sim", "--port", "0", "--profile", "fast"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    let base = banner.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{banner}");
    let out = imagegen(dir.path())
        .env("RUNBASE_API_KEY", "sim-key")
        .env("RUNBASE_BASE_URL", format!("{base}/runbase/api/v1"))
        .env("IMAGEGEN_POLL_INTERVAL", "20ms")
        .args(["generate", "a lamp from another process", "--json"])
        .output()
        .unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.lines().count(), 1);
}

/// The newer sellers through `--sim`: the right PNG for 3:2 (Azure's
/// endpoint, deployment and API version fit the simulator's URL layout),
/// and a refusal inside the seller's answer as exit 1 with its reason.
#[test]
fn azure_and_wavespeed_with_sim() {
    for provider in ["azure", "wavespeed"] {
        let dir = tempfile::tempdir().unwrap();
        let out = imagegen(dir.path())
            .args(["generate", "a lamp", "--sim", "--provider", provider])
            .args(["--aspect", "3:2", "--json"])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{provider}: {stderr}");
        let r: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(r["provider"], provider);
        let path = dir.path().join(r["path"].as_str().unwrap());
        assert_eq!(png_size(&path), (1536, 1024), "{provider}");
    }
    for (provider, said) in [
        ("azure", "(content filter: sexual)"),
        (
            "wavespeed",
            "Content policy violation: the request was flagged",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = imagegen(dir.path())
            .args(["generate", "a lamp sim:content-policy", "--sim"])
            .args(["--provider", provider])
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{provider}: {stderr}");
        assert!(stderr.contains(said), "{provider}: {stderr}");
        assert!(pngs(&dir.path().join("images")).is_empty());
    }
}
