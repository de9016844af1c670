//! The command line: options, and the binary run end to end.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use clap::{CommandFactory, Parser};
use imagegen_sim::{LatencyProfile, SimArgs};

use super::common::*;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    sim: SimArgs,
}

#[test]
fn options_make_a_config() {
    let cli = Cli::try_parse_from([
        "imagegen-sim",
        "--port",
        "9999",
        "--api-key",
        "a",
        "--api-key",
        "b",
        "--profile",
        "realistic",
        "--seed",
        "42",
        "--faults",
        r#"{"create_500": 0.25}"#,
        "--credits",
        "7",
    ])
    .unwrap();
    let c = cli.sim.to_config().unwrap();
    assert_eq!(c.port, 9999);
    assert_eq!(c.api_keys, ["sim-key", "a", "b"]);
    assert_eq!(c.latency, LatencyProfile::Realistic);
    assert_eq!((c.seed, c.credits, c.faults.create_500), (42, 7, 0.25));
    let defaults = Cli::try_parse_from(["imagegen-sim"])
        .unwrap()
        .sim
        .to_config()
        .unwrap();
    assert_eq!(
        (defaults.port, defaults.latency),
        (8787, LatencyProfile::Fast)
    );
    let bad = Cli::try_parse_from(["imagegen-sim", "--faults", "{"])
        .unwrap()
        .sim
        .to_config();
    assert!(bad.is_err());
}

#[test]
fn the_newer_sellers_limits_have_options() {
    use std::time::Duration;
    let parse = |args: &[&str]| {
        let mut all = vec!["imagegen-sim"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap().sim.to_config()
    };
    let realistic = parse(&["--profile", "realistic"]).unwrap();
    assert_eq!(
        realistic.replicate_rate_limit.window,
        Duration::from_secs(60)
    );
    assert_eq!(realistic.wavespeed_sync_timeout, Duration::from_secs(60));
    let fast = parse(&[]).unwrap();
    assert_eq!(fast.azure_rate_limit.window, Duration::from_secs(1));
    let c = parse(&[
        "--fal-concurrency",
        "5",
        "--fal-webhook-seed",
        &"07".repeat(32),
        "--replicate-rate-limit",
        "7",
        "--replicate-rate-window-ms",
        "2000",
        "--replicate-max-wait-ms",
        "300",
        "--replicate-webhook-secret",
        "whsec_c2VjcmV0",
        "--azure-rate-limit",
        "4",
        "--azure-deployment",
        "images",
        "--wavespeed-rate-limit",
        "0",
        "--wavespeed-concurrency",
        "3",
        "--wavespeed-sync-timeout-ms",
        "250",
        "--wavespeed-webhook-secret",
        "whsec_abc",
    ])
    .unwrap();
    assert_eq!(c.fal_concurrency, 5);
    assert_eq!(c.fal_webhook_seed, [7; 32]);
    assert_eq!(
        (
            c.replicate_rate_limit.requests,
            c.replicate_rate_limit.window
        ),
        (7, Duration::from_secs(2))
    );
    assert_eq!(c.replicate_max_wait, Duration::from_millis(300));
    assert_eq!(c.replicate_webhook_secret, "whsec_c2VjcmV0");
    assert_eq!(
        (c.azure_rate_limit.requests, c.azure_rate_limit.window),
        (4, Duration::from_secs(1))
    );
    assert_eq!(c.azure_deployments, ["gpt-image-1.5", "images"]);
    assert_eq!(c.wavespeed_rate_limit.requests, 0);
    assert_eq!(c.wavespeed_concurrency, 3);
    assert_eq!(c.wavespeed_sync_timeout, Duration::from_millis(250));
    assert_eq!(c.wavespeed_webhook_secret, "whsec_abc");
    assert!(parse(&["--fal-webhook-seed", "abc"]).is_err());
}

#[test]
fn malformed_status_json_is_set_at_start_and_documented() {
    let parse = |faults: &str| {
        Cli::try_parse_from(["imagegen-sim", "--faults", faults])
            .unwrap()
            .sim
            .to_config()
    };
    let c = parse(r#"{"malformed_status_json": 0.25}"#).unwrap();
    assert_eq!(
        (c.faults.malformed_status_json, c.faults.malformed_json),
        (0.25, 0.0)
    );
    let err = parse(r#"{"malformed_status_json": 2}"#).unwrap_err();
    assert!(err.contains("malformed_status_json"), "{err}");
    let help = Cli::command().render_long_help().to_string();
    assert!(help.contains("malformed_status_json"), "{help}");
}

#[tokio::test]
async fn the_binary_serves_until_killed() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imagegen-sim"))
        .args([
            "--port",
            "0",
            "--profile",
            "instant",
            "--api-key",
            "cli-key",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn imagegen-sim");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    for _ in 0..10 {
        banner.push(lines.next().unwrap().unwrap());
    }
    let runbase = banner[1].split_whitespace().last().unwrap().to_string();
    assert!(
        runbase.starts_with("http://127.0.0.1:") && runbase.ends_with("/runbase/api/v1"),
        "{banner:?}"
    );
    assert!(banner.iter().any(|l| l.contains("cli-key")), "{banner:?}");
    let a = post(
        &format!("{runbase}/runs"),
        Some("cli-key"),
        RUNBASE_SEED_BODY,
    )
    .await;
    assert_eq!(a.status, reqwest::StatusCode::OK, "{}", a.body);
    child.kill().unwrap();
    child.wait().unwrap();
}
