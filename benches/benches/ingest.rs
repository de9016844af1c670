//! Ingest: a batch file of 1,000,000 prompts streamed into each job store,
//! the SQLite journal and the PostgreSQL queue, as `imagegen batch` records
//! it: the file read a line at a time, the jobs written 5,000 to a
//! transaction (`JobStore::add_jobs`, `COPY` on PostgreSQL), then
//! `finish_ingest`. Reports rows per second and the peak RSS of the
//! process that ingests, each store in a child process of its own so one
//! store's memory does not count against the other's.
//!
//! `cargo bench -p imagegen-benches --bench ingest` with
//! `IMAGEGEN_TEST_DATABASE_URL` set (`eval "$(cargo xtask db start)"`);
//! `IMAGEGEN_BENCH_INGEST_LINES` sets the number of lines (quick: 100,000).
//! Not run by `cargo test`: without `--bench` it prints a note and exits.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use imagegen::{ImageRequest, Strictness};
use imagegen_benches::pg::{BenchDatabase, admin_url_or_exit};
use imagegen_benches::procstat::peak_rss_kib;
use imagegen_jobs::{JobStore, NewJob, PgStore, SqliteStore};

/// Jobs per transaction, as `imagegen batch` writes them.
const CHUNK: usize = 5_000;

/// Set in a child: the store it ingests into (`sqlite` or a database URL).
const CHILD_VAR: &str = "IMAGEGEN_BENCH_INGEST_INTO";

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "ingest: a benchmark; run it with `cargo bench -p imagegen-benches --bench ingest`"
        );
        return;
    }
    if let Ok(into) = std::env::var(CHILD_VAR) {
        let file = std::env::var("IMAGEGEN_BENCH_INGEST_FILE").expect("the file to ingest");
        child(&into, Path::new(&file));
        return;
    }
    let admin = admin_url_or_exit("ingest");
    let default_lines = if imagegen_benches::quick() {
        100_000
    } else {
        1_000_000
    };
    let lines: usize = std::env::var("IMAGEGEN_BENCH_INGEST_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_lines);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("prompts.txt");
    let mut out = BufWriter::new(std::fs::File::create(&file).expect("the batch file"));
    for i in 0..lines {
        writeln!(
            out,
            "A cinematic product photo of ceramic lamp number {i}, soft morning light, 35 mm"
        )
        .expect("write the batch file");
    }
    out.flush().expect("write the batch file");
    drop(out);
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    println!(
        "ingest: {lines} prompts ({:.0} MB), {CHUNK} jobs a transaction\n",
        bytes as f64 / 1e6
    );
    println!("| store | rows | time | rows / s | peak RSS |");
    println!("|---|---:|---:|---:|---:|");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let database = runtime.block_on(BenchDatabase::create(&admin));
    for (label, into) in [
        ("SQLite journal", "sqlite".to_owned()),
        ("PostgreSQL queue", database.url.clone()),
    ] {
        let me = std::env::current_exe().expect("this benchmark's path");
        let output = Command::new(me)
            .arg("--bench")
            .env(CHILD_VAR, &into)
            .env("IMAGEGEN_BENCH_INGEST_FILE", &file)
            .output()
            .expect("run the ingesting child");
        let report = String::from_utf8_lossy(&output.stdout);
        let Some((rows, secs, peak)) = parse(&report) else {
            eprintln!(
                "{label}: the child failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            std::process::exit(1);
        };
        println!(
            "| {label} | {rows} | {secs:.1} s | {:.0} | {:.0} MiB |",
            rows as f64 / secs,
            peak as f64 / 1024.0
        );
    }
    runtime.block_on(database.drop_database());
}

/// `rows secs peak_kib` as the child prints it.
fn parse(report: &str) -> Option<(u64, f64, u64)> {
    let mut fields = report.split_whitespace();
    Some((
        fields.next()?.parse().ok()?,
        fields.next()?.parse().ok()?,
        fields.next()?.parse().ok()?,
    ))
}

/// Ingests `file` into `into` and prints `rows secs peak_kib`.
fn child(into: &str, file: &Path) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let folder = tempfile::tempdir().expect("a temporary folder");
    let started = Instant::now();
    let rows = runtime.block_on(async {
        let store: Box<dyn JobStore> = if into == "sqlite" {
            Box::new(SqliteStore::create(folder.path()).expect("a new journal"))
        } else {
            Box::new(PgStore::connect(into, "ingest").await.expect("the queue"))
        };
        let reader = std::io::BufReader::new(std::fs::File::open(file).expect("the batch file"));
        let mut chunk = Vec::with_capacity(CHUNK);
        for (i, line) in reader.lines().enumerate() {
            let line = line.expect("a line of the batch file");
            let mut job =
                NewJob::for_request(&ImageRequest::new(line), &["runbase"], Strictness::Strict);
            job.line = i + 1;
            chunk.push(job);
            if chunk.len() == CHUNK {
                store.add_jobs(&chunk).await.expect("add_jobs");
                chunk.clear();
            }
        }
        store.add_jobs(&chunk).await.expect("add_jobs");
        store.finish_ingest().await.expect("finish_ingest")
    });
    println!(
        "{rows} {:.3} {}",
        started.elapsed().as_secs_f64(),
        peak_rss_kib()
    );
}
