//! Prints the criterion results of the last `cargo bench -p imagegen-benches`
//! as markdown tables with ratios to each group's floor.
//!
//! ```text
//! cargo run -p imagegen-benches --bin bench-report [TARGET_DIR/criterion]
//! ```
//!
//! Every group that has a function named `floor` gets a ratio column per
//! other function (time / floor time). Times are criterion's mean estimate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn find(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "new") {
                if path.join("benchmark.json").is_file() {
                    out.push(path);
                }
            } else {
                find(&path, out);
            }
        }
    }
}

fn read(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn fmt_time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("criterion");
    }
    // benches/ sits one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .join("target/criterion")
}

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(default_dir);
    let mut found = Vec::new();
    find(&dir, &mut found);
    if found.is_empty() {
        eprintln!(
            "no criterion results under {}; run `cargo bench -p imagegen-benches` first",
            dir.display()
        );
        std::process::exit(1);
    }
    // group -> function -> mean ns
    let mut groups: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for path in found {
        let (Some(bench), Some(est)) = (
            read(&path.join("benchmark.json")),
            read(&path.join("estimates.json")),
        ) else {
            continue;
        };
        let group = bench["group_id"].as_str().unwrap_or("?").to_owned();
        let function = bench["function_id"].as_str().unwrap_or("").to_owned();
        let Some(mean) = est["mean"]["point_estimate"].as_f64() else {
            continue;
        };
        groups.entry(group).or_default().push((function, mean));
    }
    let order = [
        "typed",
        "typed_serialize",
        "client",
        "provider",
        "transport",
        "value",
        "floor",
    ];
    let rank = |f: &str| order.iter().position(|o| *o == f).unwrap_or(order.len());
    let mut section = String::new();
    for (group, mut functions) in groups {
        functions.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then(a.0.cmp(&b.0)));
        let prefix = group.split('/').take(2).collect::<Vec<_>>().join("/");
        if prefix != section {
            println!("\n### {prefix}\n");
            println!("| case | function | mean | vs floor |");
            println!("|---|---|---:|---:|");
            section = prefix;
        }
        let floor = functions.iter().find(|(f, _)| f == "floor").map(|x| x.1);
        for (function, mean) in &functions {
            let ratio = match floor {
                Some(floor) if function != "floor" => format!("{:.2}x", mean / floor),
                _ => String::new(),
            };
            println!("| {group} | {function} | {} | {ratio} |", fmt_time(*mean));
        }
    }
}
