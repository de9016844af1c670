//! Parses one documented response a fixed number of times, for counting
//! instructions with callgrind: a load-independent companion to the
//! `serialization` bench, whose wall times move with whatever else the
//! machine is doing.
//!
//! ```sh
//! cargo build -p imagegen-benches --release --bin parse-profile
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/release/parse-profile gptimage15/status/done typed 10000
//! ```
//!
//! Instructions per parse = (total at N iterations − total at 0) / N, which
//! `parse-profile --table N` prints for every case and function by running
//! itself under valgrind.
//!
//! Functions: `typed` (into the generated wire type), `provider` (the provider
//! crate's own parse to `TaskStatus`, where it has one), `value`
//! (`serde_json::Value`), `floor` (the minimal hand-written struct).

use std::hint::black_box;
use std::process::Command;

use imagegen::gptimage15::generated as g15;
use imagegen::openai::generated as oa;
use imagegen::runbase::generated as rb;
use imagegen_benches::fixtures::{self, Fixture};
use imagegen_benches::floors;
use serde::de::DeserializeOwned;

const FUNCTIONS: [&str; 4] = ["provider", "typed", "value", "floor"];

/// One response case: its fixture and a parser per function.
struct Case {
    group: &'static str,
    fixture: Fixture,
    typed: fn(&[u8]),
    floor: fn(&[u8]),
    provider: Option<fn(&[u8])>,
}

impl Case {
    fn name(&self) -> String {
        format!("{}/{}", self.group, self.fixture.name)
    }

    fn parser(&self, function: &str) -> Option<fn(&[u8])> {
        match function {
            "typed" => Some(self.typed),
            "floor" => Some(self.floor),
            "value" => Some(parse::<serde_json::Value>),
            "provider" => self.provider,
            _ => None,
        }
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) {
    let value: T = serde_json::from_slice(bytes).expect("the fixture parses");
    black_box(value);
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for fixture in fixtures::runbase_runs() {
        cases.push(Case {
            group: "runbase/run",
            fixture,
            typed: parse::<rb::RunbaseRun>,
            floor: parse::<floors::Run>,
            provider: Some(|b| {
                let codec = imagegen::runbase::RunbaseCodec;
                black_box(imagegen_benches::codec::read_status(&codec, b));
            }),
        });
    }
    cases.push(Case {
        group: "runbase/error_body",
        fixture: fixtures::runbase_error(),
        typed: parse::<rb::RunbaseErrorBody>,
        floor: parse::<floors::RunbaseError>,
        provider: None,
    });
    cases.push(Case {
        group: "gptimage15/generate_response",
        fixture: fixtures::gptimage15_generate_response(),
        typed: parse::<g15::Gptimage15GenerateEnvelope>,
        floor: parse::<floors::G15Envelope<floors::G15Accepted>>,
        provider: None,
    });
    for fixture in fixtures::gptimage15_statuses() {
        cases.push(Case {
            group: "gptimage15/status",
            fixture,
            typed: parse::<g15::Gptimage15StatusEnvelope>,
            floor: parse::<floors::G15Envelope<floors::G15Task>>,
            provider: Some(|b| {
                let codec = imagegen::gptimage15::Gptimage15Codec;
                black_box(imagegen_benches::codec::read_status(&codec, b));
            }),
        });
    }
    for fixture in fixtures::openai_images() {
        cases.push(Case {
            group: "openai/images",
            fixture,
            typed: parse::<oa::OpenAiImagesResponse>,
            floor: parse::<floors::Images>,
            provider: Some(|b| {
                let codec =
                    imagegen::openai::OpenAiCodec::with_model(imagegen::openai::DEFAULT_MODEL);
                black_box(imagegen_benches::codec::read_create(&codec, b));
            }),
        });
    }
    cases.push(Case {
        group: "openai/error_body",
        fixture: fixtures::openai_error(),
        typed: parse::<oa::OpenAiErrorBody>,
        floor: parse::<floors::OpenAiErrorBody>,
        provider: None,
    });
    cases
}

/// Total instructions of this program run under callgrind with `args`.
fn callgrind_total(args: &[String]) -> u64 {
    let exe = std::env::current_exe().expect("own path");
    let out = std::env::temp_dir().join(format!("parse-profile-{}.cg", std::process::id()));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .args(args)
        .output()
        .expect("valgrind runs (is it installed?)");
    assert!(status.status.success(), "{status:?}");
    let text = std::fs::read_to_string(&out).expect("callgrind output");
    let _ = std::fs::remove_file(&out);
    text.lines()
        .find_map(|l| l.strip_prefix("totals: "))
        .and_then(|t| t.trim().parse().ok())
        .expect("a totals line")
}

fn table(iters: u64) {
    println!("| case | function | instructions / parse | vs floor |");
    println!("|---|---|---:|---:|");
    for case in cases() {
        // The 1.5 MB answer costs a thousand small ones: fewer rounds.
        let iters = if case.fixture.bytes.len() > 100_000 {
            (iters / 200).max(2)
        } else {
            iters
        };
        let per_parse = |function: &str| -> f64 {
            let run = |n: u64| callgrind_total(&[case.name(), function.to_string(), n.to_string()]);
            (run(iters) - run(0)) as f64 / iters as f64
        };
        let floor = per_parse("floor");
        for function in FUNCTIONS {
            if case.parser(function).is_none() {
                continue;
            }
            let count = if function == "floor" {
                floor
            } else {
                per_parse(function)
            };
            println!(
                "| {} | {function} | {count:.0} | {:.2}x |",
                case.name(),
                count / floor
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: parse-profile CASE FUNCTION ITERS | parse-profile --table ITERS";
    match args.as_slice() {
        [flag, iters] if flag == "--table" => table(iters.parse().expect(usage)),
        [case_name, function, iters] => {
            let iters: u64 = iters.parse().expect(usage);
            let cases = cases();
            let case = cases
                .iter()
                .find(|c| c.name() == *case_name)
                .unwrap_or_else(|| {
                    let names: Vec<String> = cases.iter().map(Case::name).collect();
                    panic!("no case {case_name}; cases: {}", names.join(", "))
                });
            let parser = case.parser(function).unwrap_or_else(|| {
                panic!("{case_name} has no function {function}; try one of {FUNCTIONS:?}")
            });
            for _ in 0..iters {
                parser(black_box(&case.fixture.bytes));
            }
        }
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
}
