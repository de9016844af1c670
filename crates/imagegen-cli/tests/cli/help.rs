//! `--help` and `providers` output, as snapshots.

use crate::support::{imagegen, text};

fn help(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = imagegen(dir.path()).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    text(&out).0
}

#[test]
fn top_level_help_lists_commands_env_and_exit_codes() {
    let h = help(&["--help"]);
    assert!(h.contains("Exit codes:"));
    insta::assert_snapshot!("help_top", h);
}

#[test]
fn subcommand_help() {
    for cmd in [
        "generate",
        "batch",
        "resume",
        "jobs",
        "status",
        "wait",
        "providers",
    ] {
        insta::assert_snapshot!(format!("help_{cmd}"), help(&[cmd, "--help"]));
    }
}

#[test]
fn providers_table_and_json() {
    let table = help(&["providers"]);
    insta::assert_snapshot!("providers_table", table);
    let json: serde_json::Value = serde_json::from_str(&help(&["providers", "--json"])).unwrap();
    let names: Vec<_> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["runbase", "gptimage15", "openai", "fal", "replicate"]
    );
    assert!(json[0]["capabilities"]["qualities"].is_array());
}
